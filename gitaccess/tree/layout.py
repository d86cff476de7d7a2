"""The repository layout (docs/repository.md, "Layout"): a page's natural path, and back.

A page ``Namespace:Some/Page`` of content model M lives at
``<namespace directory>/<dbkey, '/' making directories where subpages are
on><extension of M>``. This module knows those rules for one title at a time:
the natural path of a title, the title a path reads back as, and whether the
natural path is usable (portable, and reading back to the same title). What
happens when two titles want the same name, and the aliases that settle it,
belong to :mod:`gitaccess.tree.gittree` and :mod:`gitaccess.tree.aliases`.

Pure: no database, no I/O.
"""

from __future__ import annotations

import re

import unicodedata
from typing import Collection, Iterable, Mapping, NamedTuple

from gitaccess.errors import ConfigError, GitAccessError
from gitaccess.titles.namespaces import FILE, GITACCESS_ROOT, MAIN, MEDIA, SPECIAL, Namespaces
from gitaccess.titles.codec import InvalidTitle, Title, TitleCodec
from gitaccess.tree.portable import collision_key, unportable_reason

#: Content model -> file extension (docs/configuration.md, [namespaces] extensions).
DEFAULT_EXTENSIONS = {
    "wikitext": ".wiki",
    "css": ".css",
    "sanitized-css": ".css",
    "javascript": ".js",
    "json": ".json",
    "Scribunto": ".lua",
    "text": ".txt",
}

#: Talk namespaces and the special pseudo-namespaces are out unless included.
DEFAULT_EXCLUDED = (-2, -1, 1, 3, 5, 7, 9, 11, 13, 15, 829, 731)

#: The main namespace's directory: "" cannot name a directory.
MAIN_DIRECTORY = "(Main)"
#: The alias registry's file at the root; no page may take its name.
ALIASES_FILE = "Aliases.xml"
#: Pages of GitAccess_root (files at the root, named as their titles) read back as text.
ROOT_MODEL = "text"
#: Extensions MediaWiki keeps in titles (its convention for .css/.js/.json
#: pages): not appended when the title ends with them, not removed on reading.
KEPT_EXTENSIONS = frozenset({".css", ".js", ".json"})
#: The extension of a content model the table does not know: its text is
#: served as it is, and a new page pushed with it is a text page.
FALLBACK_EXTENSION = ".txt"


