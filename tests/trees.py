"""Git trees built from scratch with dulwich's own Tree class: what tests compare with."""

from __future__ import annotations

from typing import Callable, TypeVar

from dulwich.objects import Tree

T = TypeVar("T")


def nested_tree(files: dict[str, T], leaf: Callable[[T], tuple[int, bytes]], keep: Callable[[Tree], bytes]) -> bytes:
    """The root tree id of {path: value}: ``leaf`` gives each file's (mode, sha), ``keep`` stores
    each tree made and returns its id."""
    nested: dict[str, object] = {}
    for path, value in files.items():
        *directories, name = path.split("/")
        node = nested
        for directory in directories:
            node = node.setdefault(directory, {})  # type: ignore[assignment]
        node[name] = value

    def make(node: dict[str, object]) -> bytes:
        tree = Tree()
        for name, value in node.items():
            if isinstance(value, dict):
                tree.add(name.encode(), 0o040000, make(value))
            else:
                tree.add(name.encode(), *leaf(value))  # type: ignore[arg-type]
        return keep(tree)

    return make(nested)
