"""The web pages for people: the repository, its commits, a page's history, restore, login."""
