"""The alias registry: file names for pages whose natural path cannot be used.

An alias maps a path to a title. Every commit carries the registry as
``Aliases.xml`` at the root (docs/repository.md, "Layout"), so a clone
knows which file is which page, and a push may edit it to name files its own
way. Hence the two halves here: an exact generator of that file and a
strict, defensive parser of what a client pushes (no DTDs, no entities, no
network, a size limit, and a clear error naming the line and the rule).

How new alias names are made is :mod:`gitaccess.tree.naming`'s business.

Pure: no database, no I/O.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Iterator, NamedTuple

from lxml import etree

from gitaccess.errors import GitAccessError
from gitaccess.titles.namespaces import GITACCESS_ROOT, MAIN, MEDIA
from gitaccess.titles.codec import InvalidTitle, Title, TitleCodec
from gitaccess.tree.claims import first_conflict
from gitaccess.tree.layout import ALIASES_FILE, Layout
from gitaccess.tree.portable import collision_key, path_problem

#: Aliases.xml larger than this is refused before parsing.
MAX_ALIASES_BYTES = 1024 * 1024

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


class AliasesError(GitAccessError, ValueError):
    """The alias registry (or a pushed Aliases.xml) breaks a rule; the message says which."""


class Alias(NamedTuple):
    """One entry: the file at ``path`` (relative to the root) is the page ``title``."""

    path: str
    title: Title


class AliasRegistry:
    """An immutable set of aliases: unique paths, unique titles, sorted by path.

    Paths must be portable relative paths, and no two may be one file on a
    case-insensitive system (nor a file and a directory); AliasesError otherwise.
    """

    def __init__(self, entries: Iterable[Alias] = ()) -> None:
        entries = sorted(
            (Alias(path, Title(title.namespace, title.dbkey)) for path, title in entries),
            key=lambda alias: alias.path,
        )
        self._by_path: dict[str, Title] = {}
        self._by_title: dict[Title, str] = {}
        for path, title in entries:
            problem = _alias_path_problem(path)
            if problem:
                raise AliasesError(f"alias {path!r}: {problem}")
            if path in self._by_path:
                raise AliasesError(f"alias {path!r} is listed twice")
            if title in self._by_title:
                raise AliasesError(
                    f"aliases {self._by_title[title]!r} and {path!r} are for the same page {title}"
                )
            self._by_path[path] = title
            self._by_title[title] = path
        clash = first_conflict(self._by_path)
        if clash:
            raise AliasesError(clash)

    def __iter__(self) -> Iterator[Alias]:
        return (Alias(path, title) for path, title in self._by_path.items())

    def __len__(self) -> int:
        return len(self._by_path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AliasRegistry) and self._by_path == other._by_path

    def __repr__(self) -> str:
        return f"AliasRegistry({list(self)!r})"

    def path_for(self, title: Title) -> str | None:
        """The alias of a page, if it has one."""
        return self._by_title.get(Title(title.namespace, title.dbkey))

    def title_for(self, path: str) -> Title | None:
        """The page an alias path stands for, if the path is an alias."""
        return self._by_path.get(path)

    def with_aliases(self, aliases: Iterable[Alias]) -> AliasRegistry:
        """A registry with these entries added; an entry for a title already
        present replaces that title's old entry. AliasesError as the constructor."""
        new = list(aliases)
        replaced = {alias.title for alias in new}
        kept = [alias for alias in self if alias.title not in replaced]
        return AliasRegistry(kept + new)

    # --- Aliases.xml --------------------------------------------------------

    def to_xml(self, codec: TitleCodec) -> bytes:
        """Aliases.xml exactly as docs/repository.md shows it: one line per entry, sorted by path."""
        root = etree.Element("aliases")
        root.text = "\n  " if self._by_path else "\n"
        for index, (path, title) in enumerate(self._by_path.items()):
            element = etree.SubElement(root, "alias")
            element.set("path", path)
            element.set("title", codec.full_text(title, canonical=True))
            element.tail = "\n  " if index < len(self._by_path) - 1 else "\n"
        return XML_DECLARATION + etree.tostring(root, encoding="UTF-8") + b"\n"

    @classmethod
    def from_xml(cls, data: bytes, layout: Layout, *, max_bytes: int = MAX_ALIASES_BYTES) -> AliasRegistry:
        """Parse a pushed Aliases.xml, refusing anything but the exact format.

        Besides the XML structure, each entry must be usable: a portable path
        in its title's namespace directory with a known extension, a valid
        title written in canonical form. The bytes must be those
        :meth:`to_xml` would write, so the rebuilt tree equals the pushed one.
        Raises AliasesError naming the line and the rule.
        """
        root = _parse_document(data, max_bytes)
        entries: list[tuple[int, Alias]] = []
        for element in root:
            line = element.sourceline
            _check_element(element)
            path, title_text = element.get("path"), element.get("title")
            title = _parse_title(title_text, layout, line)
            problem = _alias_path_problem(path) or _layout_problem(path, title, layout)
            if problem:
                raise AliasesError(f"Aliases.xml line {line}: alias path {path!r}: {problem}")
            entries.append((line, Alias(path, title)))
        _check_unique(entries, layout)
        for (_, first), (line, second) in itertools.pairwise(entries):
            if first.path >= second.path:
                raise AliasesError(
                    f"Aliases.xml line {line}: entries must be sorted by path: "
                    f"put {second.path!r} before {first.path!r}"
                )
        registry = cls(alias for _, alias in entries)
        _check_canonical_bytes(data, registry.to_xml(layout.codec))
        return registry


