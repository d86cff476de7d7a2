"""A pushed Media file checked as MediaWiki's UploadBase checks an upload, before anything is written.

The name (UploadBase::getTitle: a prohibited extension anywhere in it, the
final one among $wgFileExtensions), the content's type against the name's
(verifyMimeType, verifyExtension: the type sniffed from the bytes, never
the name's), and scripts a browser could run (detectScript, and for SVG the
script checks of detectScriptInSvg, abridged). Pure: :func:`upload_problem`
says what is wrong, or None.
"""

from __future__ import annotations

import html
import re

from gitaccess.wiki.files import sniff

#: MediaWiki 1.39's $wgProhibitedFileExtensions: never uploaded, wherever in the name.
PROHIBITED_EXTENSIONS = frozenset({
    "html", "htm", "js", "jsb", "mhtml", "mht", "xhtml", "xht",
    "php", "phtml", "php3", "php4", "php5", "phps", "phar",
    "shtml", "jhtml", "pl", "py", "cgi",
    "exe", "scr", "dll", "msi", "vbs", "bat", "com", "pif", "cmd", "vxd", "cpl",
    "xml",
})

#: MediaWiki 1.39's $wgMimeTypeExclusions: content of these types is never uploaded, whatever its name.
EXCLUDED_TYPES = frozenset({
    "text/html", "application/javascript", "text/javascript", "text/x-javascript", "application/x-shellscript",
    "application/x-php", "text/x-php", "text/x-python", "text/x-perl", "text/x-bash", "text/x-sh", "text/x-csh",
    "text/scriptlet", "application/x-msdownload", "application/x-msmetafile", "application/java",
    "application/xml", "text/xml",
})

_ZIP = "application/zip"
_OGG = frozenset({"application/ogg", "audio/ogg", "video/ogg"})
#: The content types MediaWiki's MimeMap allows for an extension whose files it can tell by their
#: bytes; a file of another extension is not compared (as verifyExtension passes what it cannot tell).
EXTENSION_TYPES: dict[str, frozenset[str]] = {
    "png": frozenset({"image/png"}),
    "gif": frozenset({"image/gif"}),
    "jpg": frozenset({"image/jpeg"}),
    "jpeg": frozenset({"image/jpeg"}),
    "jpe": frozenset({"image/jpeg"}),
    "webp": frozenset({"image/webp"}),
    "tif": frozenset({"image/tiff"}),
    "tiff": frozenset({"image/tiff"}),
    "svg": frozenset({"image/svg+xml"}),
    "djvu": frozenset({"image/vnd.djvu"}),
    "pdf": frozenset({"application/pdf"}),
    "ogg": _OGG, "oga": _OGG, "ogv": _OGG, "opus": _OGG,
    "flac": frozenset({"audio/flac"}),
    "mp3": frozenset({"audio/mpeg"}),
    "webm": frozenset({"video/webm"}),
    "txt": frozenset({"text/plain"}),
    "zip": frozenset({_ZIP}),
    # Zip containers MediaWiki looks into; their bytes say only "zip".
    **{ext: frozenset({_ZIP}) for ext in ("docx", "xlsx", "pptx", "odt", "ods", "odp", "odg", "epub")},
}

