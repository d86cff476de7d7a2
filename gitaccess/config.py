"""gitaccess's configuration: one TOML file, environment variables, options.

Precedence, highest first: command-line options (``--db``, ``--config``),
environment variables (``GITACCESS_DB``, ``GITACCESS_CONFIG``), the TOML file
(``./gitaccess.toml`` when present), the defaults below. Every key is
documented in ``docs/configuration.md``; an unknown key is an error, so a
typo never silently falls back to a default.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from gitaccess.errors import ConfigError
from gitaccess.titles.codec import FIRST_LETTER_RULES
from gitaccess.tree.layout import DEFAULT_EXCLUDED, DEFAULT_EXTENSIONS

DEFAULT_DATA_DIR = Path("gitaccess-data")
DEFAULT_CONFIG_FILE = Path("gitaccess.toml")

@dataclass(frozen=True)
class ExtraNamespace:
    """A namespace the wiki adds ($wgExtraNamespaces)."""

    id: int
    name: str
    capitalize: bool = True
    subpages: bool = False
    content_model: str = "wikitext"


@dataclass(frozen=True)
class Config:
    """The effective configuration; see docs/configuration.md for each key."""

    # [wiki]
    site_name: str = "gitaccess wiki"
    server_name: str = "localhost"
    server: str = ""
    script_path: str = "/w"
    language: str = "en"
    meta_namespace: str = "Project"
    capital_links: bool = True
    #: How a title's first letter is capitalised: "title" (MediaWiki 1.43), "upper" (1.39 on
    #: PHP 8) or "simple" (gitaccess's earlier rule, the default so that served histories keep
    #: their layout); and $wgOverrideUcfirstCharacters.
    first_letter: str = "simple"
    first_letter_overrides: Mapping[str, str] = field(default_factory=dict)
    #: The wiki's api.php: when set, `serve` and `db status` say where this file disagrees
    #: with the wiki's own settings (`gitaccess config from-wiki` writes them).
    api_url: str = ""
    upload_directory: Path = DEFAULT_DATA_DIR / "images"
    max_page_size: int = 2 * 1024 * 1024
    upload_extensions: tuple[str, ...] = ("png", "gif", "jpg", "jpeg", "webp")
    max_upload_size: int = 100 * 1024 * 1024
    # [database]
    database_url: str = ""
    table_prefix: str = ""
    database_schema: str = "mediawiki"
    # [namespaces]
    subpages: tuple[int, ...] | None = None
    included_namespaces: tuple[int, ...] = ()
    excluded_namespaces: tuple[int, ...] = DEFAULT_EXCLUDED
    extra_namespaces: tuple[ExtraNamespace, ...] = ()
    extensions: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_EXTENSIONS))
    # [access]
    gitaccess_groups: tuple[str, ...] = ("sysop",)
    read_groups: tuple[str, ...] = ()
    anonymous_read: bool = False
    allow_insecure_http: bool = False
    trusted_proxies: tuple[str, ...] = ()
    # [git]
    repository: str = "wiki"
    branch: str = "master"
    max_push_bytes: int = 1024 * 1024 * 1024
    max_push_objects: int = 1_000_000
    max_push_object_bytes: int = 100 * 1024 * 1024
    max_push_inflated_bytes: int = 1024 * 1024 * 1024
    max_tree_bytes: int = 16 * 1024 * 1024
    max_worker_memory: int = 2 * 1024 * 1024 * 1024
    max_fetch_wants: int = 10_000
    max_fetch_haves: int = 20_000
    push_tags: bool = False
    data_directory: Path = DEFAULT_DATA_DIR
    # [web]
    web_pages: bool = True
    web_session_hours: int = 12
    source: Path | None = None
    # [server]
    workers: int = 2
    threads: int = 8
    worker_timeout: int = 600
    head_timeout: float = 10.0
    idle_timeout: float = 30.0
    min_upload_rate: int = 1024

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite database in the data directory."""
        return self.database_url or f"sqlite:///{self.data_directory / 'wiki.sqlite'}"


