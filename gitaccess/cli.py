"""The ``gitaccess`` command line (click, through Flask's CLI support).

``gitaccess [--db URL] [--config FILE] COMMAND``: the options beat
``GITACCESS_DB`` and ``GITACCESS_CONFIG``, which beat ``./gitaccess.toml``,
which beats the defaults (gitaccess.config).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo

from gitaccess.auth import accounts
from gitaccess.app import create_app, site_of
from gitaccess.config import load_config
from gitaccess.titles.contentmodels import default_model, namespace_models
from gitaccess.errors import GitAccessError
from gitaccess.journal.history import History
from gitaccess.dumps.importer import import_dump
from gitaccess.auth.passwords import hash_password
from gitaccess.repository import WikiRepository
from gitaccess.server import run
from gitaccess.site import Site
from gitaccess.titles.codec import InvalidTitle, Title
from gitaccess.tree.gittree import GitTree
from gitaccess.tree.layout import PathError
from gitaccess.wiki import migrate, standalone, variant
from gitaccess.wiki.refusals import DatabaseRefusal, refusal_text
from gitaccess.wiki.writer import Editor, WikiWriter

MAIN_PAGE_TEXT = (
    "This wiki is served by gitaccess.\n\n"
    "Clone it with <code>git clone</code>, edit pages in your own editor and "
    "<code>git push</code> them back as wiki edits.\n"
)


def _make_app() -> Flask:
    info = click.get_current_context().find_object(ScriptInfo)
    options = info.data if info else {}
    return create_app(load_config(options.get("config"), options.get("db")))


def _site() -> Site:
    return site_of(current_app)


class _Group(FlaskGroup):
    """Flask's CLI group that turns gitaccess's errors into one clear line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GitAccessError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except DatabaseRefusal as exc:
            click.echo("error: the database refused: " + refusal_text(exc), err=True)
            ctx.exit(1)


@click.group(cls=_Group, create_app=_make_app, add_default_commands=False, add_version_option=False,
             load_dotenv=False, set_debug_flag=False)
@click.option("--db", metavar="URL", help="Database URL (beats GITACCESS_DB and the config file).")
@click.option("--config", metavar="FILE", help="TOML configuration file (beats GITACCESS_CONFIG).")
@click.pass_context
def cli(ctx: click.Context, db: str | None, config: str | None) -> None:
    """Git smart-HTTP access to a MediaWiki wiki database."""
    ctx.ensure_object(ScriptInfo).data.update(db=db, config=config)


@cli.command()
def init() -> None:
    """Create an empty standalone wiki database (MediaWiki's tables and gitaccess's)."""
    site = _site()
    standalone.create(site.db)
    click.echo(f"created an empty wiki in {site.db.display_url}")


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Add or update gitaccess's tables in a MediaWiki database (idempotent)."""
    site = _site()
    site.db.require_wiki()
    migrate.upgrade(site.db)
    click.echo("gitaccess's tables are up to date")


@db.command("status")
def db_status() -> None:
    """Show the database, the MediaWiki schema found in it, whether pushes are accepted on it,
    and the revision of gitaccess's own tables."""
    site = _site()
    site.db.require_wiki()
    found = variant.detect(site.db)
    server = ".".join(str(part) for part in site.db.engine.dialect.server_version_info or ())
    installed = migrate.installed_revision(site.db)
    newest = migrate.newest_revision(site.db)
    click.echo(f"database: {site.db.display_url} ({site.db.dialect} {server})")
    click.echo(f"schema: {found.describe()}")
    click.echo("pushes: " + ("accepted (read/write)" if found.writable else "refused (read-only): "
                             + found.refusal()))
    if installed is None:
        click.echo(f"gitaccess tables: none (newest revision {newest}): run `gitaccess db upgrade`")
    elif installed != newest:
        click.echo(f"gitaccess tables: revision {installed}, newest {newest}: run `gitaccess db upgrade`")
    else:
        click.echo(f"gitaccess tables: revision {installed} (up to date)")


@cli.group()
def user() -> None:
    """Wiki accounts of a standalone wiki."""


@user.command("add")
@click.argument("name")
@click.option("--password", required=True, help="The account's password.")
@click.option("--group", "groups", multiple=True, help="A group to add the user to (repeatable), e.g. sysop.")
def user_add(name: str, password: str, groups: tuple[str, ...]) -> None:
    """Create a wiki account."""
    site = _site()
    site.db.require_wiki()
    canonical = accounts.canonical_user_name(site.titles, name)
    with site.db.write() as conn:
        WikiWriter(site.db, conn).create_user(canonical, hash_password(password), groups)
    click.echo(f"created user {canonical}" + (f" in {', '.join(groups)}" if groups else ""))


