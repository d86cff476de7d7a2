"""The plan of a synthetic wiki: who edits what, when, in which order (deterministic for a seed).

:func:`plan` yields page creations and edits of varied size (small fixes,
inserted paragraphs, deleted lines, new sections, reverts, rewrites, a few
very large pages), in every included namespace and two excluded ones, with
subpages, hostile titles (characters Windows forbids, reserved device
names, ``.git``, a 253-byte title) and titles that differ only by case,
uploads and re-uploads, deletions, and moves with and without a redirect.
The main namespace, which has no subpages, is one flat directory (6,500
pages at the large size). Texts are made as the plan is consumed, so a
100,000-revision plan never sits in memory.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from gitaccess.titles.namespaces import FILE
from gitaccess.titles.codec import InvalidTitle, Title, TitleCodec
from gitaccess.wiki.writer import Editor

#: The account the benchmarks authenticate as (HTTP Basic through the gate).
BENCH_USER = "Admin"
BENCH_PASSWORD = "bench-password-1"


@dataclass(frozen=True)
class Size:
    name: str
    pages: int  # pages created by edits (File pages of uploads and move redirects come on top)
    revisions: int  # revision rows in total, null revisions included
    main_share: float = 0.65  # of the created pages, in the main namespace (one flat directory)
    #: Of the operations that are not page creations: uploads, moves, deletions (the rest are edits).
    uploads: float = 0.010
    moves: float = 0.005
    deletions: float = 0.003


SIZES = {
    "tiny": Size("tiny", 50, 200, uploads=0.05, moves=0.04, deletions=0.03),
    #: The size of the git-remote-mediawiki comparison (2,000 revisions: minutes for it, not hours).
    "mini": Size("mini", 400, 2_000, uploads=0.02, moves=0.01, deletions=0.01),
    "small": Size("small", 2_000, 10_000),
    "medium": Size("medium", 4_000, 20_000),
    "large": Size("large", 10_000, 100_000),
}

WORDS = (
    "wiki page edit history revision template link talk user file category redirect table image section note "
    "source draft article river mountain city village castle bridge museum library school church garden forest "
    "island lake station harbour railway road tower market festival battle treaty empire kingdom republic "
    "province county district population climate economy culture language music painting theatre cinema poem "
    "novel author painter composer architect scientist engineer physician teacher farmer merchant sailor "
    "soldier king queen bishop mayor senator president minister the of and in to a is was for on with as by "
    "at from that which were has had its also first new one two three century year early later modern old "
    "north south east west large small main local national public historic famous known called built founded"
).split()
SUMMARIES = ("", "fix typo", "copyedit", "update", "expand section", "add references", "rv vandalism",
             "/* History */ more detail", "/* See also */ add link", "clean up", "formatting", "per talk page",
             "minor", "reword intro", "wikify", "update figures for the new year", "merge from draft")

# Titles that need aliases (docs/repository.md: characters Windows forbids, device names, .git, trailing dot,
# a component over 255 bytes) and titles that differ only by case. Each is parsed by the wiki's
# title rules; one that is not a valid title is left out.
HOSTILE = ("Who*", "What?", 'Say_"hi"', "Back\\slash", "A:B_ratio", "CON", "Nul.txt", "Com1", "Lpt9.log",
           "Trailing.", ".git", "Git~1", "Über_Straße", "Ωmega", "Foo.css", "Talk_about.json",
           "X" * 253, "Tab\u00a0space", "Emoji_\U0001f600")
CASE_CONFLICTS = ("Case_study", "Case_Study", "CASE_STUDY", "Template:Infobox_city", "Template:Infobox_City",
                  "User:Bob/notes", "User:Bob/Notes", "Help:Editing/faq", "Help:Editing/FAQ")


# ---------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Person:
    name: str
    user_id: int  # 0: an IP editor
    groups: tuple[str, ...] = ()

    @property
    def editor(self) -> Editor:
        return Editor(self.name, self.user_id, frozenset(self.groups), "" if self.user_id else self.name)


@dataclass(frozen=True)
class EditOp:
    """Create or edit a page."""

    namespace: int
    dbkey: str
    text: str
    user: int
    summary: str
    minor: bool
    timestamp: str
    model: str


@dataclass(frozen=True)
class DeleteOp:
    namespace: int
    dbkey: str
    user: int
    reason: str
    timestamp: str


@dataclass(frozen=True)
class MoveOp:
    namespace: int
    dbkey: str
    new_namespace: int
    new_dbkey: str
    user: int
    reason: str
    redirect: bool
    timestamp: str


@dataclass(frozen=True)
class UploadOp:
    name: str
    data: bytes
    user: int
    comment: str
    page_text: str
    timestamp: str


Op = EditOp | DeleteOp | MoveOp | UploadOp


@dataclass
class _PlanPage:
    namespace: int
    dbkey: str
    model: str
    lines: list[str]
    past: list[list[str]] = field(default_factory=list)
    alive: bool = True
    is_file: bool = False


def people(seed: int) -> list[Person]:
    """The wiki's editors: the bench admin, a bot, named users (user ids 1..n) and IP addresses."""
    rng = random.Random(seed * 31 + 7)
    named = [Person(BENCH_USER, 1, ("sysop", "bureaucrat")), Person("Import_bot", 2, ("bot",))]
    first = ("Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory",
             "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Zoë")
    for index, name in enumerate(first):
        named.append(Person(name.replace(" ", "_"), len(named) + 1, ("sysop",) if index % 7 == 0 else ()))
    ips = [Person(f"192.0.2.{rng.randint(1, 254)}", 0) for _ in range(12)]
    unique_ips = list({p.name: p for p in ips}.values())
    return named + unique_ips


