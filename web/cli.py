"""Admin commands: `flask --app wsgi COMMAND`."""

from __future__ import annotations

import json
import time

import click
import requests
from flask.cli import AppGroup, with_appcontext

from bridge import discourse_connect
from bridge import webhooks as bridge_webhooks
from bridge.discourse import DiscourseError, Redirected
from web.current import current_services

discourse_cli = AppGroup("discourse", help="Prepare the forum for the bridge.")
sync_cli = AppGroup("sync", help="Role sync: reconcile the forum with the roster.")


def _retrying_services():
    """The app's services, patient with the shared budget: commands may wait for it."""
    services = current_services()
    services.discourse.budget_wait = 600.0
    return services


class _Command(click.Command):
    """Discourse failures end a command with one readable line, not a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DiscourseError as error:
            raise click.ClickException(f"Discourse: {error}") from None


def _print(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@discourse_cli.command("setup", cls=_Command)
@click.option("--webhooks", is_flag=True,
              help="Also create (or bring in line) the forum's webhook to this bridge.")
def discourse_setup(webhooks: bool):
    """Create the managed groups and event categories that the forum lacks."""
    from workers.events import setup_categories

    services = _retrying_services()
    groups = services.member_sync().setup_groups()
    categories = setup_categories(services)
    click.echo(f"groups created: {', '.join(groups) or 'none (all exist)'}")
    click.echo(f"categories created: {', '.join(categories) or 'none (all exist)'}")
    if webhooks:
        _ensure_webhook(services)


@discourse_cli.command("webhook", cls=_Command)
def discourse_webhook():
    """Create (or bring in line) only the forum's webhook to this bridge."""
    _ensure_webhook(_retrying_services())


def _ensure_webhook(services) -> None:
    secret = services.settings.discourse_webhook_secret
    if not secret:
        raise click.ClickException("set DISCOURSE_WEBHOOK_SECRET (at least 12 characters) "
                                   "first: the forum signs every delivery with it")
    url = bridge_webhooks.payload_url(services.settings.public_url)
    done = bridge_webhooks.ensure_hook(services.discourse, url=url, secret=secret)
    click.echo(f"webhook {done}: {url} ({', '.join(bridge_webhooks.EVENT_TYPES)})")


@sync_cli.command("reconcile", cls=_Command)
@click.option("--dry-run", is_flag=True, help="Report the drift, change nothing.")
@click.option("--force", is_flag=True,
              help="Remove outsiders from exclusive groups even beyond the safety valve's share.")
def sync_reconcile(dry_run: bool, force: bool):
    """Read the managed groups from Discourse and repair any drift."""
    started = time.monotonic()
    report = _retrying_services().member_sync().group_pass(cause="reconcile", dry_run=dry_run,
                                                   force=force)
    report["seconds"] = round(time.monotonic() - started, 1)
    _print(report)


@click.command("audit")
@with_appcontext
@click.option("--limit", default=50, show_default=True, help="How many entries.")
@click.option("--subject", default=None, help="Only this subject, e.g. member:t-1001.")
def audit_command(limit: int, subject: str | None):
    """Show the audit log, newest first."""
    for entry in _retrying_services().audit.newest(limit=limit, subject=subject):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.at))
        click.echo(f"{when}  {entry.subject:<28} {entry.action:<16} {entry.target:<24} "
                   f"{entry.cause:<10} {entry.result} {entry.detail}")


