"""Wiki activity -> commits: the state of the wiki at each commit, the builder, the journal's rows, catch-up, replay, verify, redact."""
