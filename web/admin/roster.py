"""The roster upload: a preview of the diff, then applying it once."""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import re
import secrets

from flask import (
    Response,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from bridge.roster import RosterPlan
from bridge.services import Services
from config import Source
from web import roster
from web.admin.access import bp, error_page
from web.admin.scope import SOURCE_FIELD, managed
from web.api.common import MAX_ROSTER_BODY, ApiError, parse_json
from web.current import current_services

log = logging.getLogger(__name__)


_ROSTER_ERRORS = {
    "invalid_roster": "В списке есть ошибки — ничего не сохранено.",
    "malformed_csv": "CSV-файл не удалось прочитать — ничего не сохранено.",
    "malformed_json": "JSON не удалось прочитать — ничего не сохранено.",
    "too_deeply_nested": "В JSON слишком глубокая вложенность — ничего не сохранено.",
    "empty_roster": "Выберите файл или вставьте список в поле.",
    "payload_too_large": "Список должен быть не больше 20 МБ.",
    "source_required": "Выберите, чей это список: он заменит участников только этого источника.",
}


ROSTER_PREFIX = "bridge:admin:roster:"  # an uploaded roster between preview and apply
ROSTER_TTL = 30 * 60
LIST_CAP = 30  # ids shown per cell of the roster preview before "и ещё N"

_ROSTER_KEY = re.compile(r"\A[A-Za-z0-9_-]{16,64}\Z")


def _chosen_source() -> Source:
    """The source the roster replaces: the administrator's only one, or the one chosen.

    Whoever manages several sources must choose, among them, in the form.
    """
    mine = managed()
    if len(mine) == 1:
        return mine[0]
    chosen = request.form.get(SOURCE_FIELD, "")
    found = next((source for source in mine if source.code == chosen), None)
    if found is None:
        raise ApiError(400, "source_required", "Choose the source the roster is for.")
    return found


def _uploaded_rows(source: Source) -> list:
    """The roster from the form: a CSV or JSON file, or text pasted into the field."""
    upload = request.files.get("roster")
    if upload is not None and upload.filename:
        raw = upload.read(MAX_ROSTER_BODY + 1)
        filename = upload.filename.lower()
    else:
        raw = request.form.get("roster_text", "").encode()
        filename = ""
    if len(raw) > MAX_ROSTER_BODY:
        raise ApiError(413, "payload_too_large", "A roster must be at most 20 MiB.")
    if not raw.strip():
        raise ApiError(400, "empty_roster", "No roster was given.")
    looks_json = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{")
    if filename.endswith(".json") or (not filename.endswith(".csv") and looks_json):
        rows = parse_json(raw.removeprefix(codecs.BOM_UTF8))
        if not isinstance(rows, list):
            raise ApiError(422, "invalid_roster", "The roster must be a JSON array of members.")
        return rows
    return roster.rows_from_csv(source, raw)


def _roster_form(error: ApiError | None = None) -> Response:
    mine = managed()
    body = render_template(
        "admin/roster.html",
        headline=_ROSTER_ERRORS.get(error.error, "Список не принят.") if error else None,
        error=error,
        problems=error.details if error and isinstance(error.details, list) else [],
        # A choice for whoever manages several sources; the one source otherwise.
        roster_sources=mine if len(mine) > 1 else [],
        roster_source=mine[0] if len(mine) == 1 else None,
        chosen=request.form.get(SOURCE_FIELD, ""),
    )
    return make_response(body, error.status if error else 200)


def _diff_digest(plan: RosterPlan) -> str:
    body = json.dumps(plan.diff.as_dict(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def _store_upload(services: Services, key: str, source: Source, rows: list,
                  plan: RosterPlan) -> None:
    blob = {"source": source.code, "rows": rows, "digest": _diff_digest(plan)}
    services.redis.set(ROSTER_PREFIX + key, json.dumps(blob, ensure_ascii=False), ex=ROSTER_TTL)


def _capped(ids: list[str]) -> dict:
    return {"shown": ids[:LIST_CAP], "more": max(0, len(ids) - LIST_CAP), "count": len(ids)}


def _preview(plan: RosterPlan, key: str, source: Source, *, notice: str | None = None,
             status: int = 200) -> Response:
    # In the source's own ids (the roster's, not the forum's), as the API answers.
    diff = roster.local_diff(plan.diff.as_dict(), source)
    groups = sorted(set(diff["joins"]) | set(diff["leaves"]))
    body = render_template(
        "admin/roster_preview.html",
        key=key,
        notice=notice,
        source=source,
        counts={
            "members": len(plan.members),
            "new": len(diff["new_members"]),
            "changed": len(diff["changed"]),
            "offboarded": len(diff["offboarded"]),
            "staff": len(diff["staff"]),
        },
        groups=[{"name": name,
                 "joins": _capped(diff["joins"].get(name, [])),
                 "leaves": _capped(diff["leaves"].get(name, []))} for name in groups],
        staff=diff["staff"],
        offboarded=_capped(diff["offboarded"]),
        new_members=_capped(diff["new_members"]),
        changed=_capped(diff["changed"]),
        valve={"trips": plan.unsafe, "offboard_trips": plan.too_many_offboarded,
               "groups_trip": plan.too_many_lose_groups, "active": plan.active,
               "offboarded": len(diff["offboarded"]), "losing": len(plan.losing_groups),
               "percent": round(plan.max_share * 100)},
        ttl_minutes=ROSTER_TTL // 60,
    )
    return make_response(body, status)


@bp.get("/roster")
def roster_form():
    return _roster_form()


@bp.post("/roster")
def roster_preview():
    services = current_services()
    try:
        source = _chosen_source()
        rows = _uploaded_rows(source)
        plan = roster.plan(services, source, rows)
    except ApiError as error:
        return _roster_form(error)
    key = secrets.token_urlsafe(24)
    _store_upload(services, key, source, rows, plan)
    log.info("admin: roster preview by %s for %s: members=%s offboarded=%s", g.admin.label,
             source.code, len(plan.members), len(plan.diff.offboarded))
    return _preview(plan, key, source)


@bp.post("/roster/apply")
def roster_apply():
    services = current_services()
    key = request.form.get("key", "")
    raw = None
    if _ROSTER_KEY.match(key):
        pipe = services.redis.pipeline()  # taken once: a double click cannot apply it twice
        pipe.get(ROSTER_PREFIX + key)
        pipe.delete(ROSTER_PREFIX + key)
        raw, _ = pipe.execute()
    if raw is None:
        flash(f"Загруженный список не найден: он хранится {ROSTER_TTL // 60} минут "
              "и применяется один раз. Загрузите его снова.", "error")
        return redirect(url_for("admin.roster_form"), 303)
    upload = json.loads(raw)
    mine = managed()
    code = upload.get("source") or (mine[0].code if len(mine) == 1 else None)
    source = next((s for s in mine if s.code == code), None)
    if source is None:  # another administrator's upload, of a source this one does not manage
        log.warning("admin: roster apply refused to %s: not their source", g.admin.label)
        return error_page(403, "Список другого источника",
                          "Этот список загружен для источника, которым вы не управляете.")
    try:
        plan = roster.plan(services, source, upload["rows"])
    except ApiError as error:
        return _roster_form(error)
    if _diff_digest(plan) != upload["digest"]:
        _store_upload(services, key, source, upload["rows"], plan)
        return _preview(plan, key, source, status=409, notice=(
            "С момента предпросмотра данные участников изменились, и изменения стали другими. "
            "Проверьте их ещё раз и нажмите «Применить»."))
    force = request.form.get("force") == "1"
    if plan.unsafe and not force:
        _store_upload(services, key, source, upload["rows"], plan)
        return _preview(plan, key, source, status=409, notice=(
            "Список исключает слишком много участников. Если это верно, отметьте "
            "«Снять предохранитель» и нажмите «Применить» ещё раз."))
    job_id, summary = roster.apply(services, plan, force=force, cause="admin")
    log.info("admin: roster applied by %s for %s: members=%s changed=%s offboarded=%s job=%s",
             g.admin.label, source.code, summary["members"], summary["changed"],
             summary["offboarded"], job_id or "-")
    if job_id is None:
        flash(f"Список применён: изменений нет (участников в списке: {summary['members']}).",
              "ok")
    else:
        flash(f"Список применён: изменено участников — {summary['changed']}, "
              f"исключено — {summary['offboarded']}. Задание {job_id} в очереди; "
              "изменения дойдут до форума в фоне.", "ok")
    return redirect(url_for("admin.roster_form"), 303)
