"""upload-pack over stateless HTTP, protocol v0/v1 and v2.

Every POST carries the whole state of the negotiation (wants, the common
haves found so far, new haves), so each request is answered on its own:
acknowledgments in git's exact multi_ack_detailed/no-done semantics (v0)
or its acknowledgments section (v2), and the pack once git would send it.
The pack streams; everything before it is decided first, so a bad request
is answered with one ``ERR`` line rather than a broken pack.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version

from gitaccess.errors import GitAccessError
from gitaccess.protocol.objects import TAG, peel
from gitaccess.protocol.packs import DeltaPolicy, PackWriter
from gitaccess.protocol.pktline import (
    DELIM_PKT,
    FLUSH_PKT,
    Marker,
    PktReader,
    ProtocolError,
    Sideband,
    pkt_line,
    text_line,
)
from gitaccess.protocol.repository import ServedRepository
from gitaccess.protocol.selection import Deepen, History, Selection

log = logging.getLogger(__name__)

try:
    AGENT = f"gitaccess/{version('gitaccess')}"
except PackageNotFoundError:  # running from a source tree that was never installed
    AGENT = "gitaccess/unknown"

ZERO_ID = b"0" * 40
V0_CAPABILITIES = (
    b"multi_ack multi_ack_detailed no-done side-band side-band-64k thin-pack ofs-delta shallow "
    b"deepen-since deepen-relative no-progress include-tag"
)
V2_CAPABILITIES = (f"agent={AGENT}", "ls-refs=unborn", "fetch=shallow", "object-format=sha1")
SIDEBAND_64K = 65520
SIDEBAND = 1000
#: Seconds between two updates of a progress line.
PROGRESS_INTERVAL = 0.5
_OID = re.compile(rb"[0-9a-f]{40}")


@dataclass
class FetchRequest:
    """What a fetch asks for, whichever protocol version carried it."""

    wants: list[bytes] = field(default_factory=list)
    haves: list[bytes] = field(default_factory=list)
    shallows: list[bytes] = field(default_factory=list)
    deepen: Deepen = Deepen()
    capabilities: set[bytes] = field(default_factory=set)
    done: bool = False
    #: v0 only: the request ended right after the wants (a deepen request asking for shallow lines first).
    wants_only: bool = False


@dataclass(frozen=True)
class FetchLimits:
    """The most one negotiation round may name: every have costs a lookup in the history."""

    max_wants: int = 10_000
    max_haves: int = 20_000

    def check(self, request: FetchRequest) -> None:
        """Raises ProtocolError for a round over a limit, before any of it is looked up."""
        if len(request.wants) > self.max_wants:
            raise ProtocolError(f"the fetch wants {len(request.wants)} objects in one request, more than this "
                                f"server's limit of {self.max_wants}: fetch fewer refs at a time")
        if len(request.haves) > self.max_haves:
            raise ProtocolError(f"the fetch sends {len(request.haves)} haves in one round, more than this "
                                f"server's limit of {self.max_haves}: fetch into a fresh clone, or ask the "
                                f"server's administrator to raise the limit")


@dataclass(frozen=True)
class Transfer:
    """How the pack travels to this client."""

    sideband: int | None
    ofs_delta: bool
    thin: bool
    progress: bool


class Reply:
    """A response body: the negotiation's lines, then the pack when there is one.

    The pack's object list is made here, before the response starts, so that
    a failure to list it still becomes an ``ERR`` line and not a cut-off pack.
    """

    def __init__(self, head: bytes, pack: tuple[History, Selection, Transfer] | None = None) -> None:
        self.head = head
        self._pack = pack
        if pack is not None and not pack[1].whole:
            pack[1].entries  # noqa: B018 - computed now, on purpose (see above)

    def __iter__(self) -> Iterator[bytes]:
        if self.head:
            yield self.head
        if self._pack is not None:
            yield from _stream_pack(*self._pack)


def _oid(value: bytes, line: bytes) -> bytes:
    if not _OID.fullmatch(value):
        raise ProtocolError(f"expected a 40-digit object name in {line[:100]!r}")
    return value


def _number(value: bytes, line: bytes) -> int:
    if not value.isdigit():
        raise ProtocolError(f"expected a number in {line[:100]!r}")
    return int(value)


def _shallow_argument(request: FetchRequest, word: bytes, value: bytes, line: bytes) -> bool:
    """Take a shallow/deepen line of either protocol version; False when it is something else."""
    if word == b"shallow":
        request.shallows.append(_oid(value, line))
    elif word == b"deepen":
        depth = _number(value, line)
        if depth <= 0:
            raise ProtocolError(f"invalid deepen depth in {line!r}")
        request.deepen = replace(request.deepen, depth=depth)
    elif word == b"deepen-relative":
        request.deepen = replace(request.deepen, relative=True)
    elif word == b"deepen-since":
        request.deepen = replace(request.deepen, since=_number(value, line))
    elif word in (b"deepen-not", b"filter"):
        raise ProtocolError(f"{word.decode()} is not supported by this server")
    else:
        return False
    if request.deepen.depth and request.deepen.since is not None:
        raise ProtocolError("deepen and deepen-since cannot be used together")
    return True


class _Haves:
    """What the client's haves tell: which objects we share, and the line positions it holds."""

    def __init__(self, history: History, want_positions: list[int]) -> None:
        self._history = history
        self._lowest_want = min(want_positions)
        self.known: dict[bytes, None] = {}
        self.common = -1
        self._lowest: int | None = None

    def add(self, sha: bytes) -> bool:
        known, position = self._history.have(sha)
        if known:
            self.known[sha] = None
            if position is not None:
                self.common = max(self.common, position)
                self._lowest = position if self._lowest is None else min(self._lowest, position)
        return known

    def ready(self) -> bool:
        """git's ok_to_give_up: every want has a common commit below it."""
        return self._lowest is not None and self._lowest <= self._lowest_want


