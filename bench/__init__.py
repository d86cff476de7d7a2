"""Benchmarks of gitaccess against git's own servers (see bench/README.md)."""
