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

#: The code kinds of site and user configuration pages, in the order MediaWiki tests them
#: (Title::isSiteCssConfigPage, ...Json..., ...Js...), with their content models.
_CONFIG_KINDS = (("css", "css"), ("json", "json"), ("js", "javascript"))


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

    def edit_problem(self, title: Title, model: str, new_model: str, user_name: str, *,
                     creating: bool) -> str | None:
        """Why the account may not edit (or create) this page, or None.

        PermissionManager's checks as EditPage makes them: ``model`` is the
        page's content model (a new page's: its title's default), ``new_model``
        the one the edit gives it. A different model needs editcontentmodel, and
        the page is checked under both, so a site or user CSS/JS/JSON page stays
        guarded whatever model a push gives it.
        """
        needed: list[tuple[str, ...]] = [("edit",)]
        if creating:
            needed.append(("createpage",))
        if model != new_model:
            needed.append(("editcontentmodel",))
        if title.namespace == MEDIAWIKI:
            needed.append(("editinterface",))
        needed += config_page_rights(title, model, user_name) + config_page_rights(title, new_model, user_name)
        missing = self.missing(needed)
        return f"you lack the right {missing!r}" if missing else None

    def missing(self, needed: list[tuple[str, ...]]) -> str | None:
        """The first right the account lacks of ``needed`` (any one of each tuple will do), or None."""
        return next((rights[0] for rights in needed if not any(right in self for right in rights)), None)


def config_page_rights(title: Title, model: str, user_name: str) -> list[tuple[str, ...]]:
    """The rights (any one of each tuple) that guard a site or user CSS/JS/JSON page of this
    model (PermissionManager::checkSiteConfigPermissions, checkUserConfigPermissions).

    In the MediaWiki namespace the title's ending counts as much as the model;
    a user's subpage is judged by its model alone, and the user's own needs
    editmyuser* (or edituser*), another's edituser*.
    """
    if title.namespace == MEDIAWIKI:
        for kind, kind_model in _CONFIG_KINDS:
            if model == kind_model or title.dbkey.endswith(f".{kind}"):
                return [(f"editsite{kind}",)]
    elif title.namespace == USER and "/" in title.dbkey:
        for kind, kind_model in _CONFIG_KINDS:
            if model == kind_model:
                own = title.dbkey.split("/", 1)[0].replace("_", " ") == user_name
                return [(f"editmyuser{kind}", f"edituser{kind}") if own else (f"edituser{kind}",)]
    return []


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