def advertise_v2() -> bytes:
    """The body of ``info/refs?service=git-upload-pack`` in protocol v2: capabilities only.

    It needs no repository: the refs come with ``ls-refs``, so the history
    is brought up to date once, for the request that reads it.
    """
    return b"".join(text_line(c) for c in ("version 2", *V2_CAPABILITIES)) + FLUSH_PKT


class UploadPack:
    """Answers upload-pack requests for one served repository."""

    def __init__(self, repo: ServedRepository, limits: FetchLimits = FetchLimits()) -> None:
        self.repo = repo
        self.limits = limits

    # ------------------------------------------------------------------ advertisement
    def advertise(self, protocol: int) -> bytes:
        """The body of ``info/refs?service=git-upload-pack`` in protocol v0 or v1 (v2: see
        :func:`advertise_v2`)."""
        out = [text_line("# service=git-upload-pack"), FLUSH_PKT]
        if protocol == 1:
            out.append(text_line("version 1"))
        history = History(self.repo)
        head = self.repo.head()
        capabilities = V0_CAPABILITIES
        if head in history.refs:
            capabilities += b" symref=HEAD:" + head
        capabilities += f" agent={AGENT} object-format=sha1".encode()
        lines = []
        for name, sha, peeled in self._refs(history, include_head=head in history.refs):
            lines.append((name, sha))
            if peeled:
                lines.append((name + b"^{}", peeled))
        if not lines:
            lines = [(b"capabilities^{}", ZERO_ID)]
        first, *rest = lines
        out.append(pkt_line(first[1] + b" " + first[0] + b"\0" + capabilities + b"\n"))
        out += [text_line(sha + b" " + name) for name, sha in rest]
        out.append(FLUSH_PKT)
        return b"".join(out)

    def _refs(self, history: History, include_head: bool) -> list[tuple[bytes, bytes, bytes | None]]:
        """(name, object, peeled object of an annotated tag or None), HEAD first, then by name."""
        refs = history.refs
        listed = ([(b"HEAD", refs[self.repo.head()])] if include_head else []) + sorted(refs.items())
        result = []
        for name, sha in listed:
            peeled = None
            if name.startswith(b"refs/tags/") and history.store.get_raw(sha)[0] == TAG:
                peeled = peel(history.store, sha)
            result.append((name, sha, peeled))
        return result

    # ------------------------------------------------------------------ requests
    def serve(self, protocol: int, body: bytes) -> Reply:
        """Answer one POST to ``git-upload-pack``.

        Raises ProtocolError (NotOurRef among them) for a bad request, and
        MissingObject when the served history lacks an object it names.
        """
        return self._serve_v2(body) if protocol == 2 else self._serve_v0(body)

    def _serve_v0(self, body: bytes) -> Reply:
        request = _parse_v0(body)
        self.limits.check(request)
        if not request.wants:
            return Reply(b"")  # nothing wanted (also git's 4-byte probe before a chunked request)
        _check_object_format(request.capabilities)
        history = History(self.repo)
        haves = _Haves(history, [history.want(w) for w in request.wants])
        out: list[bytes] = []
        caps = request.capabilities
        ack_lines, send_pack = ([], False) if request.wants_only else _acknowledge_v0(request, haves)
        selection = None
        if request.deepen.requested or send_pack:
            selection = history.select(request.wants, haves.common, request.shallows, request.deepen,
                                       b"include-tag" in caps)
        if request.deepen.requested and selection is not None:
            out += [text_line(b"shallow " + c) for c in selection.shallow]
            out += [text_line(b"unshallow " + c) for c in selection.unshallow]
            out.append(FLUSH_PKT)
        out += [text_line(line) for line in ack_lines]
        if not send_pack or selection is None:
            return Reply(b"".join(out))
        sideband = SIDEBAND_64K if b"side-band-64k" in caps else SIDEBAND if b"side-band" in caps else None
        transfer = Transfer(sideband, b"ofs-delta" in caps, b"thin-pack" in caps,
                            sideband is not None and b"no-progress" not in caps)
        return Reply(b"".join(out), (history, selection, transfer))

    def _serve_v2(self, body: bytes) -> Reply:
        reader = PktReader(body)
        if reader.at_end:
            return Reply(b"")
        command = reader.read_line()
        if command is Marker.FLUSH:
            return Reply(b"")
        if not isinstance(command, bytes) or not command.startswith(b"command="):
            raise ProtocolError(f"expected command=<name>, got {command!r}")
        capabilities = []
        while True:
            packet = reader.read_line()
            if packet is Marker.FLUSH:
                arguments: list[bytes] = []
                break
            if packet is Marker.DELIM:
                arguments = reader.lines_until(Marker.FLUSH)
                break
            if not isinstance(packet, bytes):
                raise ProtocolError(f"unexpected {packet.name.lower()}-pkt among the capabilities")
            capabilities.append(packet)
        _check_object_format(set(capabilities))
        name = command[len(b"command="):]
        if name == b"ls-refs":
            return Reply(self._ls_refs(arguments))
        if name == b"fetch":
            return self._fetch_v2(arguments)
        raise ProtocolError(f"unknown command {name.decode(errors='replace')!r}")

    def _ls_refs(self, arguments: list[bytes]) -> bytes:
        symrefs = b"symrefs" in arguments
        peel_tags = b"peel" in arguments
        prefixes = [a[len(b"ref-prefix "):] for a in arguments if a.startswith(b"ref-prefix ")]
        history = History(self.repo)
        head = self.repo.head()
        wanted = lambda name: not prefixes or any(name.startswith(p) for p in prefixes)  # noqa: E731
        out = []
        if head not in history.refs and b"unborn" in arguments and wanted(b"HEAD"):
            out.append(text_line(b"unborn HEAD" + (b" symref-target:" + head if symrefs else b"")))
        for name, sha, peeled in self._refs(history, include_head=head in history.refs):
            if wanted(name):
                line = sha + b" " + name
                if name == b"HEAD" and symrefs:
                    line += b" symref-target:" + head
                if peeled and peel_tags:
                    line += b" peeled:" + peeled
                out.append(text_line(line))
        return b"".join(out) + FLUSH_PKT

    def _fetch_v2(self, arguments: list[bytes]) -> Reply:
        request = FetchRequest()
        for line in arguments:
            word, _, value = line.partition(b" ")
            if word == b"want":
                request.wants.append(_oid(value, line))
            elif word == b"have":
                request.haves.append(_oid(value, line))
            elif line in (b"done", b"thin-pack", b"ofs-delta", b"no-progress", b"include-tag"):
                request.capabilities.add(line)
            elif not _shallow_argument(request, word, value, line):
                raise ProtocolError(f"unexpected fetch argument {line[:100]!r}")
        self.limits.check(request)
        if not request.wants:
            return Reply(b"")
        caps = request.capabilities
        history = History(self.repo)
        haves = _Haves(history, [history.want(w) for w in request.wants])
        for sha in request.haves:
            haves.add(sha)
        out = []
        if request.haves and b"done" not in caps:
            out.append(text_line("acknowledgments"))
            out += [text_line(b"ACK " + sha) for sha in haves.known] or [text_line("NAK")]
            if not haves.ready():
                return Reply(b"".join(out) + FLUSH_PKT)
            out += [text_line("ready"), DELIM_PKT]
        selection = history.select(request.wants, haves.common, request.shallows, request.deepen,
                                   b"include-tag" in caps)
        if request.deepen.requested or request.shallows:
            out.append(text_line("shallow-info"))
            out += [text_line(b"shallow " + c) for c in selection.shallow]
            out += [text_line(b"unshallow " + c) for c in selection.unshallow]
            out.append(DELIM_PKT)
        out.append(text_line("packfile"))
        transfer = Transfer(SIDEBAND_64K, b"ofs-delta" in caps, b"thin-pack" in caps, b"no-progress" not in caps)
        return Reply(b"".join(out), (history, selection, transfer))


