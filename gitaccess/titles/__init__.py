"""MediaWiki's rules for naming pages, pure: titles, namespaces, default content models."""
