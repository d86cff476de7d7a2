"""receive-pack over stateless HTTP (protocol v0/v1): the protocol, not the policy.

One POST carries the ref commands and the pack. The pack streams into a
:class:`~gitaccess.protocol.quarantine.Quarantine` under the configured
limits, every object is checked there, and only then does the
:class:`PushDecider` see the push: what it accepts is its to apply, inside
its own transaction, and what it reports is what the client is told, ref by
ref. Nothing here writes to the served history, so a refused, broken or
abandoned push leaves nothing behind.

The answer is written while the push is judged (``write`` is WSGI's
``write()`` callable), so the decider's progress reaches the client as
``remote:`` lines as it happens, on side-band 2, and the report-status
(v1 or v2, the same lines here) follows on band 1.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dulwich.refs import check_ref_format

from gitaccess.errors import GitAccessError
from gitaccess.protocol.account import Account
from gitaccess.protocol.body import CHUNK, BodyCutShort, BodyGarbled, RequestBody
from gitaccess.protocol.incoming import PackLimits, PackRefused, PackTooLarge, copy_pack
from gitaccess.protocol.memory import MemoryCeiling
from gitaccess.protocol.pktline import (
    FLUSH_PKT,
    MAX_PKT_LENGTH,
    ProtocolError,
    Sideband,
    error_line,
    pkt_line,
    text_line,
)
from gitaccess.protocol.quarantine import Quarantine, QuarantinedObjects
from gitaccess.protocol.repository import ServedRepository
from gitaccess.protocol.upload_pack import AGENT, PROGRESS_INTERVAL, ZERO_ID

log = logging.getLogger(__name__)

#: What this receive-pack implements. ``delete-refs`` because deletions are understood and refused
#: with a reason git shows (without it, git over HTTP prints a bare "[remote rejected]"); no
#: ``push-options``; no ``no-thin``: thin packs are completed from the served history.
CAPABILITIES = (f"report-status report-status-v2 delete-refs side-band-64k quiet atomic ofs-delta "
                f"agent={AGENT} object-format=sha1")
#: More ref updates than this in one push is not a person pushing a wiki.
MAX_COMMANDS = 1000
#: Most bytes of a refused push read (and discarded) so that git shows the refusal; see :func:`_drain`.
DRAIN_BYTES = 64 * 1024 * 1024
#: Longest reason sent in an ``ng`` line; the server's log has the rest.
MAX_REASON = 1000
#: The reason given for a failure of the server's own; the log has the traceback.
INTERNAL_ERROR = "internal server error (the server's log says more)"
#: Longest progress message (in characters; a side-band packet holds 65515 bytes).
MAX_MESSAGE = 4000
_OID = re.compile(rb"[0-9a-f]{40}")


@dataclass(frozen=True)
class RefUpdate:
    """One ref update a client asks for; 40 hex digits each, ``old`` is :data:`ZERO_ID` for a creation.

    Deletions (``new`` = :data:`ZERO_ID`) are refused before any decider sees them.
    """

    old: bytes
    new: bytes
    ref: bytes


@dataclass(frozen=True)
class PushResult:
    """What became of each ref: None when it now points at its ``new``, else why not (shown to the client).

    An ``unpack_error`` says the pushed objects themselves were not accepted;
    every ref is then reported as refused.
    """

    refs: dict[bytes, str | None]
    unpack_error: str | None = None

    @classmethod
    def refuse_all(cls, commands: list[RefUpdate], reason: str) -> PushResult:
        return cls({command.ref: reason for command in commands})


class PushDecider(Protocol):
    """Judges and applies a push whose objects have all been received and checked.

    It must apply all of ``commands`` or none (docs/repository.md, Push: all or nothing;
    that is also what the ``atomic`` capability promises), compare each
    ref's ``old`` with its current value itself, and report only what really
    happened. ``progress`` sends one line to the client (``remote: ...``).
    """

    def __call__(self, account: Account, commands: list[RefUpdate], objects: QuarantinedObjects,
                 progress: Callable[[str], None]) -> PushResult: ...


@dataclass(frozen=True)
class PushSettings:
    """Where pushes wait while judged, and the most one push may send."""

    quarantine_root: Path
    max_pack_bytes: int = 1024 * 1024 * 1024
    max_objects: int = 1_000_000
    max_object_bytes: int = 100 * 1024 * 1024
    max_inflated_bytes: int = 1024 * 1024 * 1024
    max_tree_bytes: int = 16 * 1024 * 1024
    #: The most memory the serving process may hold while it takes in a push.
    max_memory: int = 2 * 1024 * 1024 * 1024
    #: Annotated tag objects may be pushed (docs/repository.md, Push: no tags unless configured).
    allow_tags: bool = False

    @property
    def limits(self) -> PackLimits:
        return PackLimits(self.max_pack_bytes, self.max_objects, self.max_object_bytes, self.max_inflated_bytes,
                          self.max_tree_bytes)


def advertise(repo: ServedRepository, protocol: int) -> bytes:
    """The body of ``info/refs?service=git-receive-pack``: v0, or v1 when asked (there is no v2 push)."""
    out = [text_line("# service=git-receive-pack"), FLUSH_PKT]
    if protocol == 1:
        out.append(text_line("version 1"))
    refs = sorted(repo.refs().items()) or [(b"capabilities^{}", ZERO_ID)]
    (first_name, first_sha), *rest = refs
    out.append(pkt_line(first_sha + b" " + first_name + b"\0" + CAPABILITIES.encode() + b"\n"))
    out += [text_line(sha + b" " + name) for name, sha in rest]
    out.append(FLUSH_PKT)
    return b"".join(out)


class _Output:
    """The response body as it is written; a client that went away stops the writing, not the push."""

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self._write = write
        self.gone = False

    def __call__(self, data: bytes) -> None:
        if self.gone:
            return
        try:
            self._write(data)
        except OSError as exc:
            self.gone = True
            log.info("push client went away while being answered: %s", exc)


class _Session:
    """One push's answer: progress on band 2 when the client asked for side-band, then the report."""

    def __init__(self, output: _Output, capabilities: set[bytes]) -> None:
        self._output = output
        self._sideband = b"side-band-64k" in capabilities
        self._band = Sideband(output, MAX_PKT_LENGTH if self._sideband else None)
        self._report = bool({b"report-status", b"report-status-v2"} & capabilities)
        self.quiet = b"quiet" in capabilities
        self.atomic = b"atomic" in capabilities
        self._last_progress = 0.0

    def message(self, text: str) -> None:
        """One line for the client's terminal (``remote: text``)."""
        text = text[:MAX_MESSAGE]
        self._band.progress(text if text.endswith(("\n", "\r")) else text + "\n")

    def counter(self, title: str, done: int, total: int) -> None:
        """A progress meter updated in place, at most every :data:`PROGRESS_INTERVAL` seconds."""
        if self.quiet:
            return
        now = time.monotonic()
        if done == total:
            self.message(f"{title}: 100% ({done}/{total}), done.\n")
        elif now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self.message(f"{title}: {100 * done // total}% ({done}/{total})\r")

    def report(self, commands: list[RefUpdate], result: PushResult) -> None:
        """report-status: ``unpack ok`` or the error, then ``ok <ref>`` or ``ng <ref> <reason>`` each."""
        if self._report:
            lines = [b"unpack " + (_one_line(result.unpack_error) if result.unpack_error else b"ok")]
            for command in commands:
                reason = result.refs.get(command.ref, "the server made no decision on this ref")
                if result.unpack_error and reason is None:
                    reason = "unpacker error"
                lines.append(b"ok " + command.ref if reason is None
                             else b"ng " + command.ref + b" " + _one_line(reason))
            payload = b"".join(text_line(line) for line in lines) + FLUSH_PKT
            self._band.write(payload)
            self._band.flush()
        if self._sideband:
            self._output(FLUSH_PKT)


