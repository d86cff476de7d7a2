"""Tests of wiki activity -> commits (gitaccess.journal)."""