def _check_object_format(capabilities: set[bytes]) -> None:
    for capability in capabilities:
        if capability.startswith(b"object-format=") and capability != b"object-format=sha1":
            raise ProtocolError(f"this repository uses sha1, not {capability[len(b'object-format='):].decode()}")


def _parse_v0(body: bytes) -> FetchRequest:
    """Wants (first with capabilities), shallow and deepen lines, flush; then haves to a flush or done."""
    request = FetchRequest()
    reader = PktReader(body)
    if reader.at_end:
        return request
    for line in reader.lines_until(Marker.FLUSH):
        word, _, value = line.partition(b" ")
        if word == b"want":
            sha, _, features = value.partition(b" ")
            if not request.wants:
                request.capabilities = set(features.split())
                if b"deepen-relative" in request.capabilities:  # a capability in v0, a line in v2
                    request.deepen = replace(request.deepen, relative=True)
            request.wants.append(_oid(sha, line))
        elif not _shallow_argument(request, word, value, line):
            raise ProtocolError(f"expected want, shallow or deepen, got {line[:100]!r}")
    if reader.at_end:
        request.wants_only = True
        return request
    while True:
        packet = reader.read_line()
        if packet is Marker.FLUSH:
            return request
        if packet == b"done":
            request.done = True
            return request
        if not isinstance(packet, bytes) or not packet.startswith(b"have "):
            raise ProtocolError(f"expected have or done, got {packet!r}"[:120])
        request.haves.append(_oid(packet[5:], packet))


