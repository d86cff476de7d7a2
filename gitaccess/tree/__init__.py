"""GitTree: the pure translation between wiki titles and repository paths.

- :mod:`~gitaccess.tree.portable`: is a file name safe on Windows, macOS and Linux (and to git)?
- :mod:`~gitaccess.tree.layout`: docs/repository.md's layout rules for one title: natural path and back.
- :mod:`~gitaccess.tree.claims`: names a case-insensitive file system would confuse.
- :mod:`~gitaccess.tree.aliases`: the alias registry and Aliases.xml, both ways.
- :mod:`~gitaccess.tree.naming`: readable alias names that no title can claim.
- :mod:`~gitaccess.tree.gittree`: every page's path (the four filter passes), and push's reverse.
- :mod:`~gitaccess.objects.trees`: dulwich tree objects for a finished {path: (mode, blob id)}.

No database, Flask, SQLAlchemy or network here: all of it is tested without a server.
"""
