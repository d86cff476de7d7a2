"""Git tree objects for a finished layout: {path: (mode, blob id)} -> nested trees.

The git layer hands over every file of a commit; this builds the tree
objects bottom-up with dulwich, which orders entries as git does (a
directory sorts as if its name ended with '/'), so the ids are git's.
Pure: dulwich is used only as an object format.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

from dulwich.objects import Tree

TREE_MODE = 0o040000


class BuiltTree(NamedTuple):
    """The root tree and every tree object under it (children first, root last)."""

    root: Tree
    trees: list[Tree]


def build_tree(files: Mapping[str, tuple[int, bytes | str]]) -> BuiltTree:
    """Tree objects, bottom-up, for {path: (mode, blob id in hex)}.

    Raises ValueError for a path that is not a clean relative path or that
    is both a file and a directory.
    """
    root: dict[str, object] = {}
    for path, (mode, sha) in files.items():
        problem = _raw_path_problem(path)
        if problem:
            raise ValueError(f"{path!r}: {problem}")
        components = path.split("/")
        node = root
        for name in components[:-1]:
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise ValueError(f"{path!r}: {name!r} is a file and a directory")
            node = child
        if components[-1] in node:
            raise ValueError(f"{path!r} is a file and a directory, or listed twice")
        node[components[-1]] = (mode, sha.encode("ascii") if isinstance(sha, str) else sha)
    trees: list[Tree] = []
    return BuiltTree(_make_tree(root, trees), trees)


def _make_tree(node: dict[str, object], trees: list[Tree]) -> Tree:
    tree = Tree()
    for name, value in node.items():
        if isinstance(value, dict):
            child = _make_tree(value, trees)
            tree.add(name.encode("utf-8"), TREE_MODE, child.id)
        else:
            mode, sha = value
            tree.add(name.encode("utf-8"), mode, sha)
    trees.append(tree)
    return tree


def _raw_path_problem(path: str) -> str | None:
    """What git itself refuses in any tree, portable or not."""
    if not path or path.startswith("/") or path.endswith("/"):
        return "not a relative file path"
    for name in path.split("/"):
        if name in ("", ".", "..") or "\0" in name:
            return f"{name!r} cannot be a path component"
    return None