def _acknowledge_v0(request: FetchRequest, haves: _Haves) -> tuple[list[bytes], bool]:
    """git's get_common_commits for one stateless round: the ACK/NAK lines, and whether the pack follows."""
    caps = request.capabilities
    detailed = b"multi_ack_detailed" in caps
    multi_ack = detailed or b"multi_ack" in caps
    lines: list[bytes] = []
    got_common = got_other = sent_ready = False
    last = b""
    for sha in request.haves:
        if not haves.add(sha):
            got_other = True
            if multi_ack and haves.ready():
                sent_ready = sent_ready or detailed
                lines.append(b"ACK " + sha + (b" ready" if detailed else b" continue"))
            continue
        got_common = True
        last = sha
        if detailed:
            lines.append(b"ACK " + sha + b" common")
        elif multi_ack:
            lines.append(b"ACK " + sha + b" continue")
        elif len(haves.known) == 1:
            lines.append(b"ACK " + sha)
    if request.done:
        if not haves.known:
            lines.append(b"NAK")
        elif multi_ack:
            lines.append(b"ACK " + last)
        return lines, True
    if detailed and got_common and not got_other and haves.ready():
        sent_ready = True
        lines.append(b"ACK " + last + b" ready")
    if not haves.known or multi_ack:
        lines.append(b"NAK")
    if b"no-done" in caps and sent_ready:
        lines.append(b"ACK " + last)
        return lines, True
    return lines, False


