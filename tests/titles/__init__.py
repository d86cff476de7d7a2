"""Tests of MediaWiki's title rules (gitaccess.titles)."""
