"""`flask --app wsgi events …`: import events from an iCalendar file or feed."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from bridge import ics
from web.current import current_services
from workers.events import feed_source, import_calendar

events_cli = AppGroup("events", help="Анонсы мероприятий / event announcements.")


@events_cli.command("import-ics")
@click.argument("file_or_url")
@click.option("--kind", default=None, help="Вид мероприятия из events.yml / kind of event.")
@click.option(
    "--delete-missing",
    is_flag=True,
    help="Снять анонсы событий, исчезнувших из ленты / withdraw events gone from the feed.",
)
@click.option(
    "--source", "source_code", default=None, metavar="CODE",
    help="Чьи это мероприятия (код из sources.yml) / the source the events belong to "
         "(default: the legacy source, else the first).",
)
def import_ics(file_or_url: str, kind: str | None, delete_missing: bool,
               source_code: str | None) -> None:
    """Import events from an iCalendar FILE_OR_URL (SEQUENCE → version; each UID → an id
    of the feed's own, which no API event, other feed or other source's feed shares)."""
    services = current_services()
    codes = services.config.sources.codes
    if source_code is not None and source_code not in codes:
        raise click.BadParameter(
            f"неизвестный источник / unknown source {source_code!r} ({', '.join(codes)})",
            param_hint="--source")
    source = feed_source(services, source_code)
    if kind is not None and kind not in source.events.kinds:
        known = ", ".join(sorted(source.events.kinds))
        raise click.BadParameter(f"неизвестный вид / unknown kind {kind!r} ({known})",
                                 param_hint="--kind")
    try:
        data = ics.fetch(file_or_url)
    except ics.FetchError as error:
        raise click.ClickException(f"не удалось прочитать / cannot read: {error}") from None
    try:
        report = import_calendar(
            services, data, location=file_or_url, source=source, kind=kind,
            delete_missing=delete_missing,
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    counts = report.counts()
    labels = (
        ("created", "создано"),
        ("updated", "обновлено"),
        ("unchanged", "без изменений"),
        ("cancelled", "отменено"),
        ("deleted", "снято"),
        ("errors", "ошибок"),
    )
    for key, russian in labels:
        click.echo(f"{russian} / {key}: {counts[key]}")
    for line in report.errors:
        click.echo(f"  ! {line}", err=True)
    if report.errors and not any(counts[k] for k, _ in labels if k != "errors"):
        raise SystemExit(1)
