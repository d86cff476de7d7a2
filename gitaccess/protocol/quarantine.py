"""The quarantine: where a pushed pack waits, checked, while the push is judged.

Nothing a client pushes touches the served history before the decider has
accepted it (dulwich's receive-pack writes objects to the main store before
its hooks judge them). The pack and its index live in a private directory
that is removed whatever happens. Every object is parsed and checked once
(commits, trees with sorted entries and valid modes, blobs; tags only when
allowed), and every object the pushed commits and trees refer to must be in
the pack or in the served history, so the decider never meets a dangling
reference. Thin packs are completed by reading delta bases from the served
history, never by copying them into the quarantine.
"""

from __future__ import annotations

import shutil
from operator import itemgetter
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from dulwich.errors import ApplyDeltaError, ChecksumMismatch
from dulwich.object_format import SHA1
from dulwich.objects import Blob, Commit, ShaFile, Tag, Tree, sha_to_hex
from dulwich.pack import (
    OFS_DELTA,
    REF_DELTA,
    DeltaChainIterator,
    Pack,
    PackData,
    PackIndexEntry,
    UnpackedObject,
    UnresolvedDeltas,
    load_pack_index,
)

from gitaccess.objects.entries import RecentTrees, entries_problem, parse, reparse, reread_problem, special_blobs
from gitaccess.objects.fsck import BLOB_CHECKS, commit_problem, tag_problem
from gitaccess.objects.packfile import write_index
from gitaccess.protocol.incoming import PackCorrupt, PackRefused, check_tree_size
from gitaccess.protocol.memory import MemoryCeiling
from gitaccess.protocol.objects import type_name
from gitaccess.objects.source import ObjectSource

_GITLINK_MODE = 0o160000


class BadObject(PackRefused):
    """A pushed object is malformed or of a kind that may not be pushed."""


class MissingObjects(PackRefused):
    """Pushed objects refer to objects that are neither in the pack nor in the served history."""


