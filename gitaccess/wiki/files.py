"""The wiki's upload directory, laid out as MediaWiki lays it out.

A MediaWiki pointed at the same directory must find every file gitaccess
stores, so the paths are MediaWiki's ($wgHashedUploadDirectory, two levels of
md5 directories; archive/ for old versions; deleted/ for deleted files), and
the type facts kept in the image tables (major/minor MIME, media type,
dimensions) are worked out the way MediaWiki's MimeAnalyzer and image
handlers would, for the common formats.

Pure helpers plus file I/O; the rows that describe the files are written by
the wiki layer.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: The values MediaWiki's img_major_mime enum allows (MimeAnalyzer::isValidMajorMimeType).
MAJOR_MIME_TYPES = frozenset(
    {"unknown", "application", "audio", "image", "text", "video", "message", "model", "multipart", "chemical"}
)

#: MimeMap::MEDIA_TYPES for the types gitaccess detects or the standard
#: library knows by extension; anything else is UNKNOWN, as in MediaWiki.
_MEDIA_TYPES = {
    "BITMAP": ("image/png", "image/gif", "image/jpeg", "image/webp", "image/tiff", "image/bmp",
               "image/x-ms-bmp", "image/vnd.djvu", "image/x-icon", "image/vnd.microsoft.icon", "image/x-xcf",
               "image/x-portable-pixmap", "image/x-portable-graymap", "image/x-portable-bitmap",
               "image/x-rgb", "image/ief", "image/jp2"),
    "DRAWING": ("image/svg+xml", "application/postscript", "application/x-latex", "application/x-tex"),
    "TEXT": ("text/plain", "text/html", "application/xhtml+xml", "application/xml", "text/xml",
             "application/json", "text/csv", "text/tab-separated-values"),
    "OFFICE": ("application/pdf", "application/msword", "application/vnd.ms-excel",
               "application/vnd.ms-powerpoint", "text/rtf",
               "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
               "application/vnd.oasis.opendocument.presentation",
               "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    "MULTIMEDIA": ("application/ogg", "video/quicktime", "video/x-msvideo"),
    "AUDIO": ("audio/mpeg", "audio/x-wav", "audio/wav", "audio/midi", "audio/ogg", "audio/flac",
              "audio/x-flac", "audio/basic", "audio/x-aiff", "audio/mp4", "audio/webm", "audio/opus"),
    "VIDEO": ("video/mpeg", "video/ogg", "video/webm", "video/mp4", "video/x-matroska"),
    "EXECUTABLE": ("application/javascript", "text/javascript", "application/x-sh", "application/x-csh",
                   "application/x-perl", "application/x-python", "application/wasm"),
    "ARCHIVE": ("application/zip", "application/x-gzip", "application/gzip", "application/x-bzip2",
                "application/x-tar", "application/x-7z-compressed"),
}
_MEDIA_TYPE_OF = {mime: media for media, mimes in _MEDIA_TYPES.items() for mime in mimes}

#: Leading bytes of the formats whose content says what they are.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"%PDF-", "application/pdf"),
    (b"AT&TFORM", "image/vnd.djvu"),
    (b"OggS", "application/ogg"),
    (b"fLaC", "audio/flac"),
    (b"ID3", "audio/mpeg"),
    (b"\x1aE\xdf\xa3", "video/webm"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/x-gzip"),
)
#: Content types that only say which container a file is: its extension can be more precise
#: (a .docx or .odt is a zip, a .svg or .xhtml is XML).
_CONTAINERS = frozenset({"application/zip", "application/xml", "text/plain"})
_SVG = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<svg[\s>]", re.DOTALL)

#: The standard library's built-in table only: the system's /etc/mime.types
#: differs between machines, and the same file must get the same row everywhere.
_BY_EXTENSION = mimetypes.MimeTypes(filenames=())
#: Zip-based office formats MimeMap knows and the standard library does not.
_OFFICE_EXTENSIONS = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".odp": "application/vnd.oasis.opendocument.presentation",
}

#: File::normalizeExtension's squished extensions, for deleted-file keys.
_EXTENSION_ALIASES = {"htm": "html", "jpeg": "jpg", "mpeg": "mpg", "tiff": "tif", "ogv": "ogg"}
_ARCHIVE_NAME = re.compile(r"\d{14}!.+")
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class UnsafePath(ValueError):
    """A file name or path that would land outside the upload directory."""


@dataclass(frozen=True)
class FileType:
    """What MediaWiki records about a file's type (img_major_mime, img_minor_mime, img_media_type)."""

    major: str
    minor: str
    media_type: str

    @property
    def mime(self) -> str:
        return f"{self.major}/{self.minor}"


@dataclass(frozen=True)
class ImageSize:
    """img_width, img_height, img_bits; zeros where the format is not one gitaccess measures."""

    width: int = 0
    height: int = 0
    bits: int = 0


def hash_directories(name: str) -> str:
    """"a/ab": the two md5 levels MediaWiki puts a file under (FileRepo::getHashPathForLevel)."""
    digest = hashlib.md5(name.encode("utf-8")).hexdigest()
    return f"{digest[0]}/{digest[:2]}"


