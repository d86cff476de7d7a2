"""The wiki's namespace table, as MediaWiki's NamespaceInfo and Language see it.

Pure data: which namespaces exist, their canonical English names (which name
the repository's directories whatever the wiki's language), their local names
and aliases (which the title parser accepts as prefixes), and the two
per-namespace switches that change how titles are normalised and laid out:
first-letter capitalisation and subpages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

MEDIA = -2
SPECIAL = -1
MAIN = 0
TALK = 1
USER = 2
USER_TALK = 3
PROJECT = 4
PROJECT_TALK = 5
FILE = 6
FILE_TALK = 7
MEDIAWIKI = 8
MEDIAWIKI_TALK = 9
TEMPLATE = 10
TEMPLATE_TALK = 11
HELP = 12
HELP_TALK = 13
CATEGORY = 14
CATEGORY_TALK = 15
GITACCESS_ROOT = 730
GITACCESS_ROOT_TALK = 731
MODULE = 828
MODULE_TALK = 829

#: MediaWiki 1.39's $wgNamespacesWithSubpages, plus Scribunto's Module and
#: Module talk (its extension.json declares both) and GitAccess_root talk.
DEFAULT_SUBPAGES = frozenset(
    {
        TALK, USER, USER_TALK, PROJECT, PROJECT_TALK, FILE_TALK, MEDIAWIKI,
        MEDIAWIKI_TALK, TEMPLATE, TEMPLATE_TALK, HELP, HELP_TALK, CATEGORY_TALK,
        MODULE, MODULE_TALK, GITACCESS_ROOT_TALK,
    }
)

#: NamespaceInfo::$alwaysCapitalizedNamespaces: $wgCapitalLinks = false
#: does not reach these (nor their talk namespaces).
ALWAYS_CAPITALIZED = frozenset({SPECIAL, USER, MEDIAWIKI})

#: Canonical English names of the built-in namespaces.
_CANONICAL_NAMES = {
    MEDIA: "Media",
    SPECIAL: "Special",
    MAIN: "",
    TALK: "Talk",
    USER: "User",
    USER_TALK: "User talk",
    PROJECT: "Project",
    PROJECT_TALK: "Project talk",
    FILE: "File",
    FILE_TALK: "File talk",
    MEDIAWIKI: "MediaWiki",
    MEDIAWIKI_TALK: "MediaWiki talk",
    TEMPLATE: "Template",
    TEMPLATE_TALK: "Template talk",
    HELP: "Help",
    HELP_TALK: "Help talk",
    CATEGORY: "Category",
    CATEGORY_TALK: "Category talk",
    MODULE: "Module",
    MODULE_TALK: "Module talk",
    GITACCESS_ROOT: "GitAccess root",
    GITACCESS_ROOT_TALK: "GitAccess root talk",
}

#: Old names MediaWiki still accepts as prefixes.
_BUILTIN_ALIASES = {FILE: ("Image",), FILE_TALK: ("Image talk",)}

#: Root pages are file names such as README.md: their case matters.
_CASE_SENSITIVE = frozenset({GITACCESS_ROOT, GITACCESS_ROOT_TALK})


def name_key(name: str) -> str:
    """The form in which MediaWiki compares namespace names (Language::getNsIndex).

    Case-insensitive (Unicode lower-casing, as mb_strtolower), and spaces and
    underscores are the same character.
    """
    return name.replace(" ", "_").lower()


@dataclass(frozen=True)
class Namespace:
    """One namespace: names in text form (spaces, not underscores)."""

    id: int
    canonical: str
    name: str
    aliases: tuple[str, ...] = ()
    capitalize: bool = True
    subpages: bool = False

    @property
    def is_talk(self) -> bool:
        """Talk namespaces have odd ids; the virtual ones (Media, Special) have none."""
        return self.id >= 1 and self.id % 2 == 1

    @property
    def subject_id(self) -> int:
        """The id of the subject namespace (itself unless this is a talk namespace)."""
        return self.id - 1 if self.is_talk else self.id

    @property
    def talk_id(self) -> int | None:
        """The id of the talk namespace; None for Media and Special, which have none."""
        if self.id < 0:
            return None
        return self.id if self.is_talk else self.id + 1


class Namespaces:
    """The wiki's namespace table; immutable. Raises ValueError for two namespaces with one id."""

    def __init__(self, namespaces: Iterable[Namespace]) -> None:
        by_id: dict[int, Namespace] = {}
        for namespace in namespaces:
            if namespace.id in by_id:
                raise ValueError(f"namespace {namespace.id} is defined twice")
            by_id[namespace.id] = namespace
        self._by_id = dict(sorted(by_id.items()))
        self._by_name = self._name_index(self._by_id.values())

    @staticmethod
    def _name_index(namespaces: Iterable[Namespace]) -> dict[str, int]:
        """Name key -> id. Canonical names win over local names and aliases,
        because MediaWiki looks them up first (NamespaceInfo::getCanonicalIndex)."""
        local: dict[str, int] = {}
        canonical: dict[str, int] = {}
        for namespace in namespaces:
            for name in (namespace.name, *namespace.aliases):
                if name:
                    local.setdefault(name_key(name), namespace.id)
            if namespace.canonical:
                canonical[name_key(namespace.canonical)] = namespace.id
        return local | canonical

    @classmethod
    def standard(
        cls,
        *,
        meta: str = "Project",
        capital_links: bool = True,
        subpages: Iterable[int] | None = None,
        extra: Iterable[Namespace] = (),
    ) -> Namespaces:
        """MediaWiki's built-in namespaces as an English wiki names them.

        ``meta`` is $wgMetaNamespace (the local name of namespace 4), and
        "Project"/"Project talk" stay usable as aliases. ``subpages`` is
        $wgNamespacesWithSubpages (None: DEFAULT_SUBPAGES). ``extra``
        namespaces are added as given, and replace a built-in one with the
        same id.
        """
        meta = meta.replace("_", " ")
        with_subpages = DEFAULT_SUBPAGES if subpages is None else frozenset(subpages)
        local_names = _CANONICAL_NAMES | {PROJECT: meta, PROJECT_TALK: f"{meta} talk"}
        aliases = dict(_BUILTIN_ALIASES)
        if meta != "Project":
            aliases |= {PROJECT: ("Project",), PROJECT_TALK: ("Project talk",)}
        table = {
            ns_id: Namespace(
                id=ns_id,
                canonical=canonical,
                name=local_names[ns_id],
                aliases=aliases.get(ns_id, ()),
                capitalize=_standard_capitalize(ns_id, capital_links),
                subpages=ns_id in with_subpages,
            )
            for ns_id, canonical in _CANONICAL_NAMES.items()
        }
        table |= {namespace.id: namespace for namespace in extra}
        return cls(table.values())

    def __getitem__(self, id: int) -> Namespace:
        return self._by_id[id]

    def __iter__(self) -> Iterator[Namespace]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, id: object) -> bool:
        return isinstance(id, int) and id in self._by_id

    def find(self, name: str) -> int | None:
        """The id of the namespace with this canonical name, local name or alias."""
        return self._by_name.get(name_key(name))


def _standard_capitalize(ns_id: int, capital_links: bool) -> bool:
    """NamespaceInfo::isCapitalized for a built-in namespace.

    Media follows File and a talk namespace follows its subject.
    """
    if ns_id == MEDIA:
        subject = FILE
    elif ns_id >= 1 and ns_id % 2 == 1:
        subject = ns_id - 1
    else:
        subject = ns_id
    if subject in _CASE_SENSITIVE:
        return False
    return capital_links or subject in ALWAYS_CAPITALIZED
