"""MediaWiki XML dumps: the streaming reader (pure) and the importer."""
