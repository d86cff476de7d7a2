"""Tests of gitaccess beside a real MediaWiki (shared/peers/mediawiki)."""
