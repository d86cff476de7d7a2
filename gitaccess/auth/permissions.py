"""MediaWiki's permission checks for pushed changes, as the wiki would apply them.

Rights come from groups with MediaWiki 1.39's default $wgGroupPermissions
(the configuration can add more); page protection from page_restrictions.
Extensions' checks (AbuseFilter, SpamBlacklist, TitleBlacklist, ConfirmEdit)
are not run: the README says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from gitaccess.titles.namespaces import MEDIAWIKI, USER
from gitaccess.titles.codec import Title
from gitaccess.wiki.database import WikiDatabase
from gitaccess.wiki.protection import page_restrictions
from gitaccess.wiki.types import wiki_timestamp

if TYPE_CHECKING:
    from sqlalchemy import Connection

#: MediaWiki 1.39's DefaultSettings.php $wgGroupPermissions, for the rights a push needs.
GROUP_RIGHTS: dict[str, frozenset[str]] = {
    "*": frozenset({"createaccount", "read", "edit", "createpage", "createtalk", "editmyusercss",
                    "editmyuserjs", "editmyuserjson"}),
    "user": frozenset({"move", "move-subpages", "move-rootuserpages", "move-categorypages", "movefile", "read",
                       "edit", "createpage", "createtalk", "upload", "reupload", "reupload-shared", "minoredit",
                       "editmyusercss", "editmyuserjs", "editmyuserjson", "editcontentmodel"}),
    "autoconfirmed": frozenset({"autoconfirmed", "editsemiprotected"}),
    "bot": frozenset({"bot", "autoconfirmed", "editsemiprotected", "nominornewtalk", "autopatrol",
                      "suppressredirect", "apihighlimits"}),
    "sysop": frozenset({"block", "createaccount", "delete", "bigdelete", "deletedhistory", "deletedtext",
                        "undelete", "editinterface", "editsitejson", "edituserjson", "import", "importupload",
                        "move", "move-subpages", "move-rootuserpages", "move-categorypages", "patrol",
                        "autopatrol", "protect", "editprotected", "rollback", "upload", "reupload",
                        "reupload-shared", "unwatchedpages", "autoconfirmed", "editsemiprotected",
                        "ipblock-exempt", "blockemail", "markbotedits", "apihighlimits", "browsearchive",
                        "noratelimit", "movefile", "unblockself", "suppressredirect", "mergehistory",
                        "managechangetags", "deletechangetags", "editcontentmodel"}),
    "interface-admin": frozenset({"editinterface", "editsitecss", "editsitejson", "editsitejs",
                                  "editusercss", "edituserjson", "edituserjs"}),
    "bureaucrat": frozenset({"noratelimit"}),
}

#: Which rights a protection level demands ($wgRestrictionLevels; '' means unprotected).
LEVEL_RIGHTS = {"autoconfirmed": "editsemiprotected", "sysop": "editprotected"}

#: Grants of a BotPassword, by the rights they carry (MediaWiki's $wgGrantPermissions, abridged).
GRANT_RIGHTS = {
    "basic": {"read", "autoconfirmed", "editsemiprotected"},
    "editpage": {"edit", "minoredit", "editmyusercss", "editmyuserjs", "editmyuserjson", "editcontentmodel"},
    "editprotected": {"edit", "editprotected"},
    "createeditmovepage": {"edit", "createpage", "createtalk", "move", "move-subpages", "move-categorypages",
                           "move-rootuserpages", "suppressredirect"},
    "uploadfile": {"upload", "reupload"},
    "uploadeditmovefile": {"upload", "reupload", "reupload-shared", "movefile"},
    "delete": {"delete", "bigdelete", "browsearchive", "deletedhistory", "deletedtext", "undelete"},
    "editinterface": {"editinterface", "edituserjson", "editsitejson"},
    "editsiteconfig": {"editinterface", "editsitecss", "editsitejs", "editsitejson", "editusercss",
                       "edituserjs", "edituserjson"},
    "protect": {"protect", "editprotected"},
}

_CODE_MODELS = {"css": "css", "javascript": "js", "json": "json"}


class Rights:
    """What one account may do: its groups' rights, narrowed by a BotPassword's grants."""

    def __init__(self, groups: Iterable[str], grants: Iterable[str] | None = None,
                 extra: dict[str, frozenset[str]] | None = None) -> None:
        table = {**GROUP_RIGHTS, **(extra or {})}
        rights: set[str] = set()
        for group in {"*", "user", *groups}:
            rights |= table.get(group, frozenset())
        if grants is not None:
            allowed = set().union(*(GRANT_RIGHTS.get(g, set()) for g in grants)) | {"read"}
            rights &= allowed
        self.rights = frozenset(rights)

    def __contains__(self, right: str) -> bool:
        return right in self.rights

    def edit_problem(self, title: Title, model: str, user_name: str, *, creating: bool) -> str | None:
        """Why the account may not edit (or create) this page, or None (PermissionManager's checks)."""
        needed = ["edit"] + (["createpage"] if creating else [])
        if title.namespace == MEDIAWIKI:
            needed.append("editinterface")
            code = _CODE_MODELS.get(model)
            if code:
                needed.append(f"editsite{code}")
        elif title.namespace == USER and "/" in title.dbkey:
            code = _CODE_MODELS.get(model)
            if code:
                own = title.dbkey.split("/", 1)[0].replace("_", " ") == user_name
                needed.append(f"editmyuser{code}" if own else f"edituser{code}")
        missing = [right for right in needed if right not in self]
        return f"you lack the right {missing[0]!r}" if missing else None


def protection_levels(db: WikiDatabase, conn: Connection, page_id: int) -> dict[str, str]:
    """{action: level} of the page's unexpired protections (page_restrictions)."""
    now = wiki_timestamp()
    rows = page_restrictions(db, conn, page_id)
    return {kind: level for kind, level, expiry in rows if level and (expiry in (None, "infinity") or expiry > now)}


def protection_problem(rights: Rights, levels: dict[str, str], action: str) -> str | None:
    """Why protection stops an action ('edit' or 'move') for this account, or None."""
    level = levels.get(action, "")
    needed = LEVEL_RIGHTS.get(level, level) if level else None
    if needed and needed not in rights:
        return f"the page is protected against {action} ({level} only)"
    return None
