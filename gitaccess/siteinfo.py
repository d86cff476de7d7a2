"""The wiki's settings from the wiki itself: its API's ``meta=siteinfo``.

An admin would otherwise copy LocalSettings.php into gitaccess.toml by hand
(namespaces and their case and subpage flags, content models, file
extensions, sizes, server), and a setting copied wrong shows only later, as a
page placed at the wrong path or a push refused for no reason.
:func:`settings_from_siteinfo` turns the API's answer into gitaccess.toml's
sections (pure); :func:`disagreements` says where a configuration differs
from it; :func:`fetch_siteinfo` asks the wiki (the only I/O here).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from gitaccess.config import Config
from gitaccess.errors import ConfigError
from gitaccess.titles.namespaces import Namespaces

#: The siteinfo properties read.
SIPROP = "general|namespaces|namespacealiases|fileextensions"
#: The most of an answer read: a siteinfo answer is a few kilobytes, a larger one is not one.
_MAX_ANSWER_BYTES = 4 * 1024 * 1024
#: Standard namespaces have ids below 100; the rest are $wgExtraNamespaces (and extensions').
_FIRST_EXTRA_NAMESPACE = 100


def fetch_siteinfo(api_url: str, *, timeout: float = 30) -> dict[str, Any]:
    """The ``query`` part of the wiki's siteinfo. Raises ConfigError when the URL does not
    answer as MediaWiki's api.php does, saying what to give instead."""
    if urllib.parse.urlsplit(api_url).scheme not in ("http", "https"):
        raise ConfigError(f"{api_url!r} is not an http(s) URL: give the wiki's api.php, "
                          "e.g. https://wiki.example.org/w/api.php")
    query = urllib.parse.urlencode({"action": "query", "meta": "siteinfo", "siprop": SIPROP,
                                    "format": "json", "formatversion": "2"})
    request = urllib.request.Request(f"{api_url}?{query}", headers={"User-Agent": "gitaccess"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - scheme checked above
            body = answer.read(_MAX_ANSWER_BYTES + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise ConfigError(f"cannot read the wiki's siteinfo from {api_url}: {exc}") from None
    try:
        data = json.loads(body) if len(body) <= _MAX_ANSWER_BYTES else None
        info = data["query"]
        info["general"]["generator"]
    except (ValueError, TypeError, KeyError):
        raise ConfigError(f"{api_url} did not answer as MediaWiki's api.php does: give the URL of "
                          "api.php, e.g. https://wiki.example.org/w/api.php") from None
    return dict(info)


def settings_from_siteinfo(info: dict[str, Any], api_url: str | None = None) -> dict[str, dict[str, Any]]:
    """gitaccess.toml's sections (the keys siteinfo tells) from a siteinfo answer."""
    general = info["general"]
    namespaces = [ns for ns in info["namespaces"].values() if ns["id"] >= 0]
    wiki: dict[str, Any] = {
        "site_name": general["sitename"],
        "server_name": general.get("servername", ""),
        "server": general.get("server", ""),
        "script_path": general.get("scriptpath", ""),
        "language": general.get("lang", "en"),
        "meta_namespace": next(ns["name"] for ns in namespaces if ns["id"] == 4),
        "capital_links": general.get("case", "first-letter") == "first-letter",
        "first_letter": first_letter_rule(general["generator"]),
        "upload_extensions": [entry["ext"] for entry in info.get("fileextensions", [])],
    }
    for key, field in (("max_upload_size", "maxuploadsize"), ("max_page_size", "maxarticlesize")):
        if isinstance(general.get(field), int):
            wiki[key] = general[field]
    if api_url:
        wiki["api_url"] = api_url
    extra = [
        {"id": ns["id"], "name": ns["canonical"], "capitalize": ns["case"] == "first-letter",
         "subpages": bool(ns.get("subpages")), "content_model": ns.get("defaultcontentmodel", "wikitext")}
        for ns in sorted(namespaces, key=lambda ns: ns["id"])
        if ns["id"] >= _FIRST_EXTRA_NAMESPACE and ns.get("canonical") and not _is_standard(ns["id"])
    ]
    sections: dict[str, dict[str, Any]] = {
        "wiki": wiki,
        "namespaces": {"subpages": sorted(ns["id"] for ns in namespaces if ns.get("subpages"))},
    }
    if extra:
        sections["namespaces"]["extra"] = extra
    return sections


def first_letter_rule(generator: str) -> str:
    """The first-letter rule of a MediaWiki version ("MediaWiki 1.43.1"): title case from
    1.43 on, PHP 8's full upper case before (tests/data/titles-oracle-*.tsv)."""
    try:
        major, minor = (int(part) for part in generator.split()[1].split(".")[:2])
    except (IndexError, ValueError):
        return "title"
    return "title" if (major, minor) >= (1, 43) else "upper"


def disagreements(config: Config, info: dict[str, Any]) -> list[str]:
    """Where ``config`` says otherwise than the wiki: one sentence a setting, naming the key
    and both values (empty when they agree)."""
    wanted = settings_from_siteinfo(info)
    found = []
    for key, value in wanted["wiki"].items():
        mine = getattr(config, key)
        if isinstance(mine, tuple):
            mine, value = sorted(mine), sorted(value)
        if mine != value:
            found.append(f"[wiki] {key} is {mine!r} here but {value!r} on the wiki")
    present = {ns["id"] for ns in info["namespaces"].values()}
    configured = config.subpages if config.subpages is not None else \
        [ns.id for ns in Namespaces.standard() if ns.subpages]
    subpages = sorted(set(configured) & present)
    if subpages != wanted["namespaces"]["subpages"]:
        found.append(f"[namespaces] subpages is {subpages} here but {wanted['namespaces']['subpages']} on the wiki")
    mine_extra = {ns.id: (ns.capitalize, ns.subpages, ns.content_model) for ns in config.extra_namespaces}
    for ns in wanted["namespaces"].get("extra", []):
        theirs = (ns["capitalize"], ns["subpages"], ns["content_model"])
        if mine_extra.get(ns["id"]) != theirs:
            found.append(f"namespace {ns['id']} ({ns['name']}) is {mine_extra.get(ns['id'])} here "
                         f"but {theirs} (capitalize, subpages, content_model) on the wiki")
    return found


def _is_standard(ns_id: int) -> bool:
    return ns_id in {ns.id for ns in Namespaces.standard()}
