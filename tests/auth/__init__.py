"""Tests of accounts, passwords and permissions (gitaccess.auth)."""
