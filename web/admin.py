"""The admin pages (`/admin`): staff watch the sync and act on it, in Russian.

Staff are members whose roles grant forum admin (a bridge session from the
OIDC login, `session["external_id"]`), or whoever holds one of the API tokens
(pasted once at `/admin/login`). Every POST carries a CSRF token kept in the
session. Server-rendered, no scripts, no external assets. Log lines carry
ids, token names and counts only.
"""

from __future__ import annotations

import codecs
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import redis
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from rq.job import Job
from rq.serializers import JSONSerializer
from werkzeug.exceptions import HTTPException

from bridge.audit import ENTRY_ID, SUBJECT
from bridge.events import EventStore
from bridge.member_search import MAX_QUERY, MIN_QUERY, find_members
from bridge.members import ALL_MEMBERS, DIRTY, EXTERNAL_ID
from bridge.rendering import MOSCOW
from bridge.roster import RosterPlan
from bridge.services import Services
from sso import IDENTITY_KEY  # the member verified by the OIDC login
from web import charts, roster
from web.api.common import MAX_ROSTER_BODY, ApiError, ascii_number, parse_json, token_owner
from web.current import current_services
from workers.members import RECONCILE_KEY
from workers.queue import JOB_ID, failure_reason, job_counts, queue, retry_failed

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")


TOKEN_NAME_KEY = "admin_token_name"  # noqa: S105 - a session key, not a secret
TOKEN_MARK_KEY = "admin_token_mark"  # noqa: S105 - a session key: which token, not the token
CSRF_KEY = "admin_csrf"
CSRF_FIELD = "csrf_token"

ROSTER_PREFIX = "bridge:admin:roster:"  # an uploaded roster between preview and apply
ROSTER_TTL = 30 * 60
# Token login throttling, per client address (an IPv6 client: its /64). A few
# mistypes are free; then each failure locks the address out, twice as long as
# the last time. Other addresses (the other administrators) are not affected.
LOGIN_FAILURES_PREFIX = "bridge:admin:login-failures:"  # failures in a row, per address
LOGIN_LOCK_PREFIX = "bridge:admin:login-lock:"  # present while the address is locked out
FREE_LOGIN_FAILURES = 5
FIRST_LOCKOUT = 30  # seconds, after the fifth failure
MAX_LOCKOUT = 3600
FAILURE_MEMORY = 24 * 3600  # failures are forgotten a day after the last one
PAGE = 50
LIST_CAP = 30  # ids shown per cell of the roster preview before "и ещё N"

_ROSTER_KEY = re.compile(r"\A[A-Za-z0-9_-]{16,64}\Z")

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}

# Endpoints open without an admin session (the CSRF check still applies to POST).
_PUBLIC = frozenset({"admin.login", "admin.login_submit", "admin.logout"})



# -- who is this ------------------------------------------------------------------------


@dataclass(frozen=True)
class Admin:
    kind: str  # "token" or "member"
    name: str  # the token's name or the member's external id

    @property
    def label(self) -> str:
        return f"token:{self.name}" if self.kind == "token" else f"member:{self.name}"


def _token_mark(token: str) -> str:
    """Binds a session to the token's value: a rotated token ends its sessions."""
    key = current_app.secret_key
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, b"admin-token:" + token.encode(), hashlib.sha256).hexdigest()[:32]


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def current_admin() -> Admin | None:
    svc = current_services()
    name = session.get(TOKEN_NAME_KEY)
    if isinstance(name, str):
        token = svc.settings.api_tokens.get(name)
        mark = session.get(TOKEN_MARK_KEY)
        if token and isinstance(mark, str) and _same(mark, _token_mark(token)):
            return Admin("token", name)
    external_id = session.get(IDENTITY_KEY)
    if isinstance(external_id, str) and EXTERNAL_ID.match(external_id):
        member = svc.members.get(external_id)
        if member is not None and member.active and member.grants(svc.config.roles).admin:
            return Admin("member", external_id)
    return None


def _csrf_token() -> str:
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


def _csrf_ok() -> bool:
    expected = session.get(CSRF_KEY)
    presented = request.form.get(CSRF_FIELD, "")
    return isinstance(expected, str) and _same(presented, expected)


@bp.before_request
def _guard():
    g.admin = current_admin()
    if request.endpoint not in _PUBLIC and g.admin is None:
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("admin.login", next=_safe_next(target)), 303)
    if request.method == "POST" and not _csrf_ok():
        log.warning("admin: POST %s refused: CSRF token missing or wrong", request.path)
        return _error(400, "Форма устарела",
                      "Страница была открыта слишком давно или в другом окне. "
                      "Вернитесь назад, обновите страницу и повторите действие.")
    return None


