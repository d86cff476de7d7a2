"""Who is asking and what they may do: the wiki's accounts, its password hashes, MediaWiki's permissions."""