#: TOML section -> keys allowed in it (each a Config field unless mapped below).
_SECTIONS: dict[str, tuple[str, ...]] = {
    "wiki": ("site_name", "server_name", "server", "script_path", "language", "meta_namespace",
             "capital_links", "first_letter", "first_letter_overrides", "api_url", "upload_directory", "max_page_size", "upload_extensions", "max_upload_size",
             "data_directory"),
    "database": ("url", "table_prefix", "schema"),
    "namespaces": ("subpages", "included", "excluded", "extra", "extensions"),
    "access": ("gitaccess_groups", "read_groups", "anonymous_read", "allow_insecure_http",
               "trusted_proxies"),
    "git": ("repository", "branch", "max_push_bytes", "max_push_objects", "max_push_object_bytes",
            "max_push_inflated_bytes", "max_tree_bytes", "max_worker_memory", "max_fetch_wants",
            "max_fetch_haves", "push_tags"),
    "server": ("workers", "threads", "worker_timeout", "head_timeout", "idle_timeout", "min_upload_rate"),
    "web": ("enabled", "session_hours"),
}
_RENAMED = {
    ("database", "url"): "database_url",
    ("database", "schema"): "database_schema",
    ("namespaces", "included"): "included_namespaces",
    ("namespaces", "excluded"): "excluded_namespaces",
    ("namespaces", "extra"): "extra_namespaces",
    ("web", "enabled"): "web_pages",
    ("web", "session_hours"): "web_session_hours",
}
_PATHS = {"upload_directory", "data_directory"}
#: Limits, counts and timeouts: zero or less would refuse everything or serve nothing.
_POSITIVE = {"max_push_inflated_bytes", "max_tree_bytes", "max_worker_memory", "max_fetch_wants", "max_fetch_haves",
             "workers", "threads", "worker_timeout", "head_timeout", "idle_timeout", "min_upload_rate"}


def _flatten(data: Mapping[str, Any], source: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for section, body in data.items():
        if section not in _SECTIONS or not isinstance(body, dict):
            raise ConfigError(f"{source}: unknown section [{section}]; known: {', '.join(_SECTIONS)}")
        for key, value in body.items():
            if key not in _SECTIONS[section]:
                raise ConfigError(f"{source}: unknown key {key!r} in [{section}]")
            values[_RENAMED.get((section, key), key)] = value
    return values


def _coerce(name: str, value: Any, base: Path) -> Any:
    """Turn a TOML value into the field's Python type, with a message naming the key."""
    try:
        if name in _PATHS:
            path = Path(value)
            return path if path.is_absolute() else base / path
        if name == "extra_namespaces":
            return tuple(ExtraNamespace(**entry) for entry in value)
        if name == "extensions":
            return {**DEFAULT_EXTENSIONS, **{str(k): str(v) for k, v in value.items()}}
        if name in ("subpages", "included_namespaces", "excluded_namespaces"):
            return tuple(int(v) for v in value)
        if name == "upload_extensions":
            return tuple(str(v).lower().lstrip(".") for v in value)
        if name in ("gitaccess_groups", "read_groups"):
            return tuple(str(v) for v in value)
        if name == "first_letter" and value not in FIRST_LETTER_RULES:
            raise ValueError(f"expected one of {', '.join(FIRST_LETTER_RULES)}")
        if name == "first_letter_overrides":
            if any(len(k) != 1 for k in value):
                raise ValueError("expected single characters as keys, as in $wgOverrideUcfirstCharacters")
            return {str(k): str(v) for k, v in value.items()}
        if name == "trusted_proxies":
            if isinstance(value, str):
                raise TypeError('expected a list of addresses or networks, such as ["127.0.0.1"]')
            return tuple(str(ipaddress.ip_network(str(v))) for v in value)
        default = next(f.default for f in fields(Config) if f.name == name)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise TypeError("expected true or false")
        if isinstance(default, int) and not isinstance(value, int):
            raise TypeError("expected an integer")
        if isinstance(default, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise TypeError("expected a number of seconds")
        if isinstance(default, str) and not isinstance(value, str):
            raise TypeError("expected a string")
        if name in _POSITIVE and value <= 0:
            raise ValueError("expected a number above zero")
        return value
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"configuration key {name!r}: {exc}") from None


def load_config(
    config_file: str | os.PathLike[str] | None = None,
    database_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the configuration from options, environment, TOML file and defaults.

    Raises ConfigError for a file that is named but missing or not TOML, an
    unknown section or key, or a value of the wrong type.
    """
    env = os.environ if environ is None else environ
    path = Path(config_file or env.get("GITACCESS_CONFIG") or DEFAULT_CONFIG_FILE)
    values: dict[str, Any] = {}
    explicit = bool(config_file or env.get("GITACCESS_CONFIG"))
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        base = path.resolve().parent
        values = {k: _coerce(k, v, base) for k, v in _flatten(data, path).items()}
        values["source"] = path
    elif explicit:
        raise ConfigError(f"configuration file {path} does not exist")
    url = database_url or env.get("GITACCESS_DB")
    if url:
        values["database_url"] = url
    if "data_directory" in values and "upload_directory" not in values:
        values["upload_directory"] = values["data_directory"] / "images"
    return Config(**values)
