"""The ``gitaccess`` command line (click).

``gitaccess [--db URL] [--config FILE] COMMAND``: the options beat
``GITACCESS_DB`` and ``GITACCESS_CONFIG``, which beat ``./gitaccess.toml``,
which beats the defaults (gitaccess.config).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import tomli_w
from flask import Flask

from gitaccess.auth import accounts
from gitaccess.app import create_app, site_of
from gitaccess import siteinfo
from gitaccess.config import Config, load_config
from gitaccess.titles.contentmodels import default_model, namespace_models
from gitaccess.errors import ConfigError, GitAccessError
from gitaccess.journal.history import History
from gitaccess.dumps.importer import import_dump
from gitaccess.auth.passwords import hash_password
from gitaccess.repository import WikiRepository
from gitaccess.server import ServeSettings, run
from gitaccess.site import Site
from gitaccess.titles.codec import InvalidTitle, Title
from gitaccess.tree.gittree import GitTree
from gitaccess.tree.layout import PathError
from gitaccess.wiki import migrate, standalone, useradmin, variant
from gitaccess.wiki.refusals import DatabaseRefusal, refusal_text
from gitaccess.wiki.writer import Editor, WikiWriter

MAIN_PAGE_TEXT = (
    "This wiki is served by gitaccess.\n\n"
    "Clone it with <code>git clone</code>, edit pages in your own editor and "
    "<code>git push</code> them back as wiki edits.\n"
)


@dataclass
class _Options:
    """The group's options, and the app built from them when a command first needs it."""

    config: str | None
    db: str | None
    app: Flask | None = None


def _app() -> Flask:
    options = click.get_current_context().find_object(_Options)
    assert options is not None  # set by cli() before any command runs
    if options.app is None:
        options.app = create_app(load_config(options.config, options.db))
    return options.app


def _site() -> Site:
    return site_of(_app())


class _Group(click.Group):
    """A click group that turns gitaccess's errors into one clear line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GitAccessError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except DatabaseRefusal as exc:
            click.echo("error: the database refused: " + refusal_text(exc), err=True)
            ctx.exit(1)


@click.group(cls=_Group)
@click.option("--db", metavar="URL", help="Database URL (beats GITACCESS_DB and the config file).")
@click.option("--config", metavar="FILE", help="TOML configuration file (beats GITACCESS_CONFIG).")
@click.pass_context
def cli(ctx: click.Context, db: str | None, config: str | None) -> None:
    """Git smart-HTTP access to a MediaWiki wiki database."""
    ctx.obj = _Options(config, db)


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


#: Who blocks from the command line, as MediaWiki's maintenance scripts name themselves.
MAINTENANCE_USER = "Maintenance script"


def _account_name(site: Site, name: str) -> str:
    site.db.require_wiki()
    return accounts.canonical_user_name(site.titles, name)


@user.command("passwd")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="The new password (asked for when not given).")
def user_passwd(name: str, password: str) -> None:
    """Change an account's password."""
    site = _site()
    canonical = _account_name(site, name)
    with site.db.write() as conn:
        useradmin.set_password(site.db, conn, canonical, hash_password(password))
    click.echo(f"changed the password of {canonical}")


@user.command("list")
def user_list() -> None:
    """The accounts, with their groups, edit counts and blocks."""
    site = _site()
    site.db.require_wiki()
    with site.db.read() as conn:
        for account in useradmin.accounts(site.db, conn):
            groups = ", ".join(account.groups) or "-"
            click.echo(f"{account.name}\t{groups}\t{account.edits} edits" + ("\tblocked" if account.blocked else ""))


@user.command("groups")
@click.argument("name")
@click.option("--add", "add", multiple=True, help="A group to add the user to (repeatable).")
@click.option("--remove", "remove", multiple=True, help="A group to take the user out of (repeatable).")
def user_groups(name: str, add: tuple[str, ...], remove: tuple[str, ...]) -> None:
    """Show an account's groups, or add and remove some."""
    site = _site()
    canonical = _account_name(site, name)
    with site.db.write() as conn:
        groups = useradmin.change_groups(site.db, conn, canonical, add, remove)
    click.echo(f"{canonical}: {', '.join(groups) or 'no groups'}")