class Quarantine:
    """A private directory for one push, under ``root``; removed on exit whatever happened."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix="push-", dir=root))
        self.pack_path = self.path / "incoming.pack"
        self._objects: QuarantinedObjects | None = None

    def __enter__(self) -> Quarantine:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._objects is not None:
            self._objects.close()
        shutil.rmtree(self.path, ignore_errors=True)

    def open_pack_file(self) -> BinaryIO:
        """Where the received pack is written."""
        return self.pack_path.open("wb")

    def objects(self, served: ObjectSource, allow_tags: bool, progress: Callable[[int, int], None],
                max_tree_bytes: int, memory: MemoryCeiling) -> QuarantinedObjects:
        """Index and check the received pack; :class:`PackRefused` when it may not be accepted
        (a tree over ``max_tree_bytes`` among the reasons, or the process going past ``memory``)."""
        data = PackData(str(self.pack_path), object_format=SHA1)
        try:
            checker = _Checker.for_pack_data(data, resolve_ext_ref=_ext_ref_resolver(served))
            entries, external_bases, dotfiles = _check_objects(checker, served, allow_tags, len(data), progress,
                                                               max_tree_bytes, memory)
            index_path = self.path / "incoming.idx"
            with index_path.open("wb") as f:
                write_index(f, sorted(entries), data.get_stored_checksum())
            pack = Pack.from_objects(data, load_pack_index(str(index_path), SHA1))
        except BaseException:
            data.close()
            raise
        pack.resolve_ext_ref = _ext_ref_resolver(served)
        self._objects = QuarantinedObjects(pack, served, external_bases)
        _check_dotfiles(self._objects, dotfiles)
        return self._objects


class QuarantinedObjects:
    """The pushed objects, backed by the served history for everything the pack did not carry.

    Object names are 40 hex digits as bytes. Lookups see the pack first,
    then the served history (thin-pack bases, the commits the push builds on).
    """

    def __init__(self, pack: Pack, served: ObjectSource, external_bases: frozenset[bytes]) -> None:
        self._pack = pack
        self._served = served
        #: The objects the pack carried, sorted.
        self.shas: tuple[bytes, ...] = tuple(pack)
        #: Served objects the pack's deltas were based on (a thin pack).
        self.external_bases = external_bases

    def __len__(self) -> int:
        return len(self.shas)

    def __contains__(self, sha: object) -> bool:
        return sha in self._pack or sha in self._served

    def get_raw(self, sha: bytes) -> tuple[int, bytes]:
        """Type number and contents; KeyError when neither the pack nor the served history has it."""
        if sha in self._pack:
            return self._pack.get_raw(sha)
        return self._served.get_raw(sha)

    def __getitem__(self, sha: bytes) -> ShaFile:
        type_num, data = self.get_raw(sha)
        return ShaFile.from_raw_string(type_num, data, sha=sha)

    def iterobjects(self) -> Iterator[ShaFile]:
        """The objects the pack carried, each inflated once, in no particular order."""
        return self._pack.iterobjects()

    def close(self) -> None:
        self._pack.close()


class _Checker(DeltaChainIterator[UnpackedObject]):
    """Walks the pack's delta chains, inflating each object once, with index entries' CRC32s."""

    _compute_crc32 = True

    def _result(self, unpacked: UnpackedObject) -> UnpackedObject:
        return unpacked


def _ext_ref_resolver(served: ObjectSource) -> Callable[[bytes], tuple[int, bytes]]:
    """dulwich asks for thin-pack bases by binary SHA-1; the served history answers to hex."""
    def resolve(sha: bytes) -> tuple[int, bytes]:
        return served.get_raw(sha_to_hex(sha) if len(sha) == 20 else sha)

    return resolve


def _check_objects(checker: _Checker, served: ObjectSource, allow_tags: bool, total: int,
                   progress: Callable[[int, int], None], max_tree_bytes: int, memory: MemoryCeiling
                   ) -> tuple[list[PackIndexEntry], frozenset[bytes], list[tuple[bytes, bytes]]]:
    """Parse and check every object and what it refers to; the index entries, the thin-pack
    bases, and the (dotfile, blob id) of the .gitmodules and .gitattributes files to check."""
    entries: list[PackIndexEntry] = []
    received: set[bytes] = set()
    referenced: set[bytes] = set()
    dotfiles: list[tuple[bytes, bytes]] = []
    trees = RecentTrees()
    try:
        for done, unpacked in enumerate(checker, 1):
            sha = sha_to_hex(unpacked.sha())
            size = sum(map(len, unpacked.obj_chunks))
            memory.spent(size)
            if unpacked.obj_type_num == Tree.type_num:
                check_tree_size(size, max_tree_bytes, f"the object {sha.decode()}")
                referenced.update(_check_tree(sha, unpacked, trees, dotfiles))
            else:
                referenced.update(_parse(sha, unpacked, allow_tags))
            received.add(sha)
            entries.append((unpacked.sha(), unpacked.offset, unpacked.crc32))
            progress(done, total)
    except UnresolvedDeltas as exc:
        raise MissingObjects(f"the pack has deltas against objects the server does not have "
                             f"({_sample(exc.shas)}): fetch, then push again") from None
    except (ApplyDeltaError, ChecksumMismatch, AssertionError, ValueError) as exc:
        raise PackCorrupt(f"the pack cannot be unpacked: {exc}") from None
    missing = [sha for sha in referenced - received if sha not in served]
    if missing:
        raise MissingObjects(f"the pushed objects refer to {len(missing)} objects that are neither in the pack "
                             f"nor on the server ({_sample(missing)}): fetch, then push again")
    return entries, frozenset(sha_to_hex(sha) for sha in checker.ext_refs()), dotfiles


def _check_dotfiles(objects: QuarantinedObjects, dotfiles: list[tuple[bytes, bytes]]) -> None:
    """Check the files git reads from a checkout by their name; :class:`BadObject` when git
    would refuse one (a blob missing from the pack is one the server already accepted)."""
    for dotfile, sha in dotfiles:
        try:
            type_num, data = objects.get_raw(sha)
        except KeyError:
            continue
        problem = BLOB_CHECKS[dotfile](data) if type_num == Blob.type_num else "it is not a file"
        if problem:
            raise BadObject(f"the {dotfile.decode()} file {sha.decode()} is refused: {problem}")


def _base_key(unpacked: UnpackedObject) -> int | bytes | None:
    """Where a delta's base was met: its pack offset, or its id (None: not a delta)."""
    if unpacked.pack_type_num == OFS_DELTA:
        assert unpacked.offset is not None and isinstance(unpacked.delta_base, int)
        return unpacked.offset - unpacked.delta_base
    if unpacked.pack_type_num == REF_DELTA:
        assert isinstance(unpacked.delta_base, bytes)
        return sha_to_hex(unpacked.delta_base)
    return None