@bp.after_request
def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    return {
        "csrf_token": _csrf_token,
        "csrf_field": CSRF_FIELD,
        "admin": g.get("admin"),
        "forum_url": current_services().settings.discourse_url.rstrip("/"),
    }


@bp.app_template_filter("admin_time")
def _moscow_time(value: Any) -> str:
    """A timestamp, datetime or ISO string as Moscow time, e.g. `05.03.2025 14:30 МСК`."""
    if value in (None, ""):
        return "—"
    try:
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value)
        else:
            moment = value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return str(value)
    return moment.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M МСК")


def _error(status: int, title: str, message: str) -> Response:
    return make_response(render_template("admin/error.html", title=title, message=message),
                         status)


@bp.errorhandler(redis.RedisError)
def _redis_down(error: redis.RedisError):
    log.error("admin: Redis unavailable: %s", type(error).__name__)
    return _error(503, "Хранилище недоступно",
                  "Сервис не может связаться с Redis. Повторите попытку через минуту.")


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    titles = {
        404: ("Страница не найдена", "Такой страницы в разделе администрирования нет."),
        405: ("Действие недоступно", "Эта страница не принимает такой запрос."),
        413: ("Файл слишком большой", "Список участников должен быть не больше 20 МБ."),
    }
    title, message = titles.get(error.code or 500, ("Ошибка запроса", error.description or ""))
    return _error(error.code or 500, title, message)


def _safe_next(target: str | None) -> str | None:
    """Only a path inside /admin: the login must never redirect elsewhere."""
    if not target:
        return None
    target = target.rstrip("?")
    if not target.startswith("/admin") or "\\" in target or target.startswith("//"):
        return None
    if target.startswith(("/admin/login", "/admin/logout")):
        return None
    return target


# -- login and logout -------------------------------------------------------------------


@bp.get("/login")
def login():
    if g.admin is not None:
        return redirect(_safe_next(request.args.get("next")) or url_for("admin.dashboard"))
    return _login_page()


def _login_page(*, error: str | None = None, status: int = 200) -> Response:
    external_id = session.get(IDENTITY_KEY)
    body = render_template(
        "admin/login.html",
        error=error,
        next=_safe_next(request.values.get("next")),
        signed_in_member=external_id if isinstance(external_id, str) else None,
    )
    return make_response(body, status)


def _client_key() -> str:
    """Who is knocking: the client's address (through trusted proxies), an IPv6 one as its /64."""
    address = request.remote_addr or "-"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _lockout_left(svc: Services, client: str) -> int:
    return max(int(svc.redis.ttl(LOGIN_LOCK_PREFIX + client)), 0)


def _record_login_failure(svc: Services, client: str) -> None:
    pipe = svc.redis.pipeline()
    pipe.incr(LOGIN_FAILURES_PREFIX + client)
    pipe.expire(LOGIN_FAILURES_PREFIX + client, FAILURE_MEMORY)
    failures = int(pipe.execute()[0])
    if failures >= FREE_LOGIN_FAILURES:
        lockout = min(FIRST_LOCKOUT * 2 ** (failures - FREE_LOGIN_FAILURES), MAX_LOCKOUT)
        svc.redis.set(LOGIN_LOCK_PREFIX + client, failures, ex=lockout)


def _forget_login_failures(svc: Services, client: str) -> None:
    svc.redis.delete(LOGIN_FAILURES_PREFIX + client, LOGIN_LOCK_PREFIX + client)


def _locked_out_page(seconds: int) -> Response:
    wait = f"{seconds} с" if seconds < 60 else f"{-(-seconds // 60)} мин"
    response = _login_page(
        error=f"Слишком много неудачных попыток с вашего адреса. Повторите через {wait}.",
        status=429,
    )
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.post("/login")
def login_submit():
    svc = current_services()
    client = _client_key()
    locked_for = _lockout_left(svc, client)
    if locked_for:  # the token is not even looked at: guessing stays slow
        return _locked_out_page(locked_for)
    presented = request.form.get("token", "").strip()
    owner = token_owner(svc.settings.api_tokens, presented)
    found = (owner, svc.settings.api_tokens[owner]) if owner else None
    if found is None:
        _record_login_failure(svc, client)
        log.warning("admin: token login refused")
        return _login_page(error="Токен не подошёл. Проверьте, что он скопирован целиком.",
                           status=403)
    _forget_login_failures(svc, client)
    name, token = found
    session[TOKEN_NAME_KEY] = name
    session[TOKEN_MARK_KEY] = _token_mark(token)
    session[CSRF_KEY] = secrets.token_urlsafe(32)  # a fresh CSRF token for the new identity
    session.permanent = True
    log.info("admin: login with token %s", name)
    return redirect(_safe_next(request.form.get("next")) or url_for("admin.dashboard"), 303)