def public_path(root: Path, name: str) -> Path:
    """Where the current version of the file ``name`` (dbkey form) lives; UnsafePath for a bad name."""
    _check_component(name)
    return root / hash_directories(name) / name


def archive_name(timestamp: str, name: str) -> str:
    """The oi_archive_name MediaWiki gives an old version: "<timestamp>!<name>"."""
    return f"{timestamp}!{name}"


def archive_path(root: Path, name: str, archived_as: str) -> Path:
    """Where an old version of ``name`` lives; hashed by the file's name, not the archive name.

    Raises UnsafePath for a name, or an archive name, that is not one safe file name.
    """
    _check_component(name)
    _check_component(archived_as)
    if not _ARCHIVE_NAME.fullmatch(archived_as):
        raise UnsafePath(f"archive name {archived_as!r} is not <14-digit timestamp>!<name>")
    return root / "archive" / hash_directories(name) / archived_as


def deleted_path(root: Path, sha1_base36: str, extension: str) -> Path:
    """Where a deleted file version lives: deleted/x/y/z/<sha1>.<ext> (LocalRepo::getDeletedHashPath).

    Raises UnsafePath when the SHA-1 or the extension would not make one safe file name.
    """
    if not re.fullmatch(r"[0-9a-z]{31}", sha1_base36):
        raise UnsafePath(f"{sha1_base36!r} is not a base-36 SHA-1")
    extension = extension.lower()
    extension = _EXTENSION_ALIASES.get(extension, extension)
    key = f"{sha1_base36}.{extension}" if extension else sha1_base36
    _check_component(key)
    return root / "deleted" / sha1_base36[0] / sha1_base36[1] / sha1_base36[2] / key


def _check_component(name: str) -> None:
    """A file name must be one path component: MediaWiki titles allow no '/' in
    File: names, but a dump's archive name is untrusted."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise UnsafePath(f"{name!r} is not a usable file name")


def store(root: Path, path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` under ``root`` atomically and durably.

    A reader (MediaWiki serving the file, a concurrent clone) sees the old
    file or the new one, never half of one, and a crash right after the
    call does not lose it: temporary file in the same directory, fsync,
    rename, fsync of the directory. Raises UnsafePath as :func:`stage` does.
    """
    install(stage(root, path, data), path)


def stage(root: Path, path: Path, data: bytes) -> Path:
    """Write ``data`` durably to a temporary file beside ``path``; :func:`install` puts it in place.

    Splitting the two lets a wiki change write its files before its database
    transaction commits and show them only after it has. Raises UnsafePath
    when ``path`` is not inside ``root``.
    """
    resolved_root = root.resolve()
    target = path.resolve()
    if not target.is_relative_to(resolved_root) or target == resolved_root:
        raise UnsafePath(f"{path} is outside the upload directory {root}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".gitaccess-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def install(staged: Path, path: Path) -> None:
    """Rename a staged file into place, durably."""
    os.replace(staged, path)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_type(data: bytes, name: str) -> FileType:
    """The type MediaWiki would record: from the content where it tells, else from the extension.

    A major type outside MediaWiki's enum becomes "unknown", keeping the
    minor type, as LocalFile::recordUpload3 does.
    """
    mime = sniff(data)
    if mime is None or mime in _CONTAINERS:
        mime = _mime_from_extension(name) or mime or "unknown/unknown"
    major, _, minor = mime.partition("/")
    media_type = _MEDIA_TYPE_OF.get(mime, "UNKNOWN")
    if major not in MAJOR_MIME_TYPES:
        major = "unknown"
    return FileType(major, minor or "unknown", media_type)


def _mime_from_extension(name: str) -> str | None:
    suffix = PurePosixPath(name).suffix.lower()
    return _OFFICE_EXTENSIONS.get(suffix) or _BY_EXTENSION.guess_type(name, strict=False)[0]


def sniff(data: bytes) -> str | None:
    """The MIME type the leading bytes show (magic numbers, SVG, XML), or None when they show none."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    head = data[:4096]
    if _SVG.match(head):
        return "image/svg+xml"
    if head.lstrip().startswith(b"<?xml"):
        return "application/xml"
    return None


def image_size(data: bytes) -> ImageSize:
    """Width, height and bit depth of a PNG, GIF or JPEG, read from its header."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            width, height, bits = struct.unpack(">IIB", data[16:25])
            return ImageSize(width, height, bits)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            width, height, packed = struct.unpack("<HHB", data[6:11])
            return ImageSize(width, height, (packed & 0x07) + 1)
        if data.startswith(b"\xff\xd8"):
            return _jpeg_size(data)
    except struct.error:
        pass  # a truncated header: the file is stored all the same, unmeasured
    return ImageSize()


def _jpeg_size(data: bytes) -> ImageSize:
    """The first start-of-frame segment's precision, height and width."""
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return ImageSize()
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        if marker in _JPEG_FRAME_MARKERS:
            bits, height, width = struct.unpack(">BHH", data[offset + 4 : offset + 9])
            return ImageSize(width, height, bits)
        offset += 2 + length
    return ImageSize()