def _check_tree(sha: bytes, unpacked: UnpackedObject, trees: RecentTrees,
                dotfiles: list[tuple[bytes, bytes]]) -> list[bytes]:
    """Check a tree as ``git fsck`` would; the objects its new entries refer to (and, added
    to ``dotfiles``, the special files among them whose contents must be checked).

    A tree whose delta base was checked is read from it: only its new
    entries are checked (with their neighbours, for the order), and the
    base's entries were already counted as references.
    """
    data = b"".join(unpacked.obj_chunks)
    key = _base_key(unpacked)
    base = trees.get(key) if key is not None else None
    try:
        if base is not None:
            reread = reparse(base, data)
            tree, new, problem = reread.tree, reread.middle, reread_problem(base, reread)
        else:
            tree = parse(data)
            new, problem = tree.entries, entries_problem(tree.entries)
    except ValueError as exc:
        raise BadObject(f"the tree {sha.decode()} is malformed: {exc}") from None
    if problem:
        raise BadObject(f"the tree {sha.decode()} is malformed: {problem}")
    assert unpacked.offset is not None
    trees.put(tree, unpacked.offset, sha)
    dotfiles.extend(special_blobs(new))
    if any(map(_GITLINK_MODE.__eq__, map(itemgetter(1), new))):
        return [entry_sha for _name, mode, entry_sha in new if mode != _GITLINK_MODE]
    return list(map(itemgetter(2), new))


def _parse(sha: bytes, unpacked: UnpackedObject, allow_tags: bool) -> list[bytes]:
    """Check a commit, blob or tag as ``git fsck`` would (roughly); the objects it refers to.

    :class:`BadObject` when it is malformed.
    """
    name = sha.decode()
    kind = type_name(unpacked.obj_type_num)
    if unpacked.obj_type_num == Tag.type_num and not allow_tags:
        raise BadObject(f"the pack holds the annotated tag {name}: tags cannot be pushed here")
    try:
        obj = ShaFile.from_raw_chunks(unpacked.obj_type_num, unpacked.obj_chunks, object_format=SHA1)
        obj.check()
    except Exception as exc:  # noqa: BLE001 - dulwich's parsers raise many kinds; all mean "malformed"
        raise BadObject(f"the {kind} {name} is malformed: {exc}") from None
    strict = _STRICT_CHECKS.get(unpacked.obj_type_num)
    problem = strict(b"".join(unpacked.obj_chunks)) if strict else None
    if problem:
        raise BadObject(f"the {kind} {name} is malformed: {problem}")
    if isinstance(obj, Commit):
        return [obj.tree, *obj.parents]
    if isinstance(obj, Tag):
        return [obj.object[1]]
    return []


#: git fsck's rules beyond dulwich's checks, by object type.
_STRICT_CHECKS = {Commit.type_num: commit_problem, Tag.type_num: tag_problem}


def _sample(shas: list[bytes]) -> str:
    names = sorted(sha.decode() if isinstance(sha, bytes) else str(sha) for sha in shas)
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