@bp.post("/logout")
def logout():
    who = g.admin.label if g.admin else "-"
    session.clear()  # also ends a bridge session from the OIDC login
    log.info("admin: logout %s", who)
    return redirect(url_for("admin.login"), 303)


# -- the dashboard ----------------------------------------------------------------------


def last_reconciliation(svc: Services) -> dict | None:
    """The report of the last scheduled repair, summarised; None when there was none yet."""
    raw = svc.redis.get(RECONCILE_KEY)
    if raw is None:
        return None
    try:
        report = json.loads(raw)
    except ValueError:
        return {"broken": True}
    if not isinstance(report, dict):
        return {"broken": True}
    groups = report.get("groups") if isinstance(report.get("groups"), dict) else {}
    rows = []
    for name, change in sorted(groups.items()):
        change = change if isinstance(change, dict) else {}
        rows.append({"group": name, "add": len(change.get("add") or []),
                     "remove": len(change.get("remove") or [])})
    unknown = report.get("unknown_accounts") if isinstance(report.get("unknown_accounts"),
                                                             dict) else {}
    return {
        "broken": False,
        "at": report.get("at"),
        "cause": report.get("cause"),
        "write_calls": report.get("write_calls"),
        "groups": rows,
        "added": sum(r["add"] for r in rows),
        "removed": sum(r["remove"] for r in rows),
        "staff": len(report.get("staff") or []),
        "unknown_accounts": sum(len(v or []) for v in unknown.values()),
    }


@bp.get("/", strict_slashes=False)
def dashboard():
    svc = current_services()
    limit = svc.settings.discourse_max_reqs_per_minute
    used = svc.budget.used()
    store = EventStore(svc.redis)
    return render_template(
        "admin/dashboard.html",
        jobs=job_counts(svc.redis_raw),
        dirty=svc.redis.scard(DIRTY),
        members=svc.redis.scard(ALL_MEMBERS),
        events_dirty=len(store.dirty_ids()),
        budget={"used": used, "limit": limit,
                "percent": round(100 * used / limit) if limit else 0},
        reconcile=last_reconciliation(svc),
        charts=charts.overview_charts(svc.redis, limit=limit, now=time.time()),
    )


# -- members ----------------------------------------------------------------------------


@bp.get("/members")
def member_search():
    """A known external id opens the member; anything else searches names and e-mails."""
    svc = current_services()
    query = request.args.get("q", request.args.get("external_id", "")).strip()
    if EXTERNAL_ID.match(query) and svc.redis.sismember(ALL_MEMBERS, query):
        return redirect(url_for("admin.member", external_id=query))
    if not MIN_QUERY <= len(query) <= MAX_QUERY:
        flash(f"Для поиска введите от {MIN_QUERY} до {MAX_QUERY} символов: часть ФИО, "
              "адреса почты или идентификатора.", "error")
        return redirect(url_for("admin.dashboard"))
    found = find_members(svc.redis, query)
    log.info("admin: member search by %s: %s found among %s", g.admin.label, found.total,
             found.read)  # never the query: it is a name or an address
    return render_template("admin/members.html", query=query, search=found,
                           shown=len(found.matches))


@bp.get("/members/<external_id>")
def member(external_id: str):
    svc = current_services()
    found = svc.members.get(external_id) if EXTERNAL_ID.match(external_id) else None
    if found is None:
        return _error(404, "Участник не найден",
                      f"Мост не знает участника с идентификатором «{external_id[:64]}».")
    roles = svc.config.roles
    grants = found.grants(roles)
    subject = f"member:{external_id}"
    entries = svc.audit.newest(limit=PAGE + 1, subject=subject)
    forum_user_url = None
    if found.bound and found.username:
        forum_user_url = (svc.settings.discourse_url.rstrip("/") + "/u/"
                          + quote(found.username, safe=""))
    return render_template(
        "admin/member.html",
        member=found,
        role_labels={code: (spec.label or code) for code, spec in roles.roles.items()},
        wanted={"groups": sorted(grants.groups), "admin": grants.admin,
                "moderator": grants.moderator},
        dirty=bool(svc.redis.sismember(DIRTY, external_id)),
        entries=entries[:PAGE],
        more_entries=len(entries) > PAGE,
        subject=subject,
        forum_user_url=forum_user_url,
    )


