"""What a fetch sends: from the client's wants and haves to the objects of the pack.

The common case costs what is new: haves become positions on the
first-parent line, and the pack is what the commits after the highest
common position introduced. A shallow client is different: it lacks most of
the history below its boundary, so "introduced after p" may name objects it
never had (a page reverted to an old revision). For it, and for every
deepen request, the objects come from tree diffs of the commits sent, each
against a parent whose tree the client has or receives. That costs what is
sent plus, when a commit has no such parent, one walk of the client's tree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

from gitaccess.protocol.objects import (
    COMMIT,
    TAG,
    commit_links,
    commit_time,
    diff_trees,
    peel,
    read,
    tag_target,
    walk_tree,
)
from gitaccess.protocol.pktline import ProtocolError
from gitaccess.protocol.repository import ObjectEntry, ServedRepository

log = logging.getLogger(__name__)

#: How many commits off the first-parent line are followed (from a have, or below a shallow side commit).
HAVE_WALK_LIMIT = 1000


class NotOurRef(ProtocolError):
    """A want names an object this server does not serve."""


@dataclass(frozen=True)
class Deepen:
    """A shallow request: ``deepen N`` (relative or not) or ``deepen-since T``."""

    depth: int = 0
    relative: bool = False
    since: int | None = None

    @property
    def requested(self) -> bool:
        return bool(self.depth) or self.since is not None


@dataclass
class Selection:
    """The client's new shallow boundary, and the objects to send in pack order.

    The objects are listed only when asked for: a negotiation round that
    ends without a pack needs the shallow lines alone.
    """

    list_entries: Callable[[], list[ObjectEntry]]
    shallow: list[bytes] = field(default_factory=list)
    unshallow: list[bytes] = field(default_factory=list)
    #: Every base hint outside the pack names an object the client has (usable for a thin pack).
    bases_on_client: bool = False
    #: The client lacks everything and wants the whole line: the repository's ready pack fits.
    whole: bool = False

    @cached_property
    def entries(self) -> list[ObjectEntry]:
        return self.list_entries()


class History:
    """One request's view of the served repository."""

    def __init__(self, repo: ServedRepository) -> None:
        self.repo = repo
        self.store = repo.object_store()
        self.refs = repo.refs()
        self._advertised = set(self.refs.values())
        self._links: dict[bytes, tuple[bytes, list[bytes]]] = {}

    def links(self, commit: bytes) -> tuple[bytes, list[bytes]]:
        """Tree and parents of a commit, read once per request."""
        if commit not in self._links:
            self._links[commit] = commit_links(read(self.store, commit, COMMIT))
        return self._links[commit]

    def commit_at(self, position: int) -> bytes:
        return self.repo.commits_since(position - 1)[0]

    def want(self, sha: bytes) -> int:
        """The line position a want stands for; :class:`NotOurRef` if it is not ours to give."""
        position = self.repo.position(sha)
        if position is not None:
            return position
        if sha not in self._advertised:
            raise NotOurRef(f"upload-pack: not our ref {sha.decode()}")
        position = self.repo.position(peel(self.store, sha))
        if position is None:
            raise NotOurRef(f"upload-pack: {sha.decode()} does not lead to a commit of the served history")
        return position

    def have(self, sha: bytes) -> tuple[bool, int | None]:
        """Whether we know the object, and the highest line position the client has through it."""
        position = self.repo.position(sha)
        if position is not None:
            return True, position
        if sha not in self.store:
            return False, None
        if self.store.get_raw(sha)[0] != COMMIT:
            return True, None
        return True, self._line_below(sha)

    def _line_below(self, commit: bytes) -> int | None:
        """The highest line position among the ancestors of an off-line commit, looking a bounded way."""
        best = None
        queue, seen = [commit], {commit}
        while queue and len(seen) <= HAVE_WALK_LIMIT:
            for parent in self.links(queue.pop())[1]:
                position = self.repo.position(parent)
                if position is not None:
                    best = max(best if best is not None else -1, position)
                elif parent not in seen and parent in self.store:
                    seen.add(parent)
                    queue.append(parent)
        return best

    # ------------------------------------------------------------------ selection
    def select(self, wants: list[bytes], common: int, shallows: list[bytes], deepen: Deepen,
               include_tag: bool) -> Selection:
        """The objects for ``wants`` that a client holding line position ``common`` lacks.

        Raises NotOurRef for a want this server does not serve and ProtocolError
        when ``deepen-since`` leaves no commit to send; reading a commit here, or
        listing the objects later, raises MissingObject when the served history
        lacks one.
        """
        positions = [self.want(w) for w in wants]
        top = max(positions)
        sent: range | set[int]
        if not shallows and not deepen.requested:
            selection = self._introduced_after(common, top)
            sent = range(common + 1, top + 1)
            head = self.refs.get(self.repo.head())
            selection.whole = (common < 0 and head is not None and top == self.repo.position(head)
                               and all(self.repo.position(w) is not None for w in wants)
                               and not any(name.startswith(b"refs/tags/") for name in self.refs))
        else:
            selection, sent = _ShallowSelection(self, common, top, shallows, deepen).select(positions)
        objects = selection.list_entries
        selection.list_entries = lambda: objects() + self._tags(wants, include_tag, sent)
        return selection

    def _introduced_after(self, common: int, top: int) -> Selection:
        def entries() -> list[ObjectEntry]:
            commits = self.repo.commits_since(common)[: max(0, top - common)]
            return [entry for commit in commits for entry in self.repo.introduced(commit)]

        return Selection(entries, bases_on_client=common >= 0)

    def _tags(self, wants: list[bytes], include_tag: bool, sent: range | set[int]) -> list[ObjectEntry]:
        """Wanted annotated tags, and with include-tag those pointing into what is sent."""
        tips = [w for w in wants if self.repo.position(w) is None]
        if include_tag:
            for name, sha in sorted(self.refs.items()):
                if name.startswith(b"refs/tags/") and sha not in tips and self.store.get_raw(sha)[0] == TAG:
                    position = self.repo.position(peel(self.store, sha))
                    if position is not None and position in sent:
                        tips.append(sha)
        entries = []
        for sha in tips:
            type_num, data = self.store.get_raw(sha)
            while type_num == TAG:
                entries.append(ObjectEntry(sha, TAG))
                sha = tag_target(data)[0]
                type_num, data = self.store.get_raw(sha)
        return entries