@user.command("block")
@click.argument("name")
@click.option("--reason", default="", help="Why, as the block log shows it.")
@click.option("--expiry", default="infinity", show_default=True,
              help="When the block ends: infinity, or a wiki timestamp YYYYMMDDHHMMSS (UTC).")
def user_block(name: str, reason: str, expiry: str) -> None:
    """Block an account: it can no longer push (nor edit the wiki)."""
    if expiry != "infinity" and not (len(expiry) == 14 and expiry.isdigit()):
        raise click.BadParameter("expected infinity or a wiki timestamp YYYYMMDDHHMMSS", param_hint="--expiry")
    site = _site()
    canonical = _account_name(site, name)
    with site.db.write() as conn:
        useradmin.block(site.db, conn, site.titles, canonical, by=MAINTENANCE_USER, reason=reason, expiry=expiry)
    click.echo(f"blocked {canonical}" + ("" if expiry == "infinity" else f" until {expiry}"))


@user.command("unblock")
@click.argument("name")
def user_unblock(name: str) -> None:
    """Lift an account's block."""
    site = _site()
    canonical = _account_name(site, name)
    with site.db.write() as conn:
        lifted = useradmin.unblock(site.db, conn, canonical)
    click.echo(f"unblocked {canonical}" if lifted else f"{canonical} was not blocked")


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
        click.echo(f"serving {head.position + 1} commits; {repo.head().decode()} is {head.sha.decode()}")


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
@click.option("--workers", type=click.IntRange(min=1), help="gunicorn worker processes [config: workers].")
@click.option("--threads", type=click.IntRange(min=1), help="Threads per worker [config: threads].")
@click.option("--worker-timeout", type=click.IntRange(min=1), metavar="SECONDS",
              help="Restart a worker silent this long [config: worker_timeout].")
@click.option("--head-timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Drop a client whose request head takes longer [config: head_timeout].")
@click.option("--idle-timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Drop a client that leaves a read or write waiting longer [config: idle_timeout].")
def serve(host: str, port: int, **options: float | None) -> None:
    """Serve the wiki over smart HTTP (creates the embedded wiki on first run).

    Options left out take their value from the [server] section of the configuration.
    """
    site = _site()
    config = site.config
    chosen = {name: value for name, value in options.items() if value is not None}
    configured = {name: getattr(config, name) for name in ServeSettings.__dataclass_fields__}
    settings = ServeSettings(**{**configured, **chosen})
    password = bootstrap(site)
    if password is not None:
        click.echo(f"created {config.effective_database_url} with user Admin, password: {password}")
        click.echo("(shown once; change it with `gitaccess user passwd Admin`)")
    _warn_where_the_wiki_disagrees(config)
    run(_app(), host, port, settings)


def _warn_where_the_wiki_disagrees(config: Config) -> None:
    """With an api_url, say on standard error where the configuration differs from the wiki's
    own settings (a page placed or a push judged by a setting the wiki does not have)."""
    if not config.api_url:
        return
    try:
        found = siteinfo.disagreements(config, siteinfo.fetch_siteinfo(config.api_url))
    except ConfigError as exc:
        click.echo(f"warning: cannot compare the configuration with the wiki: {exc}", err=True)
        return
    for sentence in found:
        click.echo(f"warning: {sentence}", err=True)


@cli.group("config")
def config_group() -> None:
    """gitaccess.toml from the wiki itself."""


@config_group.command("from-wiki")
@click.argument("api_url")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=Path("gitaccess.toml"),
              show_default=True, help="Where to write the configuration ('-': standard output).")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def config_from_wiki(api_url: str, output: Path, force: bool) -> None:
    """Write gitaccess.toml's [wiki] and [namespaces] settings from the wiki's siteinfo
    (API_URL: the wiki's api.php). Add [database] url and table_prefix yourself."""
    sections = siteinfo.settings_from_siteinfo(siteinfo.fetch_siteinfo(api_url), api_url)
    text = (f"# Written by `gitaccess config from-wiki {api_url}`: the wiki's own settings.\n"
            "# Add [database] url (and table_prefix) for the wiki's database.\n\n" + tomli_w.dumps(sections))
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    if output.exists() and not force:
        raise ConfigError(f"{output} exists: give --force to replace it, or --output another file")
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}")


def main() -> None:
    cli(prog_name="gitaccess")