# -- failed jobs ------------------------------------------------------------------------


@bp.get("/jobs/failed")
def failed_jobs():
    svc = current_services()
    registry = queue(svc.redis_raw).failed_job_registry
    page = _page_number()
    total = registry.count
    ids = registry.get_job_ids(start=(page - 1) * PAGE, end=page * PAGE - 1, desc=True)
    jobs = []
    for job_id, job in zip(
        ids, Job.fetch_many(ids, connection=svc.redis_raw, serializer=JSONSerializer),
        strict=True,
    ):
        if job is None:
            jobs.append({"id": job_id, "description": "—", "error": "задание удалено",
                         "when": None})
            continue
        jobs.append({"id": job.id, "description": job.description or job.func_name,
                     "error": failure_reason(job) or "—", "when": job.ended_at})
    return render_template("admin/failed_jobs.html", jobs=jobs, total=total, page=page,
                           more=page * PAGE < total)


@bp.post("/jobs/failed/<job_id>/retry")
def retry_job(job_id: str):
    svc = current_services()
    if JOB_ID.match(job_id) and retry_failed(svc.redis_raw, job_id):
        log.info("admin: job %s requeued by %s", job_id, g.admin.label)
        flash(f"Задание {job_id} снова в очереди.", "ok")
    else:
        flash(f"Задания {job_id[:200]} нет среди упавших: возможно, его уже повторили.",
              "error")
    return redirect(url_for("admin.failed_jobs"), 303)


@bp.post("/jobs/failed/retry-all")
def retry_all_jobs():
    svc = current_services()
    registry = queue(svc.redis_raw).failed_job_registry
    requeued = sum(retry_failed(svc.redis_raw, job_id) for job_id in registry.get_job_ids())
    log.info("admin: %s failed jobs requeued by %s", requeued, g.admin.label)
    flash(f"Снова в очереди заданий: {requeued}.", "ok")
    return redirect(url_for("admin.failed_jobs"), 303)


def _page_number() -> int:
    return max(1, min(ascii_number(request.args.get("page", "1")) or 1, 10_000))


# -- the audit log ----------------------------------------------------------------------


@bp.get("/audit")
def audit():
    svc = current_services()
    subject = request.args.get("subject", "").strip() or None
    before = request.args.get("before", "").strip() or None
    problem = None
    if subject is not None and not SUBJECT.match(subject):
        problem, subject = "Фильтр по объекту: например, member:t-1 или group:club.", None
    if before is not None and not ENTRY_ID.match(before):
        before = None
    entries = svc.audit.newest(limit=PAGE + 1, before=before, subject=subject)
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    return render_template(
        "admin/audit.html",
        entries=entries,
        subject=subject or "",
        before=before,
        problem=problem,
        next_before=entries[-1].id if more and entries else None,
    )


# -- the roster -------------------------------------------------------------------------

_ROSTER_ERRORS = {
    "invalid_roster": "В списке есть ошибки — ничего не сохранено.",
    "malformed_csv": "CSV-файл не удалось прочитать — ничего не сохранено.",
    "malformed_json": "JSON не удалось прочитать — ничего не сохранено.",
    "too_deeply_nested": "В JSON слишком глубокая вложенность — ничего не сохранено.",
    "empty_roster": "Выберите файл или вставьте список в поле.",
    "payload_too_large": "Список должен быть не больше 20 МБ.",
}


def _uploaded_rows() -> list:
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
    return roster.rows_from_csv(current_services(), raw)


def _roster_form(error: ApiError | None = None) -> Response:
    body = render_template(
        "admin/roster.html",
        headline=_ROSTER_ERRORS.get(error.error, "Список не принят.") if error else None,
        error=error,
        problems=error.details if error and isinstance(error.details, list) else [],
    )
    return make_response(body, error.status if error else 200)


