"""Tests of XML dumps (gitaccess.dumps)."""