class ReceivePack:
    """Serves one POST to ``git-receive-pack`` for an account the gate let push."""

    def __init__(self, repo: ServedRepository, decide: PushDecider, settings: PushSettings) -> None:
        self.repo = repo
        self.decide = decide
        self.settings = settings

    def serve(self, account: Account, body: RequestBody, write: Callable[[bytes], object]) -> None:
        """Read the push from ``body``, judge it, answer through ``write``; never raises for the client's faults."""
        output = _Output(write)
        try:
            commands, capabilities = _read_commands(body)
        except BodyCutShort as exc:
            log.warning("push by %s abandoned, nothing kept: %s", account.name, exc)
            return
        except (ProtocolError, BodyGarbled) as exc:
            log.warning("push by %s refused: %s", account.name, exc)
            output(error_line(str(exc)))
            _drain(body)
            return
        if not commands:
            return  # git's probe before a chunked push, or a client with nothing to update
        session = _Session(output, capabilities)
        refused = _refused_by_protocol(commands)
        if all(command.new == ZERO_ID for command in commands):
            session.report(commands, PushResult(refused))  # deletions only: no pack follows
            return
        try:
            result = self._push(account, commands, refused, body, session)
        except BodyCutShort as exc:
            log.warning("push by %s abandoned, nothing kept: %s", account.name, exc)
            return
        except (PackRefused, BodyGarbled) as exc:
            log.warning("push by %s refused while unpacking, after reading %d bytes of the request: %s",
                        account.name, body.received, exc)
            result = PushResult({c.ref: str(exc) for c in commands}, str(exc))
        except Exception:  # noqa: BLE001 - the client gets one line, the log gets the traceback
            log.exception("push by %s failed", account.name)
            result = PushResult.refuse_all(commands, INTERNAL_ERROR)
        else:
            log.info("push by %s: %s", account.name, _summary(commands, result))
        session.report(commands, result)
        _drain(body)

    def _push(self, account: Account, commands: list[RefUpdate], refused: dict[bytes, str], body: RequestBody,
              session: _Session) -> PushResult:
        """Receive the pack into a quarantine and judge the push; the quarantine is gone on return."""
        with Quarantine(self.settings.quarantine_root) as quarantine:
            objects = self._receive(quarantine, body, session)
            refused = {**refused, **_missing_tips(commands, objects, refused)}
            return self._judge(account, commands, refused, objects, session)

    def _receive(self, quarantine: Quarantine, body: RequestBody, session: _Session) -> QuarantinedObjects:
        limits = self.settings.limits
        remaining = body.remaining
        if remaining is not None and remaining > limits.max_bytes:
            raise PackTooLarge(f"the pack of {remaining} bytes exceeds the limit of {limits.max_bytes} bytes "
                               f"for one push: push fewer or smaller changes at a time")
        with quarantine.open_pack_file() as sink:
            copy_pack(body.read, sink, limits)
        objects = quarantine.objects(self.repo.object_store(), self.settings.allow_tags,
                                     lambda done, total: session.counter("Checking objects", done, total),
                                     self.settings.max_tree_bytes, MemoryCeiling(self.settings.max_memory))
        log.info("received a pack of %d objects (%d deltas against served objects) in %s",
                 len(objects), len(objects.external_bases), quarantine.path)
        return objects

    def _judge(self, account: Account, commands: list[RefUpdate], refused: dict[bytes, str],
               objects: QuarantinedObjects, session: _Session) -> PushResult:
        """Ask the decider about the commands the protocol let through.

        Each progress message the decider sends is also a look at the memory
        ceiling: past it, the decider's work ends with the refusal.
        """
        if refused and session.atomic:
            reason = "atomic push failed: " + "; ".join(f"{r.decode()}: {why}" for r, why in refused.items())
            return PushResult({c.ref: refused.get(c.ref, reason) for c in commands})
        candidates = [c for c in commands if c.ref not in refused]
        if not candidates:
            return PushResult(dict(refused))
        ceiling = MemoryCeiling(self.settings.max_memory)

        def progress(message: str) -> None:
            ceiling.check()
            session.message(message)

        try:
            result = self.decide(account, candidates, objects, progress)
        except GitAccessError as exc:
            log.warning("push by %s refused: %s", account.name, exc)
            result = PushResult.refuse_all(candidates, str(exc))
        except Exception:  # noqa: BLE001 - the client gets one line, the log gets the traceback
            log.exception("the push decider failed on a push by %s", account.name)
            result = PushResult.refuse_all(candidates, INTERNAL_ERROR)
        return PushResult({**result.refs, **refused}, result.unpack_error)