class _ShallowSelection:
    """Selection for a shallow client or a deepen request (see the module docstring)."""

    def __init__(self, history: History, common: int, top: int, shallows: list[bytes], deepen: Deepen) -> None:
        self.h = history
        self.repo = history.repo
        self.top = top
        self.deepen = deepen
        self.client_shallow = set(shallows)
        self.shallow_positions = sorted(p for p in map(self.repo.position, shallows) if p is not None)
        low = max((p for p in self.shallow_positions if p <= common), default=0)
        #: Line positions whose commits (and full trees) the client has.
        self.held = range(low, common + 1) if common >= 0 else range(0)
        self._client_objects: set[bytes] | None = None

    def select(self, wants: list[int]) -> tuple[Selection, set[int]]:
        windows = self._windows(wants)
        selection, sent = self._commits(windows)
        if not self.deepen.requested and selection.shallow:
            # Without a deepen request the client cannot take new shallow commits: a side branch
            # reaching below its boundary needs the history below, as git itself would send.
            selection, sent = self._commits([range(0, self.top + 1)])
            if selection.shallow:
                log.warning("side branches below a shallow client's boundary stay incomplete: %s",
                            b" ".join(selection.shallow).decode())
                selection.shallow = []
        return selection, sent

    def _windows(self, wants: list[int]) -> list[range]:
        """The line positions the client should hold after the fetch, as ranges."""
        deepen = self.deepen
        if deepen.since is not None:
            return [range(self._first_since(w, deepen.since), w + 1) for w in wants]
        if deepen.depth and deepen.relative:
            start = self.shallow_positions[0] - deepen.depth if self.shallow_positions else 0
            return [range(max(0, start), self.top + 1)]
        if deepen.depth:
            return [range(max(0, w - deepen.depth + 1), w + 1) for w in wants]
        return [range(self.held.start, self.top + 1)]

    def _first_since(self, want: int, since: int) -> int:
        position = want
        while position >= 0 and commit_time(read(self.h.store, self.h.commit_at(position), COMMIT)) >= since:
            position -= 1
        if position == want:
            raise ProtocolError("no commits selected for shallow requests (all are older than --shallow-since)")
        return position + 1

    def _commits(self, windows: list[range]) -> tuple[Selection, set[int]]:
        held = self.held
        inside = lambda p: any(p in w for w in windows)  # noqa: E731 - a predicate over few ranges
        boundary = {w.start for w in windows if w.start > 0 and not inside(w.start - 1)}
        sent: set[int] = set()
        for w in windows:
            sent.update(range(w.start, min(w.stop, held.start)), range(max(w.start, held.stop), w.stop))
        line_present = lambda p: p in sent or p in held  # noqa: E731
        commits: dict[bytes, None] = {}
        cut: set[bytes] = set()
        for position in sorted(sent):
            commit = self.h.commit_at(position)
            commits[commit] = None
            if position in boundary and self.deepen.requested:
                cut.add(commit)
            else:
                commits.update((e.sha, None) for e in self.repo.introduced(commit) if e.type_num == COMMIT)

        def present(commit: bytes) -> bool:
            """Whether the client has the commit with its full tree, or gets them now."""
            position = self.repo.position(commit)
            return line_present(position) if position is not None else commit in commits

        side_shallows = [c for c in self.client_shallow if self.repo.position(c) is None and c in self.h.store]
        for shallow in side_shallows if self.deepen.requested else ():
            self._add_side_history(shallow, commits)
        for commit in list(commits):
            missing = [] if commit in cut else [p for p in self.h.links(commit)[1] if not present(p)]
            if missing and self.repo.position(commit) is None:
                cut.add(commit)  # a side-branch commit whose older history the client will not get
            elif missing:
                for parent in missing:  # a side branch merged before, which the client may lack
                    commits[parent] = None
                    cut.add(parent)
        unshallow = [self.h.commit_at(p) for p in self.shallow_positions
                     if self.deepen.requested and p > 0 and inside(p) and inside(p - 1)]
        unshallow += [c for c in side_shallows
                      if self.deepen.requested and all(present(p) for p in self.h.links(c)[1])]
        selection = Selection(
            lambda: self._objects(commits, present),
            shallow=[c for c in commits if c in cut and c not in self.client_shallow],
            unshallow=unshallow,
            bases_on_client=bool(held),
        )
        return selection, sent

    def _add_side_history(self, shallow: bytes, commits: dict[bytes, None]) -> None:
        """The side-branch commits below a client's shallow side commit, down to the line (bounded)."""
        stack = list(self.h.links(shallow)[1])
        added = 0
        while stack and added < HAVE_WALK_LIMIT:
            commit = stack.pop()
            if commit not in commits and self.repo.position(commit) is None and commit in self.h.store:
                commits[commit] = None
                added += 1
                stack.extend(self.h.links(commit)[1])

    def _objects(self, commits: Iterable[bytes], present: Callable[[bytes], bool]) -> list[ObjectEntry]:
        """Each commit with the objects of its tree not already held or sent."""
        entries: list[ObjectEntry] = []
        sent: set[bytes] = set()
        skip = _Either(sent, set())
        for commit in commits:
            tree, parents = self.h.links(commit)
            entries.append(ObjectEntry(commit, COMMIT))
            if parents and present(parents[0]):
                candidates = diff_trees(self.h.store, tree, self.h.links(parents[0])[0], skip)
            else:
                skip.other = self._client_trees()
                candidates = walk_tree(self.h.store, tree, skip)
            for entry in candidates:
                if entry.sha not in sent:
                    sent.add(entry.sha)
                    entries.append(entry)
        return entries

    def _client_trees(self) -> set[bytes]:
        """Every object of the trees at the client's top and bottom held commits (walked once)."""
        if self._client_objects is None:
            self._client_objects = set()
            for position in {self.held.start, self.held.stop - 1} if self.held else ():
                tree = self.h.links(self.h.commit_at(position))[0]
                self._client_objects.update(e.sha for e in walk_tree(self.h.store, tree, self._client_objects))
        return self._client_objects


class _Either:
    """Membership in either of two sets, without merging them."""

    def __init__(self, one: set[bytes], other: set[bytes]) -> None:
        self.one = one
        self.other = other

    def __contains__(self, sha: object) -> bool:
        return sha in self.one or sha in self.other
