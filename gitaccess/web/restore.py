"""Restoring a page's old version: a commit on the current head, pushed like any other.

The commit changes that one file back to the old version's blob, by the
logged-in account, and goes to :meth:`gitaccess.push.receiver.Receiver.receive`,
the entry point of every push: the same rules, permissions and single write
transaction, and it becomes a commit of the served history like any edit.
"""

from __future__ import annotations

from dulwich.objects import ObjectID, ShaFile, Tree

from gitaccess.auth.accounts import Account
from gitaccess.journal.commits import make_commit, wiki_identity
from gitaccess.objects.source import ObjectSource
from gitaccess.push.errors import PushRefused
from gitaccess.push.receiver import Receiver
from gitaccess.repository import WikiRepository
from gitaccess.web.history import HIDDEN_TEXT, Browser
from gitaccess.wiki.types import wiki_timestamp

FILE_MODE = 0o100644
TREE_MODE = 0o040000


class _WithNew:
    """The served objects plus the few a restore makes (what the push path reads)."""

    def __init__(self, served: ObjectSource, made: list[ShaFile]) -> None:
        self.served = served
        self.made: dict[bytes, ShaFile] = {obj.id: obj for obj in made}

    def __contains__(self, sha: object) -> bool:
        return sha in self.made or sha in self.served

    def get_raw(self, sha: bytes) -> tuple[int, bytes]:
        if sha in self.made:
            return self.made[sha].type_num, self.made[sha].as_raw_string()
        return self.served.get_raw(sha)

    def __getitem__(self, sha: bytes) -> ShaFile:
        type_num, data = self.get_raw(sha)
        return ShaFile.from_raw_string(type_num, data, sha=ObjectID(sha))


def restore(repository: WikiRepository, account: Account, path: str, version: str, shown_head: str,
            address: str) -> str:
    """Make the file at ``path`` what it was in commit ``version``, as a new edit by ``account``;
    returns the new commit's id.

    ``shown_head`` is the head when the form was shown: if the page changed
    since, nothing is written. Raises :class:`PushRefused` (stale, hidden
    text, or any rule or permission of a push) having written nothing, and
    :class:`gitaccess.web.history.NotInHistory` for a commit not served.
    """
    browser = Browser(repository)
    old = browser.commit(version)
    head = browser.head()
    if head is None:
        raise PushRefused("the wiki has no history yet")
    current = browser.commit(head)
    if browser.blob_at(current, path) != browser.blob_at(browser.commit(shown_head), path):
        raise PushRefused(f"{path} changed since this version was shown: look at its history again, "
                          "then restore")
    blob = browser.blob_at(old, path)
    if blob is None:
        raise PushRefused(f"{path} does not exist in commit {version}: there is nothing to restore")
    if browser.text_hidden(path, old):
        raise PushRefused(f"{path}: {HIDDEN_TEXT}, so it cannot be restored")
    if blob == browser.blob_at(current, path):
        raise PushRefused(f"{path} is already this version: there is nothing to restore")
    made: list[ShaFile] = []
    tree = _with_file(browser, current.tree, path.encode("utf-8").split(b"/"), blob.encode("ascii"), made)
    when = browser.info(old).when.strftime("%Y-%m-%d %H:%M")
    identity = wiki_identity(account.name, repository.site.config.server_name, wiki_timestamp())
    commit = make_commit(tree, [head.encode("ascii")], identity, identity,
                         f"Restore the version of {when} UTC ({version[:10]})\n".encode("utf-8"))
    made.append(commit)
    Receiver(repository.site, repository).receive(account, head.encode("ascii"), commit.id, repository.head(),
                                                  _WithNew(browser.objects, made), address=address)
    return commit.id.decode("ascii")


def _with_file(browser: Browser, tree_id: bytes | None, parts: list[bytes], blob: bytes,
               made: list[ShaFile]) -> bytes:
    """The id of ``tree_id`` (None: an empty tree) with the file at ``parts`` set to ``blob``;
    the trees it takes are added to ``made``."""
    tree = Tree() if tree_id is None else Tree.from_string(browser.objects[tree_id].as_raw_string())
    name, rest = parts[0], parts[1:]
    if rest:
        below = tree[name][1] if name in tree and tree[name][0] == TREE_MODE else None
        tree[name] = (TREE_MODE, ObjectID(_with_file(browser, below, rest, blob, made)))
    else:
        tree[name] = (FILE_MODE, ObjectID(blob))
    made.append(tree)
    return tree.id
