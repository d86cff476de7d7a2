"""One wiki as gitaccess sees it: configuration, database, namespaces and titles.

The namespace table comes from the configuration, and, for a standalone
wiki that imported a dump, from the site information the dump carried
(stored in ``git_site``), so that the wiki keeps the namespaces and case
rules of the wiki the dump came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from gitaccess.config import Config
from gitaccess.titles.namespaces import Namespace, Namespaces
from gitaccess.titles.codec import Title, TitleCodec
from gitaccess.tree.aliases import Alias, AliasRegistry
from gitaccess.tree.layout import Layout, included_namespaces
from gitaccess.wiki import siterows
from gitaccess.wiki.database import WikiDatabase
from gitaccess.wiki.location import database_exists

SITEINFO_KEY = "siteinfo"


@dataclass(frozen=True)
class StoredNamespace:
    """A namespace as a dump's siteinfo names it."""

    id: int
    name: str
    case: str


def apply_siteinfo(base: Namespaces, stored: list[StoredNamespace]) -> Namespaces:
    """The configured namespaces with the names and case rules a dump brought."""
    table = {ns.id: ns for ns in base}
    for entry in stored:
        capitalize = entry.case != "case-sensitive"
        if entry.id in table:
            ns = table[entry.id]
            aliases = tuple(a for a in (*ns.aliases, ns.name) if a and a != entry.name and entry.id != 0)
            table[entry.id] = Namespace(ns.id, ns.canonical, entry.name, aliases, capitalize, ns.subpages)
        else:
            table[entry.id] = Namespace(entry.id, entry.name, entry.name, (), capitalize, False)
    return Namespaces(table.values())


class Site:
    """Everything gitaccess knows about the wiki it serves."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @cached_property
    def db(self) -> WikiDatabase:
        return WikiDatabase(
            self.config.effective_database_url, self.config.table_prefix, self.config.database_schema
        )

    def database_exists(self) -> bool:
        """False for an embedded SQLite database whose file is not there yet."""
        return database_exists(self.config.effective_database_url)

    def stored_site(self) -> dict[str, Any]:
        """Site settings a dump import stored (empty when there are none)."""
        raw = siterows.site_setting(self.db, SITEINFO_KEY) if self.database_exists() else None
        return json.loads(raw) if raw else {}

    def forget_stored_site(self) -> None:
        """Read the namespaces and title rules again (after a dump import stored new ones)."""
        for cached in ("namespaces", "titles"):
            self.__dict__.pop(cached, None)

    @cached_property
    def namespaces(self) -> Namespaces:
        c = self.config
        extra = [
            Namespace(e.id, e.name.replace("_", " "), e.name.replace("_", " "), (), e.capitalize, e.subpages)
            for e in c.extra_namespaces
        ]
        base = Namespaces.standard(
            meta=c.meta_namespace, capital_links=c.capital_links, subpages=c.subpages, extra=extra
        )
        stored = self.stored_site().get("namespaces", [])
        return apply_siteinfo(base, [StoredNamespace(**n) for n in stored]) if stored else base

    @cached_property
    def layout(self) -> Layout:
        """Where pages live in the repository, as the configuration says now."""
        return self.layout_from(self.layout_settings())

    def layout_settings(self) -> dict[str, Any]:
        """Everything the current configuration decides about paths, as plain data.

        The journal records these settings for each commit, so a commit made
        under older settings rebuilds identically after the configuration changed.
        """
        c = self.config
        settings: dict[str, Any] = {
            "namespaces": [[ns.id, ns.canonical, ns.capitalize, ns.subpages] for ns in self.namespaces],
            "included": sorted(included_namespaces(self.namespaces, c.included_namespaces, c.excluded_namespaces)),
            "extensions": dict(sorted(c.extensions.items())),
        }
        # Recorded only when not the earlier rule, so that journals recorded before the
        # setting existed keep their layout (and their SHA-1s).
        if c.first_letter != "simple" or c.first_letter_overrides:
            settings["first_letter"] = [c.first_letter, dict(sorted(c.first_letter_overrides.items()))]
        return settings

    @cached_property
    def recorded_layouts(self) -> dict[int, Layout]:
        """Layouts the journal recorded, by id, as History reads them: one object per layout in
        the process, so a placement kept across requests (and threads) is known to be of it."""
        return {}

    def layout_from(self, settings: dict[str, Any]) -> Layout:
        """The layout that recorded settings describe (the current one for the current settings)."""
        current = {ns.id: ns for ns in self.namespaces}
        table = []
        for ns_id, canonical, capitalize, subpages in settings["namespaces"]:
            known = current.get(ns_id)
            name, aliases = (known.name, known.aliases) if known else (canonical, ())
            table.append(Namespace(ns_id, canonical, name, aliases, capitalize, subpages))
        prefixes, local = self.interwikis
        rule, overrides = settings.get("first_letter", ("simple", {}))
        codec = TitleCodec(Namespaces(table), interwikis=prefixes, local_interwikis=local,
                           first_letter=rule, first_letter_overrides=overrides)
        return Layout(codec, settings["included"], extensions=settings["extensions"])

    def aliases(self) -> AliasRegistry:
        """The alias registry as published so far (empty before any history was served)."""
        if not self.database_exists():
            return AliasRegistry()
        return AliasRegistry(Alias(path, Title(ns, key)) for path, ns, key in siterows.published_aliases(self.db))

    @cached_property
    def interwikis(self) -> tuple[frozenset[str], frozenset[str]]:
        """(all interwiki prefixes, local ones) from the interwiki table."""
        rows = siterows.interwiki_prefixes(self.db) if self.database_exists() else []
        return frozenset(prefix for prefix, _ in rows), frozenset(prefix for prefix, local in rows if local)

    @cached_property
    def titles(self) -> TitleCodec:
        prefixes, local = self.interwikis
        return TitleCodec(self.namespaces, interwikis=prefixes, local_interwikis=local,
                          first_letter=self.config.first_letter,
                          first_letter_overrides=self.config.first_letter_overrides)

    @property
    def site_name(self) -> str:
        return self.stored_site().get("sitename") or self.config.site_name

    def parse_title(self, text: str, default_namespace: int = 0) -> Title:
        return self.titles.parse(text, default_namespace)
