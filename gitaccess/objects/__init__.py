"""Git object mechanics, pure: no wiki, no SQL, no I/O: tree entries and building, deltas, pack files."""
