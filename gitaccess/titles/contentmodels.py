"""The content model MediaWiki gives a page by its title, when nothing else says.

MainSlotRoleHandler::getDefaultModel with Scribunto's hook: .css/.js/.json
pages in the MediaWiki namespace and in User subpages are code, Module pages
are Lua (but /doc pages and .json modules), and a namespace may have a model
of its own ($wgNamespaceContentModels; GitAccess_root pages are plain text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Protocol

from gitaccess.titles.namespaces import GITACCESS_ROOT, MEDIAWIKI, MODULE, USER
from gitaccess.titles.codec import Title

_CODE_MODELS = {"css": "css", "js": "javascript", "json": "json"}
_MEDIAWIKI_CODE_PAGE = re.compile(r"\.(css|js|json)$")
_USER_CODE_SUBPAGE = re.compile(r"/.*\.(js|css|json)$")


class _ExtraNamespace(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def content_model(self) -> str: ...


class _Configured(Protocol):
    """What is read of the configuration (gitaccess.config.Config fits)."""

    @property
    def extra_namespaces(self) -> Iterable[_ExtraNamespace]: ...


def namespace_models(config: _Configured) -> dict[int, str]:
    """$wgNamespaceContentModels as gitaccess's configuration sets it."""
    return {GITACCESS_ROOT: "text"} | {ns.id: ns.content_model for ns in config.extra_namespaces}


def default_model(title: Title, by_namespace: Mapping[int, str]) -> str:
    """The model of a new page with this title."""
    name = title.text
    if title.namespace == MODULE:
        if name.endswith(".json"):
            return "json"
        if not name.endswith("/doc"):
            return "Scribunto"
    pattern = {MEDIAWIKI: _MEDIAWIKI_CODE_PAGE, USER: _USER_CODE_SUBPAGE}.get(title.namespace)
    code = pattern.search(name) if pattern else None
    if code:
        return _CODE_MODELS[code[1]]
    return by_namespace.get(title.namespace, "wikitext")
