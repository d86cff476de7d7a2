"""Importing a MediaWiki XML dump into a new wiki (`gitaccess import-dump`).

The rows are the ones MediaWiki 1.39's importer (WikiImporter,
ImportableOldRevisionImporter, ImportableUploadRevisionImporter) writes, with
three differences that only an import into a wiki without revisions can
afford, and that keep the imported history faithful to the wiki it came from:

- the dump's page, revision and log ids are kept where they are free, so
  ``oldid`` links and the order of history survive;
- hidden (revision-deleted) text, summaries and user names stay hidden:
  rev_deleted gets the bits the dump marks, where MediaWiki would import
  them as empty and visible;
- every stored file version gets its upload log entry (MediaWiki logs only
  the current one), and no null revisions or recentchanges rows are made.

Everything happens in one database transaction: a dump that fails anywhere
leaves the wiki as it was, and the files already written to the upload
directory are removed again (gitaccess.wiki.database.on_rollback). Memory does not grow with the dump: records are
streamed, and only the page being imported is kept.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from gitaccess.dumps import reader as dumps
from gitaccess.dumps.reader import Contributor, DumpError, DumpNamespace, LogItem, Page, Revision, SiteInfo, Upload
from gitaccess.titles.contentmodels import default_model, namespace_models
from gitaccess.errors import DumpImportError
from gitaccess.titles.namespaces import FILE
from gitaccess.site import SITEINFO_KEY, Site, StoredNamespace, apply_siteinfo
from gitaccess.titles.codec import InvalidTitle, Title, TitleCodec
from gitaccess.wiki import files, siterows, standalone
from gitaccess.wiki.content import sha1_base36
from gitaccess.wiki.database import on_rollback
from gitaccess.wiki.dumprows import DumpRows
from gitaccess.wiki.events import DELETED_COMMENT, DELETED_TEXT, DELETED_USER
from gitaccess.wiki.reader import user_by_name
from gitaccess.wiki.types import wiki_timestamp
from gitaccess.wiki.writer import Editor, WikiWriter

if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = ["ImportStats", "import_dump"]

#: The name MediaWiki's importer gives an edit whose dump has no contributor.
UNKNOWN_USER = "Unknown user"
#: Warnings kept in ImportStats; a stub dump of a large wiki must not fill memory with them.
MAX_WARNINGS = 100
#: Distinct contributors whose actor ids are remembered between revisions.
_ACTOR_CACHE_SIZE = 10_000

#: Told how many bytes of the dump file were read.
ByteProgress = Callable[[int], None]


@dataclass
class ImportStats:
    """What an import did, for the command's summary."""

    pages: int = 0
    revisions: int = 0
    uploads: int = 0
    skipped_uploads: int = 0
    log_items: int = 0
    adopted_siteinfo: bool = False
    warnings: list[str] = field(default_factory=list)


def import_dump(
    site: Site,
    source: str | os.PathLike[str] | BinaryIO,
    *,
    progress: ByteProgress | None = None,
) -> ImportStats:
    """Import a MediaWiki XML dump (plain, .gz or .bz2; a path or a binary stream) into ``site``.

    The wiki must have no revisions yet. ``progress`` is called with the
    number of bytes read from ``source`` so far (compressed bytes for a
    compressed dump, so it can be compared with the file's size). Raises
    DumpImportError, having changed nothing, when the dump cannot be
    imported whole.
    """
    site.db.require_wiki()
    if not standalone.is_empty(site.db):
        raise DumpImportError(
            f"importing a dump is for a wiki with no revisions yet: {site.db.display_url} already has "
            "revisions; create a new wiki with `gitaccess init` and import into it"
        )
    codec = site.titles  # read before the write transaction, which holds SQLite's write lock
    may_adopt = _may_adopt_siteinfo(site)
    try:
        with _binary(source) as stream, site.db.write() as conn:
            importer = _Importer(site, conn, codec, may_adopt)
            importer.run(dumps.read_dump(_CountingReader(stream, progress)))
    except DumpError as exc:
        raise DumpImportError(f"the dump cannot be read: {exc}; nothing was imported") from None
    except OSError as exc:
        raise DumpImportError(f"{exc}; nothing was imported") from None
    if importer.stats.adopted_siteinfo:
        site.forget_stored_site()
    return importer.stats


