"""Tests of the object cache (gitaccess.cache)."""
