"""The wiki database layer: MediaWiki's schema, reading and writing."""