def _summary(commands: list[RefUpdate], result: PushResult) -> str:
    return ", ".join(f"{c.ref.decode(errors='replace')} {'ok' if result.refs.get(c.ref, '') is None else 'refused'}"
                     for c in commands)


def _drain(body: RequestBody) -> None:
    """Read and discard what the client still sends after the answer, up to :data:`DRAIN_BYTES`.

    After a refusal mid-pack the answer is out already, but curl goes on
    sending the pack; if the server closed the connection under it, git
    would report a broken connection instead of the refusal, and post the
    rest of the pack as new requests. Nothing read here is kept.
    """
    stop = body.received + DRAIN_BYTES
    try:
        while body.received < stop and body.read(CHUNK):
            pass
    except BodyCutShort:
        pass


def _one_line(text: str) -> bytes:
    flat = " ".join(text.split())
    return (flat[: MAX_REASON - 3] + "..." if len(flat) > MAX_REASON else flat).encode("utf-8", "replace")


def _read_commands(body: RequestBody) -> tuple[list[RefUpdate], set[bytes]]:
    """The ref commands and the capabilities on the first; ([], ...) for an empty request or the probe."""
    commands: list[RefUpdate] = []
    capabilities: set[bytes] = set()
    seen: set[bytes] = set()
    while (packet := _read_packet(body, first=not commands)) is not None:
        if not commands:
            packet, _, caps = packet.partition(b"\0")
            capabilities = set(caps.split())
            _check_capabilities(capabilities)
        command = _parse_command(packet)
        if command.ref in seen:
            raise ProtocolError(f"the push names {command.ref.decode(errors='replace')} twice")
        if len(commands) >= MAX_COMMANDS:
            raise ProtocolError(f"more than {MAX_COMMANDS} ref updates in one push: push fewer refs at a time")
        seen.add(command.ref)
        commands.append(command)
    return commands, capabilities


