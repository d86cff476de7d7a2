"""The smart-HTTP endpoints for fetching: ``info/refs`` and ``git-upload-pack``.

Only smart HTTP is served: the dumb protocol would hand out files of a
repository that does not exist on disk. Request bodies are read to the end
of ``request.stream`` whatever their framing (the WSGI server has already
undone chunked encoding, both Werkzeug's and gunicorn's), gunzipped when
git compressed them, and bounded. Every refusal is one line a person can
act on, and one line in the server's log.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable

from flask import Blueprint, Request, Response, request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import ClientDisconnected

from gitaccess.errors import GitAccessError
from gitaccess.protocol.gate import Gate, Refusal
from gitaccess.protocol.pktline import error_line
from gitaccess.protocol.repository import ServedRepository
from gitaccess.protocol.upload_pack import UploadPack

log = logging.getLogger(__name__)

#: Largest request body accepted, before and after gunzipping. Negotiation bodies are small.
MAX_REQUEST_BYTES = 32 * 1024 * 1024
ADVERTISEMENT = "application/x-git-upload-pack-advertisement"
REQUEST = "application/x-git-upload-pack-request"
RESULT = "application/x-git-upload-pack-result"
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


def git_blueprint(get_repository: Callable[[], ServedRepository], gate: Gate) -> Blueprint:
    """Routes for ``/<repo>.git`` and ``/<repo>`` (the configured name), behind ``gate``."""
    blueprint = Blueprint("git", __name__)
    name = gate.config.repository

    @blueprint.before_request
    def admit() -> Response | None:
        try:
            gate.admit(request)
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
        if service != "git-upload-pack":
            return _text(403, f"service {service!r} is not offered here")
        body = UploadPack(get_repository()).advertise(_protocol_version(request))
        return Response(body, content_type=ADVERTISEMENT, headers=NO_CACHE)

    def upload_pack() -> Response:
        if request.mimetype != REQUEST:
            return _text(415, f"expected a request of type {REQUEST}")
        try:
            body = read_body(request)
        except BadBody as exc:
            log.warning("upload-pack request from %s: %s", request.remote_addr, exc)
            return _text(exc.status, str(exc))
        try:
            reply = UploadPack(get_repository()).serve(_protocol_version(request), body)
        except GitAccessError as exc:
            log.warning("upload-pack request from %s refused: %s", request.remote_addr, exc)
            return Response(error_line(str(exc)), content_type=RESULT, headers=NO_CACHE)
        return Response(iter(reply), content_type=RESULT, headers=NO_CACHE, direct_passthrough=True)

    def not_served(rest: str) -> Response:
        return _text(404, f"{rest} is not served: gitaccess speaks smart HTTP only, "
                          f"clone {request.host_url}{name}.git with git")

    for base in (f"/{name}.git", f"/{name}"):
        blueprint.add_url_rule(f"{base}/info/refs", "info_refs", info_refs, methods=["GET"])
        blueprint.add_url_rule(f"{base}/git-upload-pack", "upload_pack", upload_pack, methods=["POST"])
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


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(message + "\n", status=status, content_type="text/plain; charset=utf-8",
                    headers={**NO_CACHE, **(headers or {})})
