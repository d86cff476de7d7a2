"""Tests of the wire (gitaccess.protocol)."""
