"""Commits -> wiki edits: the rules a push must follow, its plan, and applying it."""
