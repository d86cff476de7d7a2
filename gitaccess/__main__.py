"""``python -m gitaccess``: the same as the ``gitaccess`` command."""

from gitaccess.cli import main

main()