def _stamp(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y%m%d%H%M%S")


class _Planner:
    def __init__(self, size: Size, seed: int, titles: TitleCodec, persons: list[Person]) -> None:
        self.size = size
        self.rng = random.Random(seed)
        self.titles = titles
        self.persons = persons
        self.clock = 1_420_070_400  # 2015-01-01
        self.taken: set[tuple[int, str]] = set()
        self.live: list[_PlanPage] = []
        self.hot: list[_PlanPage] = []
        self.movable: list[_PlanPage] = []
        self.file_pages: list[_PlanPage] = []
        self.revisions = 0
        self.created = 0
        self.counter = 0
        special = [*HOSTILE, *CASE_CONFLICTS]
        self.special = [t for t in (self._parse(s) for s in special) if t is not None]

    # --- helpers
    def _parse(self, text: str) -> Title | None:
        try:
            title = self.titles.parse(text)
        except InvalidTitle:
            return None
        return title if not title.interwiki and not title.fragment else None

    def _tick(self) -> str:
        self.clock += self.rng.randint(1, 900)
        return _stamp(self.clock)

    def _user(self) -> int:
        r = self.rng.random()
        if r < 0.08:
            return self.rng.randrange(22, len(self.persons))  # an IP editor
        if r < 0.13:
            return 1  # the bot
        return self.rng.choice((0, *range(2, 22), 2, 3, 4, 5))

    def _words(self, low: int, high: int) -> str:
        return " ".join(self.rng.choices(WORDS, k=self.rng.randint(low, high)))

    def _line(self, model: str) -> str:
        rng = self.rng
        if model == "wikitext":
            r = rng.random()
            if r < 0.05:
                return f"== {self._words(1, 4).capitalize()} =="
            if r < 0.18:
                return f"* {self._words(3, 10)} [[{self._words(1, 2).capitalize()}]]"
            if r < 0.22:
                return f"{{{{Infobox|name={self._words(1, 3)}|year={rng.randint(1000, 2024)}}}}}"
            text = self._words(8, 24).capitalize()
            if rng.random() < 0.3:
                text += f" [[{self._words(1, 3).capitalize()}]] {self._words(3, 10)}"
            return text + "."
        if model == "css":
            return f".{self._words(1, 1)}-{self._words(1, 1)} {{ margin: {rng.randint(0, 20)}px; }}"
        if model == "javascript":
            return f"var {self._words(1, 1)}{rng.randint(0, 99)} = '{self._words(2, 6)}';"
        if model == "Scribunto":
            return f"local {self._words(1, 1)}{rng.randint(0, 99)} = \"{self._words(2, 6)}\""
        if model == "json":
            return f'    "{self._words(1, 1)}{rng.randint(0, 9999)}": "{self._words(1, 5)}",'
        return self._words(4, 14)

    def _render(self, page: _PlanPage) -> str:
        if page.model == "json":
            body = [line.rstrip(",") + "," for line in page.lines]
            body[-1] = body[-1].rstrip(",")
            return "{\n" + "\n".join(body) + "\n}\n"
        return "\n".join(page.lines) + "\n"

    def _initial_lines(self, model: str) -> list[str]:
        rng = self.rng
        if rng.random() < 0.005:
            count = rng.randint(1000, 2000)  # a very large page (80-160 KB)
        else:
            count = max(1, min(400, int(rng.lognormvariate(2.6, 0.9))))
        return [self._line(model) for _ in range(count)]

    # --- titles
    def _new_title(self) -> tuple[Title, str]:
        """A fresh title for a created page and its content model."""
        if self.special:
            title = self.special.pop(0)
            return title, self._model_for(title)
        rng = self.rng
        self.counter += 1
        n = self.counter
        r = rng.random()
        main = self.size.main_share
        words = f"{rng.choice(WORDS).capitalize()}_{rng.choice(WORDS)}"
        if r < main:
            text = f"{words}_{n}"
        elif r < main + 0.08:
            owner = rng.choice(self.persons[:22]).name
            text = f"User:{owner}" + ("" if rng.random() < 0.2 else f"/{words}_{n}")
            if rng.random() < 0.05:
                text = f"User:{owner}/Data_{n}.json"
        elif r < main + 0.14:
            text = f"Template:{words}_{n}" + ("/doc" if rng.random() < 0.2 else "")
        elif r < main + 0.17:
            text = f"Help:{words}/{rng.choice(WORDS)}_{n}"
        elif r < main + 0.20:
            text = f"Project:{words}_{n}"
        elif r < main + 0.23:
            text = f"Category:{words}_{n}"
        elif r < main + 0.24:
            text = f"MediaWiki:Gadget-{words}_{n}." + rng.choice(("css", "js"))
        elif r < main + 0.26:
            text = f"Module:{words}_{n}" + ("/data" if rng.random() < 0.3 else "")
        elif r < main + 0.31:
            text = f"Talk:{words}_{n}"  # excluded namespaces: revisions without commits
        else:
            text = f"User_talk:{rng.choice(self.persons[:22]).name}/{n}"
        title = self._parse(text)
        if title is None or (title.namespace, title.dbkey) in self.taken:
            return self._new_title()
        return title, self._model_for(title)

    @staticmethod
    def _model_for(title: Title) -> str:
        key = title.dbkey
        if title.namespace == 8 and key.endswith(".css"):
            return "css"
        if title.namespace == 8 and key.endswith(".js"):
            return "javascript"
        if title.namespace == 828 and not key.endswith("/doc"):
            return "Scribunto"
        if title.namespace == 2 and key.endswith(".json"):
            return "json"
        return "wikitext"

    # --- operations
    def _create(self) -> Op:
        title, model = self._new_title()
        page = _PlanPage(title.namespace, title.dbkey, model, self._initial_lines(model))
        self.taken.add((title.namespace, title.dbkey))
        self.live.append(page)
        if len(self.hot) < max(5, self.size.pages // 20) and self.rng.random() < 0.1:
            self.hot.append(page)
        if title.namespace in (0, 2, 4, 12):
            self.movable.append(page)
        self.created += 1
        self.revisions += 1
        return EditOp(title.namespace, title.dbkey, self._render(page), self._user(),
                      self.rng.choice(("Created page", "new article", "stub", "start page", "")),
                      False, self._tick(), model)

    def _pick(self) -> _PlanPage:
        while True:
            source = self.hot if self.hot and self.rng.random() < 0.45 else self.live
            page = self.rng.choice(source)
            if page.alive:
                return page

    def _edit(self) -> Op:
        rng = self.rng
        page = self._pick()
        old = list(page.lines)
        lines = page.lines
        r = rng.random()
        if r < 0.04 and page.past:
            lines[:] = rng.choice(page.past)  # a revert to an earlier revision
            summary = "Reverted edits"
        elif r < 0.07:
            lines[:] = self._initial_lines(page.model)  # a rewrite
            summary = "rewrite"
        elif r < 0.60 or len(lines) < 3:
            at = rng.randrange(len(lines))
            lines[at] = self._line(page.model)
            if rng.random() < 0.3 and page.model == "wikitext":
                at = rng.randrange(len(lines))
                lines[at] = lines[at] + " " + self._words(1, 6)
            summary = rng.choice(SUMMARIES)
        elif r < 0.82:
            at = rng.randrange(len(lines) + 1)
            lines[at:at] = [self._line(page.model) for _ in range(rng.randint(1, 10))]
            summary = rng.choice(SUMMARIES)
        elif r < 0.92:
            at = rng.randrange(len(lines) - 1)
            del lines[at:at + rng.randint(1, min(5, len(lines) - 1))]
            summary = "remove unsourced text"
        else:
            if page.model == "wikitext":
                lines.append(f"== {self._words(1, 3).capitalize()} ==")
            lines.extend(self._line(page.model) for _ in range(rng.randint(3, 12)))
            summary = "/* New section */ add"
        if lines == old:
            lines.append(self._line(page.model))
        page.past = (page.past + [old])[-3:]
        self.revisions += 1
        return EditOp(page.namespace, page.dbkey, self._render(page), self._user(), summary,
                      rng.random() < 0.25, self._tick(), page.model)

    def _png(self) -> bytes:
        width, height = self.rng.randint(16, 800), self.rng.randint(16, 600)
        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        ihdr = struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header))
        return b"\x89PNG\r\n\x1a\n" + ihdr + self.rng.randbytes(self.rng.randint(1_000, 40_000))

    def _upload(self) -> Op:
        rng = self.rng
        if self.file_pages and rng.random() < 0.25:
            page = rng.choice(self.file_pages)
            self.revisions += 1  # the null revision of a re-upload
            return UploadOp(page.dbkey, self._png(), rng.randrange(0, 22), "new version", "", self._tick())
        self.counter += 1
        name = f"Upload_{rng.choice(WORDS)}_{self.counter}.png"
        text = f"== Summary ==\n{self._words(5, 15).capitalize()}.\n\n== Licensing ==\n{{{{cc-by-sa-4.0}}}}"
        page = _PlanPage(FILE, name, "wikitext", text.split("\n"), is_file=True)
        self.taken.add((FILE, name))
        self.live.append(page)
        self.file_pages.append(page)
        self.revisions += 1
        return UploadOp(name, self._png(), rng.randrange(0, 22), f"upload {self._words(1, 3)}", text + "\n", self._tick())

    def _delete(self) -> Op | None:
        candidates = [p for p in (self.rng.choice(self.live) for _ in range(5))
                      if p.alive and not p.is_file and p not in self.hot]
        if not candidates:
            return None
        page = candidates[0]
        page.alive = False
        self.live.remove(page)  # _pick draws from live: it must always hold a page alive
        return DeleteOp(page.namespace, page.dbkey, 0, self.rng.choice(("spam", "non-notable", "G7", "")),
                        self._tick())

    def _move(self) -> Op | None:
        rng = self.rng
        page = rng.choice(self.movable)
        if not page.alive:
            return None
        self.counter += 1
        if page.namespace == 0 and rng.random() < 0.3:
            target = self._parse(f"User:{rng.choice(self.persons[:22]).name}/Drafts/{page.dbkey}_{self.counter}")
        else:
            target = Title(page.namespace, f"{page.dbkey}_(renamed_{self.counter})")
        if target is None or (target.namespace, target.dbkey) in self.taken or len(target.dbkey) > 240:
            return None
        redirect = rng.random() < 0.7
        mover = rng.randrange(0, 22)  # IP editors cannot move pages
        op = MoveOp(page.namespace, page.dbkey, target.namespace, target.dbkey, mover,
                    rng.choice(("better title", "naming conventions", "typo in title", "")), redirect, self._tick())
        self.taken.add((target.namespace, target.dbkey))
        page.namespace, page.dbkey = target.namespace, target.dbkey
        self.revisions += 1  # the null revision
        if redirect:
            old = Title(op.namespace, op.dbkey)
            redirect_page = _PlanPage(old.namespace, old.dbkey, "wikitext",
                                      [f"#REDIRECT [[{self.titles.full_text(target, canonical=False)}]]"])
            self.live.append(redirect_page)
            self.revisions += 1
        return op

    def ops(self) -> Iterator[Op]:
        size = self.size
        while self.revisions < size.revisions:
            left_pages = size.pages - self.created
            left_revs = size.revisions - self.revisions
            if not self.live or (left_pages > 0 and self.rng.random() < left_pages / left_revs):
                yield self._create()
                continue
            r = self.rng.random()
            op: Op | None
            if r < size.uploads:
                op = self._upload()
            elif r < size.uploads + size.moves:
                op = self._move()
            elif r < size.uploads + size.moves + size.deletions:
                op = self._delete()
            else:
                op = self._edit()
            if op is not None:
                yield op


def plan(size: Size, seed: int, titles: TitleCodec) -> tuple[list[Person], Iterator[Op]]:
    """The wiki's editors, and its edits in order (a generator: texts are made as they are written)."""
    persons = people(seed)
    return persons, _Planner(size, seed, titles, persons).ops()