def _diff_digest(plan: RosterPlan) -> str:
    body = json.dumps(plan.diff.as_dict(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def _store_upload(svc: Services, key: str, rows: list, plan: RosterPlan) -> None:
    blob = {"rows": rows, "digest": _diff_digest(plan)}
    svc.redis.set(ROSTER_PREFIX + key, json.dumps(blob, ensure_ascii=False), ex=ROSTER_TTL)


def _capped(ids: list[str]) -> dict:
    return {"shown": ids[:LIST_CAP], "more": max(0, len(ids) - LIST_CAP), "count": len(ids)}


def _preview(plan: RosterPlan, key: str, *, notice: str | None = None,
             status: int = 200) -> Response:
    diff = plan.diff.as_dict()
    groups = sorted(set(diff["joins"]) | set(diff["leaves"]))
    body = render_template(
        "admin/roster_preview.html",
        key=key,
        notice=notice,
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
    svc = current_services()
    try:
        rows = _uploaded_rows()
        plan = roster.plan(svc, rows)
    except ApiError as error:
        return _roster_form(error)
    key = secrets.token_urlsafe(24)
    _store_upload(svc, key, rows, plan)
    log.info("admin: roster preview by %s: members=%s offboarded=%s", g.admin.label,
             len(plan.members), len(plan.diff.offboarded))
    return _preview(plan, key)


@bp.post("/roster/apply")
def roster_apply():
    svc = current_services()
    key = request.form.get("key", "")
    raw = None
    if _ROSTER_KEY.match(key):
        pipe = svc.redis.pipeline()  # taken once: a double click cannot apply it twice
        pipe.get(ROSTER_PREFIX + key)
        pipe.delete(ROSTER_PREFIX + key)
        raw, _ = pipe.execute()
    if raw is None:
        flash(f"Загруженный список не найден: он хранится {ROSTER_TTL // 60} минут "
              "и применяется один раз. Загрузите его снова.", "error")
        return redirect(url_for("admin.roster_form"), 303)
    upload = json.loads(raw)
    try:
        plan = roster.plan(svc, upload["rows"])
    except ApiError as error:
        return _roster_form(error)
    if _diff_digest(plan) != upload["digest"]:
        _store_upload(svc, key, upload["rows"], plan)
        return _preview(plan, key, status=409, notice=(
            "С момента предпросмотра данные участников изменились, и изменения стали другими. "
            "Проверьте их ещё раз и нажмите «Применить»."))
    force = request.form.get("force") == "1"
    if plan.unsafe and not force:
        _store_upload(svc, key, upload["rows"], plan)
        return _preview(plan, key, status=409, notice=(
            "Список исключает слишком много участников. Если это верно, отметьте "
            "«Снять предохранитель» и нажмите «Применить» ещё раз."))
    job_id, summary = roster.apply(svc, plan, force=force, cause="admin")
    log.info("admin: roster applied by %s: members=%s changed=%s offboarded=%s job=%s",
             g.admin.label, summary["members"], summary["changed"], summary["offboarded"],
             job_id or "-")
    if job_id is None:
        flash(f"Список применён: изменений нет (участников в списке: {summary['members']}).",
              "ok")
    else:
        flash(f"Список применён: изменено участников — {summary['changed']}, "
              f"исключено — {summary['offboarded']}. Задание {job_id} в очереди; "
              "изменения дойдут до форума в фоне.", "ok")
    return redirect(url_for("admin.roster_form"), 303)


# -- events -----------------------------------------------------------------------------

_EVENT_STATUS = {"scheduled": "запланировано", "cancelled": "отменено"}


@bp.get("/events")
def events():
    svc = current_services()
    store = EventStore(svc.redis)
    kinds = svc.config.events.kinds
    dirty = set(store.dirty_ids())
    found = sorted(store.all(), key=lambda e: str(e.desired.get("starts_at") or ""),
                   reverse=True)
    page = _page_number()
    shown = found[(page - 1) * PAGE : page * PAGE]
    forum_url = svc.settings.discourse_url.rstrip("/")
    rows = []
    for event in shown:
        desired = event.desired
        kind = desired.get("kind") or ""
        rows.append({
            "external_id": event.external_id,
            "title": desired.get("title") or "—",
            "kind": getattr(kinds.get(kind), "label", None) or kind or "—",
            "starts_at": desired.get("starts_at"),
            "status": "снято с публикации" if event.removed
            else _EVENT_STATUS.get(desired.get("status") or "scheduled", desired.get("status")),
            "topic_url": event.topic_url(forum_url),
            "topic_id": event.topic_id,
            "pending": event.external_id in dirty,
            "last_error": event.last_error,
        })
    return render_template("admin/events.html", events=rows, page=page,
                           more=page * PAGE < len(found), total=len(found))