class PathError(GitAccessError, ValueError):
    """A path that names no page, or not the way gitaccess names it.

    The message starts with the path and says which rule it breaks and, where
    there is one, the right name.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class PathTitle(NamedTuple):
    """What a path stands for: the page and the content model its extension says.

    ``content_model`` is None for Media files, which are not pages.
    """

    title: Title
    content_model: str | None


def included_namespaces(
    namespaces: Namespaces, included: Iterable[int] = (), excluded: Iterable[int] = DEFAULT_EXCLUDED
) -> frozenset[int]:
    """The ids in the repository: every namespace of the table but the excluded
    ones, plus the explicitly included ones (which win)."""
    chosen = {ns.id for ns in namespaces} - set(excluded) | set(included)
    return frozenset(chosen & {ns.id for ns in namespaces})


#: Code points that are not characters: U+FFFE, U+FFFF and lone surrogates.
_NOT_A_CHARACTER = re.compile("[\ufffe\uffff\ud800-\udfff]")

class Layout:
    """The layout rules of one configured wiki.

    ``included`` are the namespace ids in the repository (the Media directory
    follows File: a File page needs its file). ``extensions`` maps content
    models to extensions (the configuration's table); the first model listed
    for an extension is the one a new file with that extension gets. Raises
    ConfigError when a directory name or extension would make unportable paths.
    """

    def __init__(
        self,
        codec: TitleCodec,
        included: Collection[int],
        *,
        extensions: Mapping[str, str] = DEFAULT_EXTENSIONS,
        kept_extensions: Collection[str] = KEPT_EXTENSIONS,
    ) -> None:
        self.codec = codec
        self.namespaces = codec.namespaces
        self.included = frozenset(included) - {SPECIAL, MEDIA}
        self.extensions = dict(extensions)
        self.kept_extensions = frozenset(kept_extensions)
        self._models: dict[str, str] = {}
        for model, extension in self.extensions.items():
            self._models.setdefault(extension, model)
        self._models.setdefault(FALLBACK_EXTENSION, "text")
        self._directories = {ns.id: _directory_name(ns.id, ns.canonical) for ns in self.namespaces}
        self._by_directory = {name: ns for ns, name in self._directories.items() if name}
        self._check_configuration()
        #: Names no root page may take, as collision keys.
        self.reserved_root_keys = frozenset(
            [collision_key(ALIASES_FILE)] + [collision_key(name) for name in self._by_directory]
        )

    def _check_configuration(self) -> None:
        """Refuse directory names or extensions that would make unportable paths."""
        seen: dict[str, str] = {collision_key(ALIASES_FILE): ALIASES_FILE}
        for ns in sorted(self.included | ({MEDIA} if FILE in self.included else set())):
            if ns not in self.namespaces:
                raise ConfigError(f"included namespace {ns} is not defined")
            name = self._directories[ns]
            if ns == GITACCESS_ROOT:
                continue
            reason = unportable_reason(name)
            if reason:
                raise ConfigError(f"namespace {ns} cannot be a directory named {name!r}: {reason}")
            other = seen.setdefault(collision_key(name), name)
            if other != name:
                raise ConfigError(f"namespace directories {other!r} and {name!r} would be one directory")
        for model, extension in self.extensions.items():
            if not extension.startswith(".") or "/" in extension or unportable_reason(extension):
                raise ConfigError(f"content model {model!r}: {extension!r} is not a file extension")

    # --- Namespaces and directories -----------------------------------------

    def is_included(self, namespace: int) -> bool:
        """Is the namespace in the repository? Media is, whenever File is."""
        if namespace == MEDIA:
            return FILE in self.included
        return namespace in self.included

    def directory(self, namespace: int) -> str:
        """The namespace's directory: the canonical name in dbkey form, "(Main)",
        or "" for GitAccess_root, whose pages are at the root."""
        return self._directories[namespace]

    def namespace_of_directory(self, name: str) -> int | None:
        """The namespace whose directory is exactly ``name``."""
        return self._by_directory.get(name)

    def makes_directories(self, namespace: int) -> bool:
        """Does '/' in this namespace's titles make directories?

        Only where subpages are on; never at the root or for File and Media
        (a file name with a '/' is not a subpage).
        """
        if namespace in (GITACCESS_ROOT, FILE, MEDIA):
            return False
        return self.namespaces[namespace].subpages

    # --- Extensions ---------------------------------------------------------

    def extension(self, namespace: int, model: str | None) -> str:
        """The extension a page of this model gets; "" at the root and for Media files."""
        if namespace in (GITACCESS_ROOT, MEDIA):
            return ""
        return self.extensions.get(model or "", FALLBACK_EXTENSION)

    def model_of_extension(self, extension: str) -> str | None:
        """The content model a file with this extension has (None if unknown)."""
        return self._models.get(extension)

    def split_extension(self, file_name: str) -> tuple[str, str] | None:
        """(title part, extension) of a page's file name, None if no extension is known.

        Kept extensions (.css, .js, .json) stay in the title part.
        """
        known = [e for e in self._models if file_name.endswith(e) and len(file_name) > len(e)]
        if not known:
            return None
        extension = max(known, key=len)
        if extension in self.kept_extensions:
            return file_name, extension
        return file_name[: -len(extension)], extension

    def title_part(self, title: Title, model: str | None) -> tuple[str, str]:
        """(dbkey without the extension, extension): the file is their concatenation.

        The extension is appended unless it is a kept one the title already
        ends with, MediaWiki's convention for .css/.js/.json pages.
        """
        extension = self.extension(title.namespace, model)
        dbkey = title.dbkey
        if extension in self.kept_extensions and dbkey.endswith(extension) and dbkey != extension:
            return dbkey[: -len(extension)], extension
        return dbkey, extension

    # --- Title -> path ------------------------------------------------------

    def title_problem(self, title: Title) -> str | None:
        """Why a page's title (from the database) cannot be in the repository at all.

        A dbkey MediaWiki would not produce itself (lower case after
        $wgCapitalLinks was switched on, an interwiki prefix added later, a
        character XML cannot carry) names a page the wiki cannot address
        either, and Aliases.xml could not name it; MediaWiki's
        cleanupCaps.php/cleanupTitles.php fix such pages.
        """
        parsed = self.codec.make_title_safe(title.namespace, title.dbkey)
        if parsed is None or parsed.fragment or parsed.interwiki:
            return "it is not a valid title"
        if Title(parsed.namespace, parsed.dbkey) != Title(title.namespace, title.dbkey):
            return f"it is not in normalised form (MediaWiki reads it as {self.full_text(parsed)!r})"
        if _NOT_A_CHARACTER.search(title.dbkey):
            return "it contains a code point that is not a character"
        return None

    def natural_path(self, title: Title, model: str | None) -> str:
        """Where the page lives unless it needs an alias: directory, dbkey, extension.

        The result may be unusable (not portable, or not reading back to the
        title); :meth:`natural_problem` says.
        """
        stem, extension = self.title_part(title, model)
        directory = self.directory(title.namespace)
        return f"{directory}/{stem}{extension}" if directory else f"{stem}{extension}"

    def natural_problem(self, title: Title, model: str | None) -> str | None:
        """Why the title's natural path cannot be its file; None if it can.

        Conflicts with other pages in the same directory are not looked at
        here (see GitTree).
        """
        if not self.is_included(title.namespace):
            return f"namespace {title.namespace} is not in the repository"
        dbkey = title.dbkey
        if "/" in dbkey:
            if not self.makes_directories(title.namespace):
                where = self.directory(title.namespace) or "the repository root"
                return f"'/' cannot make a directory in {where} (no subpages there)"
            if "" in dbkey.split("/"):
                return "a '/' at the start or the end of the name, or doubled, cannot make a directory"
        if title.namespace == GITACCESS_ROOT and collision_key(dbkey) in self.reserved_root_keys:
            return f"{dbkey!r} is reserved at the repository root (Aliases.xml or a namespace directory)"
        path = self.natural_path(title, model)
        for component in path.split("/"):
            reason = unportable_reason(component)
            if reason:
                return f"{component!r}: {reason}"
        try:
            back = self.read_path(path)
        except PathError as exc:
            return f"it would read back as no page ({exc})"
        if back.title != title:
            return f"{path} would read back as {self.full_text(back.title)!r}"
        return None

    # --- Path -> title ------------------------------------------------------

    def read_path(self, path: str) -> PathTitle:
        """The title and model a path reads as, by the layout rules alone (no aliases).

        The file name is NFC-normalised and parsed as MediaWiki parses a
        title, so the result may differ from the path ("foo bar" reads as
        "Foo_bar"): :meth:`is_canonical` tells whether the path is the
        title's natural one. Raises PathError if it reads as no page.
        """
        components = path.split("/")
        if "" in components:
            raise PathError(path, "empty path component (leading, trailing or doubled '/')")
        if len(components) == 1:
            if path == ALIASES_FILE:
                raise PathError(path, "this is the alias registry, not a page")
            return PathTitle(self._title(path, GITACCESS_ROOT, path), ROOT_MODEL)
        namespace = self.namespace_of_directory(components[0])
        if namespace is None:
            raise PathError(path, f"{components[0]!r} is not a namespace directory")
        rest = components[1:]
        if len(rest) > 1 and not self.makes_directories(namespace):
            raise PathError(path, f"{components[0]} has no subpages: its pages cannot be in subdirectories")
        if namespace == MEDIA:
            return PathTitle(self._title(path, MEDIA, rest[0]), None)
        split = self.split_extension(rest[-1])
        if split is None:
            known = ", ".join(sorted(self._models))
            raise PathError(path, f"unknown file extension (known: {known})")
        stem, extension = split
        text = "/".join(rest[:-1] + [stem])
        return PathTitle(self._title(path, namespace, text), self.model_of_extension(extension))

    def _title(self, path: str, namespace: int, text: str) -> Title:
        """Parse ``text`` in ``namespace`` as Title::makeTitleSafe does, NFC first."""
        text = unicodedata.normalize("NFC", text)
        title = self.codec.make_title_safe(namespace, text)
        if title is None:
            raise PathError(path, f"maps to no valid title ({self._invalid_reason(namespace, text)})")
        if title.interwiki or title.fragment:
            raise PathError(path, "maps to a link (interwiki prefix or '#'), not to a page")
        return Title(title.namespace, title.dbkey)

    def _invalid_reason(self, namespace: int, text: str) -> str:
        canonical = self.namespaces[namespace].canonical
        try:
            self.codec.parse(f"{canonical}:{text}" if canonical else text)
        except InvalidTitle as exc:
            return str(exc)
        return "it contains an HTML character reference"

    def is_canonical(self, path: str) -> bool:
        """Is ``path`` the natural path of the title it reads as?

        An alias must never be: then no title, present or future, can want
        its name.
        """
        try:
            title, model = self.read_path(path)
        except PathError:
            return False
        return self.natural_path(title, model) == path

    def full_text(self, title: Title) -> str:
        """The title as Aliases.xml and messages write it (canonical namespace name)."""
        return self.codec.full_text(title, canonical=True)


def _directory_name(namespace: int, canonical: str) -> str:
    if namespace == GITACCESS_ROOT:
        return ""
    if namespace == MAIN:
        return MAIN_DIRECTORY
    return canonical.replace(" ", "_")