def _stream_pack(history: History, selection: Selection, transfer: Transfer) -> Iterator[bytes]:
    """The pack, framed for the client, with progress; a flush-pkt ends a side-band stream."""
    out: list[bytes] = []
    band = Sideband(out.append, transfer.sideband)
    progress = _Progress(band, transfer.progress)
    ready = history.repo.whole_pack() if selection.whole and transfer.ofs_delta else None
    if ready is not None:
        yield from _stream_ready_pack(band, progress, out, *ready)
        if transfer.sideband:
            yield FLUSH_PKT
        return
    entries = selection.entries
    total = len(entries)
    progress.done("Counting objects", total)
    writer = PackWriter(band.write, history.store, total, {e.sha for e in entries},
                        DeltaPolicy(transfer.ofs_delta, transfer.thin and selection.bases_on_client))
    try:
        for number, entry in enumerate(entries, 1):
            writer.add(entry)
            progress.update("Compressing objects", number, total)
            if out:
                yield from out
                out.clear()
        writer.finish()
    except GitAccessError as exc:
        log.error("upload-pack: cannot finish the pack: %s", exc)
        band.fatal(f"error: {exc}; the fetch was aborted\n")
        yield from out
        return
    progress.done("Compressing objects", total)
    stats = writer.stats
    band.flush()
    progress.line(f"Total {total} (delta {stats.deltas}), reused 0 (delta 0), pack-reused 0\n")
    log.info("upload-pack: sent %d objects, %d as deltas (%d against objects the client has)",
             total, stats.deltas, stats.thin_deltas)
    if transfer.sideband:
        out.append(FLUSH_PKT)
    yield from out


def _stream_ready_pack(band: Sideband, progress: _Progress, out: list[bytes], total: int,
                       entries: Iterator[bytes]) -> Iterator[bytes]:
    """A clone's pack from the entries the repository keeps ready: copied, not recomputed."""
    progress.done("Counting objects", total)
    digest = hashlib.sha1()
    header = b"PACK" + struct.pack(">II", 2, total)
    sent = 0
    for block in itertools.chain([header], entries):
        digest.update(block)
        band.write(block)
        sent += len(block)
        progress.update_bytes("Sending objects", sent)
        yield from out
        out.clear()
    band.write(digest.digest())
    band.flush()
    progress.line(f"Total {total}, reused {total}, pack-reused {total}\n")
    log.info("upload-pack: sent the whole history, %d objects in %d bytes, as kept ready", total, sent)
    yield from out
    out.clear()


class _Progress:
    """git-style progress lines on side-band 2, updated at most every PROGRESS_INTERVAL."""

    def __init__(self, band: Sideband, enabled: bool) -> None:
        self._band = band
        self._enabled = enabled
        self._last = time.monotonic()

    def update(self, title: str, done: int, total: int) -> None:
        now = time.monotonic()
        if self._enabled and now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            self._band.progress(f"{title}: {done * 100 // total:3d}% ({done}/{total})\r")

    def update_bytes(self, title: str, sent: int) -> None:
        now = time.monotonic()
        if self._enabled and now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            self._band.progress(f"{title}: {sent / (1 << 20):.2f} MiB\r")

    def done(self, title: str, total: int) -> None:
        self.line(f"{title}: 100% ({total}/{total}), done.\n")

    def line(self, text: str) -> None:
        if self._enabled:
            self._band.progress(text)