@click.command("doctor", cls=_Command)
@with_appcontext
def doctor():
    """Check the live Discourse: API key, DiscourseConnect settings, groups, categories."""
    services = _retrying_services()
    settings = services.settings
    problems = 0

    def report(ok: bool, text: str) -> None:
        nonlocal problems
        problems += not ok
        click.echo(f"[{'ok' if ok else 'FAIL'}] {text}")

    def warn(text: str) -> None:
        click.echo(f"[warn] {text}")

    try:
        site = services.discourse.site_settings("discourse_connect")
    except Redirected as error:
        report(False, f"DISCOURSE_URL {settings.discourse_url} redirects to "
                      f"{_without_query(error.location)}: set DISCOURSE_URL to the forum's own "
                      "base URL (scheme, host and port exactly as the forum answers)")
        raise SystemExit(1) from None
    except DiscourseError as error:
        report(False, f"the API key cannot read site settings: {error}")
        raise SystemExit(1) from None
    report(True, f"the API key works for {settings.discourse_api_username}")
    report(site.get("enable_discourse_connect") in ("true", True),
           "enable_discourse_connect is on")
    expected = settings.public_url + "/sso"
    report(site.get("discourse_connect_url") == expected,
           f"discourse_connect_url is {expected}")
    if site.get("enable_discourse_connect") in ("true", True):
        _check_connect_request(services, report)
    _check_logout_redirect(services, report, warn)
    for name, spec in sorted(services.config.roles.groups.items()):
        group = services.discourse.group(name)
        report(group is not None, f"managed group {name} exists")
        if group is not None:
            levels = (group.get("mentionable_level"), group.get("messageable_level"))
            report(levels == (spec.mentionable_level, spec.messageable_level),
                   f"group {name}: @mention by {spec.mentionable}, messages by "
                   f"{spec.messageable} (forum levels {levels[0]}, {levels[1]})")
    if settings.discourse_webhook_secret:
        url = bridge_webhooks.payload_url(settings.public_url)
        hook = bridge_webhooks.check_hook(services.discourse, url)
        report(hook.ok, f"the forum's webhook to {url} is active with its events"
               + ("" if hook.ok else f" (found: {hook.found}, active: {hook.active}, missing: "
                  f"{', '.join(hook.missing_events) or 'none'}; run `flask --app wsgi discourse "
                  "setup --webhooks`)"))
    for source in services.config.sources.sources.values():
        label = f"identity provider of {source.code}" if services.config.federated else \
            "identity provider"
        _check_identity_provider(source, label, report, warn)
    from workers.events import event_categories

    names = {c.get("slug") for c in services.discourse.categories()}
    for slug in sorted(event_categories(services)):
        report(slug in names, f"category {slug} exists")
    if problems:
        click.echo(f"{problems} problem(s); `flask --app wsgi discourse setup` fixes missing "
                   "groups and categories, and group levels")
        raise SystemExit(1)


def _check_connect_request(services, report) -> None:
    """The forum's return_sso_url must be DISCOURSE_URL + /session/sso_login exactly.

    `/sso` refuses any other return URL (no open redirect), so a DISCOURSE_URL
    that differs from the forum's own base URL (http for https, www., a port)
    refuses every login. The forum's signature also proves the shared secret.
    """
    settings = services.settings
    try:
        fields = services.discourse.discourse_connect_request()
    except (discourse_connect.InvalidSignature, discourse_connect.InvalidPayload):
        report(False, "the forum signs with DISCOURSE_CONNECT_SECRET (it does not: make "
                      "discourse_connect_secret and DISCOURSE_CONNECT_SECRET equal)")
        return
    except DiscourseError as error:
        report(False, f"the forum starts a DiscourseConnect login at /session/sso: {error}")
        return
    report(True, "the forum signs with DISCOURSE_CONNECT_SECRET")
    return_url = fields.get("return_sso_url", "")
    forum_base = return_url.removesuffix("/session/sso_login")
    if forum_base == settings.discourse_url:
        report(True, f"DISCOURSE_URL is the forum's own base URL ({forum_base})")
    else:
        report(False, f"DISCOURSE_URL is {settings.discourse_url}, but the forum's own base URL "
                      f"is {forum_base} (its return_sso_url): every login would be refused; "
                      f"set DISCOURSE_URL={forum_base}")


def _check_logout_redirect(services, report, warn) -> None:
    """Without it a forum logout leaves the bridge's and the identity provider's sessions."""
    expected = services.settings.public_url + "/logout"
    actual = services.discourse.site_settings("logout_redirect").get("logout_redirect") or ""
    if actual == expected:
        report(True, f"logout_redirect is {expected}")
    else:
        warn(f"logout_redirect is {actual or 'empty'}, expected {expected}: a forum logout "
             "would leave the bridge's and the identity provider's sessions open")


def _check_identity_provider(source, label: str, report, warn) -> None:
    """Each source's provider publishes a discovery document naming its configured issuer.

    A warning, not a failure: `doctor` is about the forum, and the provider may
    be out of this host's reach (logins are the browser's way to it).
    """
    from sso.oidc import TIMEOUT_SECONDS, UntrustedProviderError, checked_metadata

    url = source.issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
        checked_metadata(response.json(), issuer=source.issuer)
    except (requests.RequestException, ValueError) as error:
        warn(f"{label}: discovery at {url} failed ({type(error).__name__})")
        return
    except UntrustedProviderError as error:
        warn(f"{label}: {error.description}")
        return
    report(True, f"{label} at {source.issuer} publishes its discovery document")


def _without_query(url: str) -> str:
    """Enough of a URL to act on; a query string might carry something private."""
    return url.split("?", 1)[0]


def register_commands(app) -> None:
    app.cli.add_command(discourse_cli)
    app.cli.add_command(sync_cli)
    app.cli.add_command(audit_command)
    app.cli.add_command(doctor)
    from web.cli_events import events_cli

    app.cli.add_command(events_cli)