#: What MediaWiki looks for in the first kilobyte (a text file: all of it) to refuse a file a
#: browser might take for HTML or run as a script (UploadBase::detectScript).
_SCRIPT_CHUNK = 1024
_HTML_DOCTYPE = re.compile(rb"<!doctype *x?html", re.I)
_HTML_TAGS = (b"<body", b"<head", b"<html", b"<script")
_SCRIPT_PATTERNS = (
    re.compile(r"type\s*=\s*['\"]?\s*(?:\w*/)?(?:ecma|java)", re.I | re.S | re.M),
    re.compile(r"(?:href|src|data)\s*=\s*['\"]?\s*(?:ecma|java)script:", re.I | re.S | re.M),
    re.compile(r"url\s*\(\s*['\"]?\s*(?:ecma|java)script:", re.I | re.S | re.M),
)
#: Text sniffed as HTML (as libmagic would tell it, which MediaWiki asks when the magic numbers say nothing).
_HTML_START = re.compile(rb"\s*<(?:!doctype\s+html|html|head|body|script|iframe|title|table|div|a|img)[\s>/]", re.I)
_SHEBANG = re.compile(rb"#!\s*/?(?:\S+/)?(?:env\s+)?(\w+)")
#: What detectScriptInSvg refuses in an SVG, abridged: event handlers, embedded documents,
#: entity declarations and links to scripts or data.
_SVG_DANGERS = (
    (re.compile(r"\son\w+\s*=", re.I), "an event-handler attribute (on...=)"),
    (re.compile(r"<\s*(?:\w+:)?(?:foreignobject|iframe|handler|listener)\b", re.I), "an embedded document or handler"),
    (re.compile(r"<!entity", re.I), "an entity declaration"),
    (re.compile(r"href\s*=\s*['\"]?\s*(?:data:(?!image/(?:png|gif|jpe?g))|[a-z]+script:)", re.I),
     "a link to a script or to data"),
)


def upload_problem(name: str, data: bytes, allowed: tuple[str, ...]) -> str | None:
    """Why MediaWiki would refuse to store ``data`` as the file ``name`` (dbkey form), given the
    wiki's $wgFileExtensions ``allowed``; None when it would store it."""
    parts = [part.strip().lower() for part in name.split(".")[1:]]  # UploadBase::splitExtensions
    extension = parts[-1] if parts else ""
    if extension not in allowed:
        return (f"files of type {extension or '(none)'!r} cannot be uploaded to this wiki "
                f"(allowed: {', '.join(allowed)})")
    prohibited = [part for part in parts if part in PROHIBITED_EXTENSIONS]
    if prohibited:
        return f"'.{prohibited[0]}' files are never uploaded, anywhere in a file's name; rename it"
    mime = _content_type(data)
    if mime in EXCLUDED_TYPES:
        return f"the content is {mime}, which is never uploaded"
    if _looks_like_script(data, mime):
        return "the content holds HTML or script code a browser could run; MediaWiki refuses such files"
    if extension == "svg" or mime == "image/svg+xml":
        danger = _svg_danger(data)
        if danger:
            return f"the SVG holds {danger}; MediaWiki refuses scripts in SVG files"
    expected = EXTENSION_TYPES.get(extension)
    if expected is not None and mime not in expected:
        return f"the content is {mime}, not what a .{extension} file holds ({', '.join(sorted(expected))})"
    return None


def _content_type(data: bytes) -> str:
    """The MIME type the bytes show, never the name: magic numbers first, then what text shows
    (PHP, HTML, a script's #! line, plain text), else application/octet-stream."""
    mime = sniff(data)
    if mime is not None:
        return mime
    head = data[:4096]
    if b"<?php" in head.lower():
        return "application/x-php"
    if _HTML_START.match(head):
        return "text/html"
    shebang = _SHEBANG.match(head)
    if shebang:
        return f"application/x-{shebang[1].decode('ascii')}"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain" if b"\0" not in data else "application/octet-stream"


def _looks_like_script(data: bytes, mime: str) -> bool:
    """UploadBase::detectScript: HTML or script markers in the file's head, in any case."""
    chunk = (data if mime.startswith("text/") else data[:_SCRIPT_CHUNK]).lower()
    if chunk[:2] in (b"\xfe\xff", b"\xff\xfe"):
        chunk = chunk.decode("utf-16-be" if chunk[:2] == b"\xfe\xff" else "utf-16-le", errors="ignore").encode(
            "ascii", errors="ignore")
    chunk = chunk.strip()
    if _HTML_DOCTYPE.search(chunk) or any(tag in chunk for tag in _HTML_TAGS):
        return True
    text = html.unescape(chunk.decode("latin-1"))
    return any(pattern.search(text) for pattern in _SCRIPT_PATTERNS)


def _svg_danger(data: bytes) -> str | None:
    """What an SVG holds that MediaWiki's detectScriptInSvg refuses, or None."""
    text = html.unescape(data.decode("utf-8", errors="replace"))
    return next((what for pattern, what in _SVG_DANGERS if pattern.search(text)), None)
