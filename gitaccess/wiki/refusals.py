"""A database's refusal of a statement (a constraint, a permission, a lost
connection), as the command line reports it: one line, the driver's words.

The exception class is SQLAlchemy's; naming it here keeps callers outside
the database layer free of SQLAlchemy.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

#: What any database call raises when the driver reports an error; catch it where a
#: refusal ends a command rather than a request.
DatabaseRefusal = DBAPIError


def refusal_text(refusal: DBAPIError) -> str:
    """The driver's message, whitespace folded to one line."""
    return " ".join(str(refusal.orig).split())
