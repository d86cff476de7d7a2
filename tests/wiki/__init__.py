"""Tests of the database layer (gitaccess.wiki)."""
