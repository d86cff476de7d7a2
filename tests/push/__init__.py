"""Tests of commits -> wiki edits (gitaccess.push)."""
