"""Tests of GitTree (gitaccess.tree)."""
