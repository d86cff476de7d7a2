"""Tests of git object mechanics (gitaccess.objects)."""