@cli.command()
@click.argument("text", required=False)
@click.option("--namespace", type=int, default=0, help="Default namespace id for TEXT.")
@click.option("--path", "path", help="A repository path to read back as a title instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def title(text: str | None, namespace: int, path: str | None, as_json: bool) -> None:
    """Show what a title normalises to and where it lives (or, with --path, the reverse)."""
    site = _site()
    if (text is None) == (path is None):
        raise click.UsageError("give a TITLE or --path PATH")
    try:
        if path is not None:
            parsed, model = GitTree(site.layout).path_to_title(path, site.aliases())
            where = path
        else:
            parsed = site.titles.parse(text or "", namespace)
            model = default_model(parsed, namespace_models(site.config))
            placed = GitTree(site.layout).place([(parsed.namespace, parsed.dbkey, model)], site.aliases())
            where = placed.titles.get(Title(parsed.namespace, parsed.dbkey)) if not parsed.interwiki else None
    except (InvalidTitle, PathError) as exc:
        key = exc.key if isinstance(exc, InvalidTitle) else "gitaccess-invalid-path"
        if as_json:
            click.echo(json.dumps({"error": key}))
        else:
            click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if not as_json:
        click.echo(site.titles.full_text(parsed) + (f"\t{where}" if where else ""))
        return
    result: dict[str, Any] = {"namespace": parsed.namespace, "dbkey": parsed.dbkey}
    if where:
        result["path"] = where
    if path is not None and model:
        result["model"] = model
    if parsed.fragment:
        result["fragment"] = parsed.fragment
    if parsed.interwiki:
        result["interwiki"] = parsed.interwiki
    click.echo(json.dumps(result, ensure_ascii=False))


@cli.command("import-dump")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_dump_command(file: str) -> None:
    """Import a MediaWiki XML dump (plain, .gz or .bz2) into a wiki with no revisions yet."""
    site = _site()
    site.db.require_wiki()
    size = os.path.getsize(file)
    with open(file, "rb") as stream, click.progressbar(length=size, label="importing", file=sys.stderr,
                                                      show_pos=False, show_percent=True) as bar:
        stats = import_dump(site, stream, progress=lambda done: bar.update(done - bar.pos))
    for warning in stats.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"imported {stats.pages} pages, {stats.revisions} revisions, {stats.uploads} files, "
               f"{stats.log_items} log entries" + (" (adopted the dump's site information)"
                                                  if stats.adopted_siteinfo else ""))


class _Bars:
    """A progress bar on standard error for each phase of long work, told (phase, done, total)."""

    def __init__(self) -> None:
        self._phase: str | None = None
        self._bar: Any = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self._phase:
            self.close()
            self._phase = phase
            if total:
                self._bar = click.progressbar(length=total, label=phase, file=sys.stderr).__enter__()
        if self._bar is not None:
            self._bar.update(done - self._bar.pos)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@cli.command()
def refresh() -> None:
    """Bring the served history up to the wiki now, showing progress.

    The first request after an import, or after an upgrade that changed the
    object cache's format, would otherwise wait for this, long on a large
    wiki; serving does the same whenever the wiki has changed.
    """
    site = _site()
    site.db.require_wiki()
    repo = WikiRepository(site)
    bars = _Bars()
    try:
        repo.refresh(bars)
        head = repo.cache.head()
    finally:
        bars.close()
        repo.close()
    if head is None:
        click.echo("the wiki has no history to serve yet")
    else:
        click.echo(f"serving {head[0] + 1} commits; {repo.head().decode()} is {head[1].decode()}")


@cli.command()
def verify() -> None:
    """Rebuild every published commit from the database and compare it with the journal."""
    site = _site()
    site.db.require_wiki()
    bars = _Bars()
    try:
        count = History(site).verify(lambda done, total: bars("rebuilding commits", done, total))
    finally:
        bars.close()
    click.echo(f"all {count} commits of the journal rebuild identically")


@cli.command()
@click.confirmation_option(prompt="Rewrite published history without what the wiki now hides?")
def redact() -> None:
    """Rewrite history from the first commit that no longer rebuilds (hidden or purged content)."""
    site = _site()
    site.db.require_wiki()
    count = History(site).redact()
    if count:
        click.echo(f"rewrote {count} commits; clones must fetch and reset to the new branch")
    else:
        click.echo("every commit rebuilds identically: nothing to redact")


def bootstrap(site: Site) -> str | None:
    """Create the embedded wiki on first start; returns the new admin's password."""
    if site.database_exists() and site.db.table_names:
        return None
    site.config.data_directory.mkdir(parents=True, exist_ok=True)
    standalone.create(site.db)
    password = secrets.token_urlsafe(18)
    with site.db.write() as conn:
        writer = WikiWriter(site.db, conn, titles=site.titles)
        user_id = writer.create_user("Admin", hash_password(password), ("sysop", "bureaucrat"))
        admin = Editor("Admin", user_id, frozenset({"sysop", "bureaucrat"}))
        writer.save(0, "Main_Page", MAIN_PAGE_TEXT, editor=admin, summary="Create main page")
    return password


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the wiki over smart HTTP (creates the embedded wiki on first run)."""
    site = _site()
    password = bootstrap(site)
    if password is not None:
        click.echo(f"created {site.config.effective_database_url} with user Admin, password: {password}")
        click.echo("(shown once; change it with your own `gitaccess user add` accounts)")
    run(current_app._get_current_object(), host, port, workers)  # type: ignore[attr-defined]


def main() -> None:
    cli(prog_name="gitaccess")