def _may_adopt_siteinfo(site: Site) -> bool:
    """A dump's namespaces are adopted only where nobody chose any: no siteinfo
    stored yet and no namespace names in the configuration."""
    config = site.config
    return not site.stored_site() and not config.extra_namespaces and config.meta_namespace == "Project"


@contextlib.contextmanager
def _binary(source: str | os.PathLike[str] | BinaryIO) -> Iterator[BinaryIO]:
    """The source as a binary stream; a path is opened (and closed), a stream is left open."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as stream:
            yield stream
    else:
        yield source


class _CountingReader(io.RawIOBase):
    """Passes the source through, reporting how many bytes were consumed."""

    def __init__(self, source: BinaryIO, progress: ByteProgress | None) -> None:
        super().__init__()
        self._source = source
        self._progress = progress
        self._count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        self._count += len(data)
        if self._progress is not None and data:
            self._progress(self._count)
        return len(data)


@dataclass(frozen=True)
class _SlotText:
    """One slot of a revision to store."""

    role: str
    text: str
    model: str


@dataclass(frozen=True)
class _StoredSlot:
    role: str
    content_id: int
    size: int
    sha1: str
    model: str
    origin: int | None  # the revision whose content this is; None: the new revision's own


@dataclass(frozen=True)
class _Latest:
    """The newest revision of a page so far, by (timestamp, id)."""

    timestamp: str
    rev_id: int
    slots: dict[str, _StoredSlot]
    text: str
    editor: Editor

    @property
    def main(self) -> _StoredSlot:
        return self.slots["main"]


@dataclass
class _PageState:
    """What the importer keeps of the page being imported (and nothing of the others)."""

    title: Title
    shown: str  # as the dump has it, for messages
    dump_id: int | None
    page_id: int | None = None  # the row is made with the first revision
    latest: _Latest | None = None
    revisions: int = 0
    out_of_order: bool = False
    missing_text: int = 0
    file_versions: int = 0
    has_current_file: bool = False


class _Importer:
    """Writes a dump's records on one connection, inside the caller's transaction."""

    def __init__(self, site: Site, conn: Connection, titles: TitleCodec, may_adopt: bool) -> None:
        self.site = site
        self.conn = conn
        self.rows = DumpRows(site.db, conn)
        self.titles = titles
        self.may_adopt = may_adopt
        self.upload_root = site.config.upload_directory
        self.stats = ImportStats()
        self.writer = WikiWriter(site.db, conn, titles=titles)
        self.page: _PageState | None = None
        self.articles = 0
        self.extra_warnings = 0
        self.namespace_models = namespace_models(site.config)
        self._actor = functools.lru_cache(maxsize=_ACTOR_CACHE_SIZE)(self._load_actor)

    def run(self, records: Iterable[dumps.Record]) -> None:
        for record in records:
            if isinstance(record, SiteInfo):
                self._site_info(record)
            elif isinstance(record, Page):
                self._start_page(record)
            elif isinstance(record, Revision):
                self._revision(record)
            elif isinstance(record, Upload):
                self._upload(record)
            elif isinstance(record, LogItem):
                self._log_item(record)
        self._finish()

    def _warn(self, message: str) -> None:
        if len(self.stats.warnings) < MAX_WARNINGS:
            self.stats.warnings.append(message)
        else:
            self.extra_warnings += 1

    # ------------------------------------------------------------------ siteinfo
    def _site_info(self, info: SiteInfo) -> None:
        """Adopt the dump's namespaces, or make sure they agree with the wiki's, before any page."""
        if self.stats.pages or self.page is not None:
            raise DumpImportError("the dump's <siteinfo> comes after its first page; it must come first")
        if not info.namespaces:
            return
        if self.may_adopt:
            self._adopt(info)
        else:
            self._check_namespaces(info.namespaces)

    def _adopt(self, info: SiteInfo) -> None:
        stored = [StoredNamespace(ns.id, ns.name, ns.case) for ns in info.namespaces]
        prefixes, local = self.site.interwikis
        self.titles = TitleCodec(
            apply_siteinfo(self.titles.namespaces, stored), interwikis=prefixes, local_interwikis=local,
            first_letter=self.site.config.first_letter, first_letter_overrides=self.site.config.first_letter_overrides,
        )
        self.writer = WikiWriter(self.site.db, self.conn, titles=self.titles)
        value = {"sitename": info.sitename, "namespaces": [asdict(ns) for ns in stored]}
        siterows.add_site_setting(self.site.db, self.conn, SITEINFO_KEY, json.dumps(value, ensure_ascii=False))
        self.stats.adopted_siteinfo = True

    def _check_namespaces(self, namespaces: tuple[DumpNamespace, ...]) -> None:
        problems = [problem for ns in namespaces if (problem := self._disagreement(ns))]
        if problems:
            raise DumpImportError(
                "the dump's namespaces differ from this wiki's: " + "; ".join(problems) + ". Configure the "
                "wiki's namespaces as the dump's wiki had them (gitaccess.toml: [wiki] meta_namespace and "
                "capital_links, [namespaces] extra), or import into a wiki whose configuration names no "
                "namespaces, which then adopts the dump's"
            )

    def _disagreement(self, ns: DumpNamespace) -> str | None:
        """Why a namespace of the dump is not the wiki's namespace with the same id, if it is not."""
        table = self.titles.namespaces
        shown = repr(ns.name) if ns.name else "(Main)"
        if ns.id not in table:
            return f"{ns.id} {shown} is not defined here"
        local = table[ns.id]
        same_name = not ns.name if ns.id == 0 else table.find(ns.name) == ns.id
        if not same_name:
            return f"{ns.id} is {shown} in the dump but {local.name!r} here"
        if (ns.case != "case-sensitive") != local.capitalize:
            here = "first-letter" if local.capitalize else "case-sensitive"
            return f"{ns.id} {shown} is {ns.case} in the dump but {here} here"
        return None

    # ------------------------------------------------------------------ pages and revisions
    def _start_page(self, page: Page) -> None:
        self._finish_page()
        title = self._page_title(page)
        if self.writer.page(title.namespace, title.dbkey) is not None:
            raise DumpImportError(
                f"page {page.title!r} appears twice in the dump (or exists without revisions); "
                "merge its <page> elements into one"
            )
        self.page = _PageState(title=title, shown=page.title, dump_id=page.id)

    def _page_title(self, page: Page) -> Title:
        """The page's title under the wiki's (or the adopted) namespace rules; invalid ones fail."""
        try:
            title = self.titles.parse(page.title)
        except InvalidTitle as exc:
            raise DumpImportError(f"page {page.title!r}: {exc} Nothing was imported.") from None
        if title.interwiki or title.fragment or title.namespace < 0:
            raise DumpImportError(
                f"page {page.title!r} cannot be a page of this wiki (an interwiki link, a section "
                "or a special page); nothing was imported"
            )
        if page.namespace is None or page.namespace == title.namespace:
            return title
        if title.namespace == 0 and ":" not in page.title:
            return self._unprefixed_title(page.title, page.namespace)
        raise DumpImportError(
            f"page {page.title!r} is in namespace {title.namespace} here, but the dump says "
            f"<ns>{page.namespace}</ns>: the dump's namespace names differ from this wiki's; "
            "configure them (gitaccess.toml [namespaces] extra) and import again"
        )

    def _unprefixed_title(self, text: str, namespace: int) -> Title:
        """A title without the prefix of its <ns>: a misconfigured source wiki writes those
        (MediaWiki bug T114115), and MediaWiki's importer puts them in the <ns> namespace."""
        if namespace not in self.titles.namespaces:
            raise DumpImportError(
                f"page {text!r} is in namespace {namespace}, which this wiki does not define; "
                "configure it (gitaccess.toml [namespaces] extra) and import again"
            )
        title = self.titles.make_title_safe(namespace, text)
        if title is None:
            raise DumpImportError(
                f"page {text!r} (<ns>{namespace}</ns>) is not a valid title; nothing was imported"
            )
        self._warn(
            f"page {text!r} has <ns>{namespace}</ns> but no namespace prefix; "
            f"imported as {self.titles.full_text(title, canonical=False)!r}, as MediaWiki does"
        )
        return title

    def _current_page(self) -> _PageState:
        if self.page is None:  # read_dump yields a Page before its revisions and uploads
            raise DumpImportError("a revision or upload outside any page")
        return self.page

    def _revision(self, rev: Revision) -> None:
        page = self._current_page()
        deleted = (
            (DELETED_TEXT if rev.text_deleted or any(s.text_deleted for s in rev.slots) else 0)
            | (DELETED_COMMENT if rev.comment_deleted else 0)
            | (DELETED_USER if rev.contributor.deleted else 0)
        )
        if (rev.text is None and not rev.text_deleted) or any(
            s.text is None and not s.text_deleted for s in rev.slots
        ):
            page.missing_text += 1
        slots = [_SlotText("main", rev.text or "", rev.model or default_model(page.title, self.namespace_models))]
        for slot in rev.slots:
            if slot.role == "main":
                raise DumpImportError(f"page {page.shown!r}: revision {rev.id} has two main slots")
            slots.append(_SlotText(slot.role, slot.text or "", slot.model or "wikitext"))
        self._insert_revision(
            page, slots, self._actor(rev.contributor), comment=rev.comment or "", timestamp=rev.timestamp,
            minor=rev.minor, deleted=deleted, wanted_id=rev.id,
        )

    def _insert_revision(
        self,
        page: _PageState,
        slots: list[_SlotText],
        actor: tuple[Editor, int],
        *,
        comment: str,
        timestamp: str,
        minor: bool = False,
        deleted: int = 0,
        wanted_id: int | None = None,
    ) -> int:
        """Store a revision; its parent is the page's newest revision before it.

        A revision older than one already imported (dumps are not always in
        order) gets its parent when the page is finished.
        """
        editor, actor_id = actor
        page_id = self._page_row(page, timestamp)
        rev_id = self.rows.rev_ids.take(wanted_id)
        latest = page.latest
        in_order = latest is None or (timestamp, rev_id) > (latest.timestamp, latest.rev_id)
        parent = latest if in_order else None
        stored = [self._store_slot(slot, parent) for slot in slots]
        main = stored[0]
        self.writer.rows.insert_revision(
            page_id=page_id, content_id=main.content_id, size=sum(s.size for s in stored),
            sha1=_revision_sha1(stored), actor=actor_id, comment=self.writer.rows.comment_id(comment),
            timestamp=timestamp, minor=minor, parent_id=parent.rev_id if parent else 0, deleted=deleted,
            origin=main.origin, rev_id=rev_id,
        )
        for slot in stored[1:]:
            self.rows.add_slot(rev_id, self.writer.rows.role_id(slot.role), slot.content_id, slot.origin or rev_id)
        page.revisions += 1
        self.stats.revisions += 1
        if in_order:
            own = {s.role: s if s.origin else _origin(s, rev_id) for s in stored}
            page.latest = _Latest(timestamp, rev_id, own, slots[0].text, editor)
        else:
            page.out_of_order = True
        return rev_id

    def _store_slot(self, slot: _SlotText, parent: _Latest | None) -> _StoredSlot:
        """The slot's content row; an unchanged slot shares its parent's, as MediaWiki's importer does."""
        sha1 = sha1_base36(slot.text.encode("utf-8"))
        inherited = parent.slots.get(slot.role) if parent else None
        if inherited is not None and inherited.sha1 == sha1 and inherited.model == slot.model:
            return inherited
        content_id, size, sha1 = self.writer.rows.store_content(slot.text, slot.model)
        return _StoredSlot(slot.role, content_id, size, sha1, slot.model, None)

    def _page_row(self, page: _PageState, timestamp: str) -> int:
        """The page's id, inserting its row at the first revision (page_latest is set when it ends)."""
        if page.page_id is None:
            page.page_id = self.rows.page_ids.take(page.dump_id)
            self.rows.add_page(page.page_id, page.title.namespace, page.title.dbkey, timestamp)
            self.stats.pages += 1
        return page.page_id

    def _finish_page(self) -> None:
        """Point the page at its newest revision and do its bookkeeping."""
        page, self.page = self.page, None
        if page is None:
            return
        if page.missing_text:
            self._warn(
                f"page {page.shown!r}: {page.missing_text} revision(s) without text in the dump (a stub "
                "dump or a very old one) were imported with empty text"
            )
        latest = page.latest
        if latest is None or page.page_id is None:
            self._warn(f"page {page.shown!r} has no revisions in the dump and was not created")
            return
        if page.out_of_order:
            self.rows.fix_parents(page.page_id)
        title = page.title
        is_redirect = self.writer.rows.set_redirect(page.page_id, latest.text, latest.main.model)
        self.rows.finish_page(
            page.page_id, latest=latest.rev_id, length=sum(s.size for s in latest.slots.values()),
            touched=latest.timestamp, is_redirect=is_redirect, model=latest.main.model,
            is_new=page.revisions == 1,
        )
        self.articles += self.writer.countable(title.namespace, latest.text, latest.main.model)
        self.writer.rows.queue_refresh_links(title.namespace, title.dbkey, latest.editor, "edit-page", wiki_timestamp())

    # ------------------------------------------------------------------ contributors
    def _load_actor(self, contributor: Contributor) -> tuple[Editor, int]:
        """The editor and actor row of a contributor: a local account of that name owns it,
        any other name is kept as imported (actor_user NULL); no contributor is "Unknown user"."""
        name = contributor.username or contributor.ip or UNKNOWN_USER
        user = user_by_name(self.site.db, self.conn, name)
        editor = Editor(name, user.id if user else 0, ip=contributor.ip or "")
        return editor, self.writer.rows.actor_id(editor)

    # ------------------------------------------------------------------ uploads
    def _upload(self, upload: Upload) -> None:
        """Store a file version: the current one in the image table, older ones in oldimage."""
        page = self._current_page()
        if page.title.namespace != FILE:
            raise DumpImportError(f"page {page.shown!r} has an <upload> but is not in the File namespace")
        if upload.contents is None:
            self.stats.skipped_uploads += 1
            self._warn(
                f"{page.shown!r}: the version of {upload.timestamp} was skipped, the dump has no file "
                "contents (dump with --uploads --include-files); its description page was imported"
            )
            return
        sha1 = sha1_base36(upload.contents)
        if upload.sha1 and not _same_sha1(upload.sha1, sha1):
            raise DumpImportError(
                f"{page.shown!r}: the file version of {upload.timestamp} does not match its <sha1base36>; "
                "the dump is corrupt"
            )
        current = upload.archivename is None
        if current and page.has_current_file:
            raise DumpImportError(f"{page.shown!r} has two current file versions (uploads without <archivename>)")
        self._store_file(self._file_path(page, upload), upload.contents)
        actor = self._actor(upload.contributor)
        editor, actor_id = actor
        comment = upload.comment or ""
        columns = self._file_columns(page.title.dbkey, upload, sha1, actor_id)
        self.rows.add_file(columns, archive_name=upload.archivename,
                           deleted=DELETED_USER if upload.contributor.deleted else 0)
        if current:
            page.has_current_file = True
        # MediaWiki makes the description page when a file is first uploaded, from its comment.
        associated = None
        if page.latest is None:
            description = _SlotText("main", comment, default_model(page.title, self.namespace_models))
            associated = self._insert_revision(
                page, [description], actor, comment=comment, timestamp=upload.timestamp
            )
        self.rows.log_ids.sync_sequence()
        log_id = self.writer.rows.log_event(
            editor, actor_id, type="upload", action="overwrite" if page.file_versions else "upload",
            namespace=FILE, dbkey=page.title.dbkey, page_id=self._page_row(page, upload.timestamp),
            comment=self.writer.rows.comment_id(comment), timestamp=upload.timestamp,
            params={"img_sha1": sha1, "img_timestamp": upload.timestamp}, associated_rev=associated,
            publish=False,
        )
        self.rows.log_ids.note(log_id)
        page.file_versions += 1
        self.stats.uploads += 1

    def _file_path(self, page: _PageState, upload: Upload) -> Path:
        root = self.upload_root
        name = page.title.dbkey
        try:
            if upload.archivename is None:
                return files.public_path(root, name)
            return files.archive_path(root, name, upload.archivename)
        except files.UnsafePath as exc:
            raise DumpImportError(f"{page.shown!r}: {exc}") from None

    def _store_file(self, path: Path, data: bytes) -> None:
        """Write a file that goes away again if the import fails. An identical file already
        there is fine; a different one is refused, since overwriting it (or deleting it
        when the import fails) would lose somebody's file."""
        try:
            if path.exists():
                if path.stat().st_size == len(data) and path.read_bytes() == data:
                    return
                raise DumpImportError(
                    f"{path} already exists with other contents: the upload directory {self.upload_root} "
                    "holds another wiki's files; empty it or configure another upload_directory"
                )
            files.store(self.upload_root, path, data)
        except OSError as exc:
            raise DumpImportError(f"cannot write {path}: {exc.strerror or exc}; check upload_directory") from None
        on_rollback(self.conn, lambda: path.unlink(missing_ok=True))

    def _file_columns(self, name: str, upload: Upload, sha1: str, actor_id: int) -> dict[str, object]:
        """The columns image and oldimage share, without their prefix."""
        data = upload.contents or b""
        kind = files.file_type(data, name)
        size = files.image_size(data)
        return {
            "name": name, "size": len(data), "width": size.width, "height": size.height, "bits": size.bits,
            # Empty metadata: MediaWiki extracts it from the file when it first loads the row.
            "metadata": "", "media_type": kind.media_type, "major_mime": kind.major, "minor_mime": kind.minor,
            "description_id": self.writer.rows.comment_id(upload.comment or ""), "actor": actor_id,
            "timestamp": upload.timestamp, "sha1": sha1,
        }

    # ------------------------------------------------------------------ log items
    def _log_item(self, item: LogItem) -> None:
        """A logging row as the dump has it (params verbatim), as WikiRevision::importLogItem
        writes it; items without a usable title are skipped, as there."""
        self._finish_page()
        try:
            title = self.titles.parse(item.logtitle or "")
        except InvalidTitle as exc:
            self._warn(f"log item {item.id} ({item.type}/{item.action}) skipped: {exc}")
            return
        if self._log_exists(item, title):
            return
        _, actor_id = self._actor(item.contributor)
        self.rows.add_log(
            self.rows.log_ids.take(item.id), log_type=item.type, action=item.action, timestamp=item.timestamp,
            actor=actor_id, namespace=title.namespace, dbkey=title.dbkey,
            comment=self.writer.rows.comment_id(item.comment or ""), params=item.params or "", deleted=item.deleted,
        )
        self.stats.log_items += 1

    def _log_exists(self, item: LogItem, title: Title) -> bool:
        """MediaWiki's importer skips a log item that is already there; for uploads the entry
        this import wrote for the file version counts, whatever its parameters."""
        params = None if item.type == "upload" else item.params or ""
        return self.rows.log_exists(item.type, item.action, item.timestamp, title.namespace, title.dbkey, params)

    # ------------------------------------------------------------------ the end
    def _finish(self) -> None:
        """Counters as MediaWiki's initSiteStats.php computes them, and the id sequences."""
        self._finish_page()
        for ids in (self.rows.page_ids, self.rows.rev_ids, self.rows.log_ids):
            ids.sync_sequence()
        self.rows.recount_site_stats(self.articles)
        if self.extra_warnings:
            self.stats.warnings.append(f"... and {self.extra_warnings} more warnings")


def _origin(slot: _StoredSlot, rev_id: int) -> _StoredSlot:
    """A newly stored slot, as the revision that follows sees it: content of ``rev_id``."""
    return _StoredSlot(slot.role, slot.content_id, slot.size, slot.sha1, slot.model, rev_id)


def _revision_sha1(slots: list[_StoredSlot]) -> str:
    """rev_sha1 as RevisionSlots::computeSha1: the slot's own for one slot, else chained by role name."""
    ordered = sorted(slots, key=lambda s: s.role.encode("utf-8"))
    digest = ordered[0].sha1
    for slot in ordered[1:]:
        digest = sha1_base36((digest + slot.sha1).encode("ascii"))
    return digest


def _same_sha1(given: str, computed: str) -> bool:
    """Base-36 SHA-1s compared by value, as MediaWiki compares them (leading zeros may be dropped)."""
    try:
        return int(given.strip(), 36) == int(computed, 36)
    except ValueError:
        return False