# --- Parsing helpers ----------------------------------------------------------


def _parse_document(data: bytes, max_bytes: int) -> etree._Element:
    """The <aliases> element of a safe, well-formed document."""
    if not isinstance(data, bytes):
        raise AliasesError("Aliases.xml must be given as bytes")
    if len(data) > max_bytes:
        raise AliasesError(f"Aliases.xml is {len(data)} bytes, more than the limit of {max_bytes}")
    upper = data.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise AliasesError("Aliases.xml must not contain a DOCTYPE or entity declarations")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise AliasesError(f"Aliases.xml line {exc.lineno}: not well-formed XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:
        raise AliasesError("Aliases.xml must not have a DOCTYPE")
    if root.tag != "aliases":
        raise AliasesError(f"Aliases.xml line {root.sourceline}: the root element must be <aliases>")
    if root.attrib:
        raise AliasesError(f"Aliases.xml line {root.sourceline}: <aliases> takes no attributes")
    if (root.text or "").strip():
        raise AliasesError(f"Aliases.xml line {root.sourceline}: text is not allowed in <aliases>")
    return root


def _check_element(element: etree._Element) -> None:
    """One <alias path=".." title=".."/>, nothing else, no content."""
    line = element.sourceline
    if not isinstance(element.tag, str):
        raise AliasesError(f"Aliases.xml line {line}: only <alias> elements are allowed (no comments)")
    if element.tag != "alias":
        raise AliasesError(f"Aliases.xml line {line}: unknown element <{element.tag}>; only <alias> is allowed")
    unknown = sorted(set(element.attrib) - {"path", "title"})
    if unknown:
        raise AliasesError(f"Aliases.xml line {line}: unknown attribute {unknown[0]!r} on <alias>")
    for name in ("path", "title"):
        if not element.get(name):
            raise AliasesError(f"Aliases.xml line {line}: <alias> needs a non-empty {name!r} attribute")
    if len(element) or (element.text or "").strip():
        raise AliasesError(f"Aliases.xml line {line}: <alias> must be empty")
    if (element.tail or "").strip():
        raise AliasesError(f"Aliases.xml line {line}: text is not allowed between <alias> elements")


def _parse_title(text: str, layout: Layout, line: int) -> Title:
    """A valid page title, written as gitaccess writes it.

    Parsed as Title::makeTitleSafe does: the XML parser has decoded the
    attribute already, so character references are not decoded again (nor
    the text NFC-normalised: a legacy NFD title keeps its form).
    """
    title = layout.codec.make_title_safe(MAIN, text)
    if title is None:
        try:
            layout.codec.parse(text)
            reason = "not a valid title"
        except InvalidTitle as exc:
            reason = str(exc)
        raise AliasesError(f"Aliases.xml line {line}: title {text!r}: {reason}")
    if title.interwiki or title.fragment:
        raise AliasesError(f"Aliases.xml line {line}: title {text!r} is a link, not a page")
    canonical = layout.codec.full_text(title, canonical=True)
    if canonical != text:
        raise AliasesError(f"Aliases.xml line {line}: write the title {text!r} as {canonical!r}")
    return Title(title.namespace, title.dbkey)


def _alias_path_problem(path: str) -> str | None:
    """A portable relative path that is not Aliases.xml itself."""
    if path == ALIASES_FILE:
        return "Aliases.xml cannot be an alias"
    return path_problem(path)


def _layout_problem(path: str, title: Title, layout: Layout) -> str | None:
    """Is the alias where its title's namespace keeps its pages?"""
    components = path.split("/")
    namespace = title.namespace
    directory = layout.directory(namespace)
    if namespace == GITACCESS_ROOT:
        if len(components) != 1:
            return "a GitAccess_root page's file must be at the repository root"
        if collision_key(path) in layout.reserved_root_keys:
            return "the name of a namespace directory or of Aliases.xml is reserved at the root"
        return None
    if len(components) < 2 or components[0] != directory:
        return f"the file of {layout.full_text(title)!r} must be in the directory {directory}/"
    if len(components) > 2 and (namespace == MEDIA or not layout.makes_directories(namespace)):
        return f"{directory}/ has no subdirectories (no subpages)"
    if namespace != MEDIA and layout.split_extension(components[-1]) is None:
        return "the file name has no known extension (.wiki, .css, .js, ...)"
    return None


def _check_unique(entries: list[tuple[int, Alias]], layout: Layout) -> None:
    """No path or title twice, and no two paths one file on Windows or macOS."""
    paths: dict[str, int] = {}
    titles: dict[Title, int] = {}
    for line, (path, title) in entries:
        if path in paths:
            raise AliasesError(f"Aliases.xml line {line}: path {path!r} is already on line {paths[path]}")
        if title in titles:
            raise AliasesError(
                f"Aliases.xml line {line}: title {layout.full_text(title)!r} is already on line "
                f"{titles[title]}: two files for one page"
            )
        paths[path] = line
        titles[title] = line
    clash = first_conflict(path for _, (path, _) in entries)
    if clash:
        raise AliasesError(f"Aliases.xml: {clash}")


def _check_canonical_bytes(data: bytes, expected: bytes) -> None:
    """Refuse formatting gitaccess would not write (the rebuilt tree must equal the pushed one)."""
    if data == expected:
        return
    got_lines = data.split(b"\n")
    want_lines = expected.split(b"\n")
    for number, (got, want) in enumerate(itertools.zip_longest(got_lines, want_lines), start=1):
        if got == want:
            continue
        if got is None and want == b"":
            raise AliasesError(f"Aliases.xml line {number - 1}: a final newline is missing")
        if want is None or (want == b"" and number == len(want_lines)):
            raise AliasesError("Aliases.xml: nothing may follow </aliases> and its final newline")
        shown = (want or b"").decode("utf-8", "replace")
        raise AliasesError(
            f"Aliases.xml line {number}: not in gitaccess's format (XML declaration with double "
            f"quotes, two-space indentation, one <alias/> per line, a final newline); "
            f"expected {shown!r}"
        )
