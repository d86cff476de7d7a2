"""The smart-HTTP endpoints: ``info/refs``, ``git-upload-pack`` and ``git-receive-pack``.

Only smart HTTP is served: the dumb protocol would hand out files of a
repository that does not exist on disk. Request bodies are read to the end
of ``request.stream`` whatever their framing (the WSGI server has already
undone chunked encoding, both Werkzeug's and gunicorn's), gunzipped when
git compressed them, and bounded; a push's body is read as a stream
instead, under the push limits (see :mod:`gitaccess.protocol.receive_pack`).
Every refusal is one line a person can act on, and one line in the
server's log.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Request, Response, g, request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import ClientDisconnected

from gitaccess.errors import GitAccessError
from gitaccess.protocol.body import RequestBody
from gitaccess.protocol.gate import Gate, Refusal
from gitaccess.protocol.pktline import error_line
from gitaccess.protocol.receive_pack import PushDecider, PushSettings, ReceivePack, advertise
from gitaccess.protocol.repository import ServedRepository
from gitaccess.protocol.upload_pack import FetchLimits, UploadPack, advertise_v2

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

#: Largest request body accepted, before and after gunzipping. Negotiation bodies are small.
MAX_REQUEST_BYTES = 32 * 1024 * 1024
ADVERTISEMENT = "application/x-git-upload-pack-advertisement"
REQUEST = "application/x-git-upload-pack-request"
RESULT = "application/x-git-upload-pack-result"
PUSH_ADVERTISEMENT = "application/x-git-receive-pack-advertisement"
PUSH_REQUEST = "application/x-git-receive-pack-request"
PUSH_RESULT = "application/x-git-receive-pack-result"
NO_CACHE = {
    "Cache-Control": "no-cache, max-age=0, must-revalidate",
    "Expires": "Fri, 01 Jan 1980 00:00:00 GMT",
    "Pragma": "no-cache",
}


class BadBody(GitAccessError):
    """The request body cannot be read as sent; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def git_blueprint(get_repository: Callable[[], ServedRepository], gate: Gate, decide: PushDecider | None = None,
                  push_settings: PushSettings | None = None, fetch_limits: FetchLimits = FetchLimits()) -> Blueprint:
    """Routes for ``/<repo>.git`` and ``/<repo>`` (the configured name), behind ``gate``.

    Pushing is enabled by a ``decide`` function, which judges and applies
    each push; ``push_settings`` default to a quarantine under the data
    directory and the default limits. ``fetch_limits`` bound each round of
    a fetch's negotiation.
    """
    blueprint = Blueprint("git", __name__)
    name = gate.config.repository
    settings = push_settings or PushSettings(gate.config.data_directory / "quarantine")

    @blueprint.before_request
    def admit() -> Response | None:
        pushing = _is_push(request)
        if pushing and decide is None:
            return _text(403, "service 'git-receive-pack' is not offered here: pushing is not enabled on this server")
        try:
            g.account = gate.admit_push(request) if pushing else gate.admit(request)
        except Refusal as refusal:
            log.info("%s %s from %s: %d %s", request.method, request.path, request.remote_addr,
                     refusal.status, refusal)
            return _text(refusal.status, str(refusal), refusal.headers)
        return None

    def info_refs() -> Response:
        service = request.args.get("service")
        if service is None:
            return _text(403, "this server speaks smart HTTP only (dumb HTTP is not served): "
                              "use git 1.6.6 or newer")
        if service == "git-receive-pack":
            body = advertise(get_repository(), _push_protocol_version(request))
            return Response(body, content_type=PUSH_ADVERTISEMENT, headers=NO_CACHE)
        if service != "git-upload-pack":
            return _text(403, f"service {service!r} is not offered here")
        version = _protocol_version(request)
        body = advertise_v2() if version == 2 else UploadPack(get_repository()).advertise(version)
        return Response(body, content_type=ADVERTISEMENT, headers=NO_CACHE)

    def upload_pack() -> Response:
        if request.mimetype != REQUEST:
            return _text(415, f"expected a request of type {REQUEST}")
        try:
            body = read_body(request)
        except BadBody as exc:
            log.warning("upload-pack request from %s: %s", request.remote_addr, exc)
            return _text(exc.status, str(exc))
        session = UploadPack(get_repository(), fetch_limits)  # a history that cannot be served: the app's error handler
        try:
            reply = session.serve(_protocol_version(request), body)
        except GitAccessError as exc:
            log.warning("upload-pack request from %s refused: %s", request.remote_addr, exc)
            return Response(error_line(str(exc)), content_type=RESULT, headers=NO_CACHE)
        return Response(iter(reply), content_type=RESULT, headers=NO_CACHE, direct_passthrough=True)

    def receive_pack() -> Response:
        if request.mimetype != PUSH_REQUEST:
            return _text(415, f"expected a request of type {PUSH_REQUEST}")
        encoding = (request.headers.get("Content-Encoding") or "").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip"):
            return _text(415, f"unsupported Content-Encoding {encoding!r}: send identity or gzip")
        assert decide is not None  # admit() answered 403 otherwise
        body = RequestBody(request.stream, request.content_length, gzipped=encoding in ("gzip", "x-gzip"))
        session = ReceivePack(get_repository(), decide, settings)
        account = g.account
        return _Streamed(lambda write: session.serve(account, body, write), content_type=PUSH_RESULT,
                         headers=NO_CACHE)

    def not_served(rest: str) -> Response:
        return _text(404, f"{rest} is not served: gitaccess speaks smart HTTP only, "
                          f"clone {request.host_url}{name}.git with git")

    for base in (f"/{name}.git", f"/{name}"):
        blueprint.add_url_rule(f"{base}/info/refs", "info_refs", info_refs, methods=["GET"])
        blueprint.add_url_rule(f"{base}/git-upload-pack", "upload_pack", upload_pack, methods=["POST"])
        blueprint.add_url_rule(f"{base}/git-receive-pack", "receive_pack", receive_pack, methods=["POST"])
        blueprint.add_url_rule(f"{base}/<path:rest>", "not_served", not_served, methods=["GET", "POST"])
    return blueprint


