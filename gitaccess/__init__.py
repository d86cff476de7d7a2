"""gitaccess: Git smart-HTTP access to a MediaWiki wiki database."""