def _read_packet(body: RequestBody, first: bool) -> bytes | None:
    """The next command pkt-line's payload without its newline; None at the flush-pkt (or an empty body)."""
    header = body.read_up_to(4)
    if not header:
        if first:
            return None
        raise ProtocolError("the request ended before the end of the ref commands (no flush-pkt)")
    if not re.fullmatch(rb"[0-9a-fA-F]{4}", header):
        raise ProtocolError(f"bad pkt-line length {header!r}: expected 4 hex digits")
    length = int(header, 16)
    if length == 0:
        return None
    if length < 5 or length > MAX_PKT_LENGTH:
        raise ProtocolError(f"bad pkt-line length {length} in the ref commands")
    payload = body.read_up_to(length - 4)
    if len(payload) < length - 4:
        raise ProtocolError("the request ended in the middle of a pkt-line")
    return payload[:-1] if payload.endswith(b"\n") else payload


def _check_capabilities(capabilities: set[bytes]) -> None:
    for capability in capabilities:
        if capability.startswith(b"object-format=") and capability != b"object-format=sha1":
            raise ProtocolError(f"this server speaks SHA-1 only, not {capability[14:].decode(errors='replace')}")
        if capability in (b"push-options", b"push-cert") or capability.startswith(b"push-cert="):
            raise ProtocolError(f"{capability.decode(errors='replace')} is not supported by this server")


def _parse_command(packet: bytes) -> RefUpdate:
    if packet.startswith(b"shallow "):
        raise ProtocolError("pushing from a shallow clone is not supported: run git fetch --unshallow, then push")
    parts = packet.split(b" ")
    if len(parts) != 3 or not _OID.fullmatch(parts[0]) or not _OID.fullmatch(parts[1]):
        raise ProtocolError(f"expected '<old> <new> <ref>' in the ref commands, got {packet[:100]!r}")
    return RefUpdate(parts[0], parts[1], parts[2])


def _refused_by_protocol(commands: list[RefUpdate]) -> dict[bytes, str]:
    """Commands no decider is asked about: deletions and names git itself would not accept."""
    refused = {}
    for command in commands:
        if not command.ref.startswith(b"refs/") or not check_ref_format(command.ref):
            refused[command.ref] = "funny refname"
        elif command.new == ZERO_ID:
            refused[command.ref] = "deleting refs is not supported: the wiki keeps its history"
    return refused


def _missing_tips(commands: list[RefUpdate], objects: QuarantinedObjects, refused: dict[bytes, str]) -> dict[bytes, str]:
    """Refs whose new value is neither in the pack nor on the server (git's "missing necessary objects")."""
    return {c.ref: "missing necessary objects" for c in commands if c.ref not in refused and c.new not in objects}