def read_body(req: Request, limit: int = MAX_REQUEST_BYTES) -> bytes:
    """The whole request body, gunzipped; :class:`BadBody` when it is too large, cut short or garbled."""
    length = req.content_length
    if length is not None and length > limit:
        raise BadBody(413, f"request body of {length} bytes is larger than the limit of {limit}")
    chunks = []
    received = 0
    try:
        while chunk := req.stream.read(65536):
            received += len(chunk)
            if received > limit:
                raise BadBody(413, f"request body is larger than the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnected:
        pass  # Werkzeug's word for a body that ended before its Content-Length: reported below
    except TimeoutError as exc:  # the server's read timeouts (gitaccess serve's idle timeout, minimum rate)
        raise BadBody(408, f"the request body came too slowly ({exc}) after {received} bytes") from None
    except (OSError, ParseException) as exc:
        raise BadBody(400, f"the request body could not be read ({exc.__class__.__name__}) "
                           f"after {received} bytes") from None
    if length is not None and received != length:
        raise BadBody(400, f"the request body ended after {received} of {length} bytes")
    body = b"".join(chunks)
    encoding = (req.headers.get("Content-Encoding") or "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return _gunzip(body, limit)
    if encoding not in ("", "identity"):
        raise BadBody(415, f"unsupported Content-Encoding {encoding!r}: send identity or gzip")
    return body


def _gunzip(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        body = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BadBody(400, f"the request body is not valid gzip: {exc}") from None
    if len(body) > limit:
        raise BadBody(413, f"the request body inflates beyond the limit of {limit} bytes")
    if not inflater.eof:
        raise BadBody(400, "the gzip request body is truncated")
    return body


def _protocol_version(req: Request) -> int:
    """The highest protocol version the client offers in ``Git-Protocol`` that we speak."""
    offered = {item.strip() for item in (req.headers.get("Git-Protocol") or "").split(":")}
    return 2 if "version=2" in offered else 1 if "version=1" in offered else 0


def _is_push(req: Request) -> bool:
    return req.endpoint == "git.receive_pack" or (
        req.endpoint == "git.info_refs" and req.args.get("service") == "git-receive-pack")


def _push_protocol_version(req: Request) -> int:
    """1 when the client offers it, else 0: there is no protocol v2 push (git 2.39 falls back to v0)."""
    offered = {item.strip() for item in (req.headers.get("Git-Protocol") or "").split(":")}
    return 1 if "version=1" in offered else 0


class _Streamed(Response):
    """A response whose body ``produce`` writes through WSGI's ``write()`` while it runs.

    A push's progress comes from inside a synchronous decider; a generator
    could only relay it through a second thread, away from the request's
    context and its database connections. ``write()`` sends it at once, from
    the request's own thread, and is supported by Werkzeug and gunicorn.
    """

    automatically_set_content_length = False  # the body is not known in advance (it is not the empty list)

    def __init__(self, produce: Callable[[Callable[[bytes], object]], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._produce = produce

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self._produce(start_response(self.status, self.get_wsgi_headers(environ).to_wsgi_list()))
        return []


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(message + "\n", status=status, content_type="text/plain; charset=utf-8",
                    headers={**NO_CACHE, **(headers or {})})
