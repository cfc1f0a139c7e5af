"""Russian HTML view of the sandbox state (server-rendered, inline CSS, no assets)."""

from __future__ import annotations

from flask import Blueprint, Response
from markupsafe import escape

from .context import browser_user, sandbox
from .cooking import cook
from .state import Store, Topic, User

bp = Blueprint("views", __name__)

CSS = """
*{box-sizing:border-box}body{margin:0;font:16px/1.45 system-ui,sans-serif;color:#222;
background:#f6f7f9}header{background:#0b5394;color:#fff;padding:.75em 1em;display:flex;
flex-wrap:wrap;gap:.5em;align-items:center;justify-content:space-between}
header a{color:#fff}main{padding:1em;max-width:60em;margin:auto}
section{background:#fff;border-radius:8px;padding:.75em 1em;margin-bottom:1em;
box-shadow:0 1px 2px #0002}h1{font-size:1.2em;margin:0}h2{font-size:1.1em;margin:.2em 0 .5em}
ul{list-style:none;padding:0;margin:0}li{padding:.4em 0;border-top:1px solid #eee;
overflow-wrap:anywhere}li:first-child{border-top:0}.tag{display:inline-block;background:#eef;
border-radius:4px;padding:0 .35em;margin:.1em .2em 0 0;font-size:.85em}
.muted{color:#666;font-size:.9em}pre{white-space:pre-wrap;overflow-wrap:anywhere;
background:#f3f3f3;padding:.75em;border-radius:6px}
.cooked{overflow-wrap:anywhere}.cooked a{color:#0b5394}
.event-card{display:flex;gap:.9em;align-items:flex-start;border:1px solid #d6e2f0;
border-left:4px solid #0b5394;border-radius:8px;padding:.75em;margin:.5em 0 1em;
background:#f7fbff}.event-date{flex:none;width:3.4em;text-align:center;border-radius:6px;
overflow:hidden;border:1px solid #d6e2f0;background:#fff}.event-date span{display:block;
background:#0b5394;color:#fff;font-size:.8em;text-transform:uppercase;padding:.1em 0}
.event-date b{display:block;font-size:1.5em;padding:.1em 0}.event-info{min-width:0}
.event-info>div{margin-top:.25em}.event-name{font-size:1.05em}
.event-label{color:#666}
"""


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (
        "<!doctype html><html lang='ru'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"{_header()}<main>{body}</main></body></html>"
    )
    return Response(html, status=status, mimetype="text/html")


def _header() -> str:
    ctx = sandbox()
    with ctx.store.lock:
        user = browser_user()
        if user is None:
            who = "<a id='login-link' href='/session/sso?return_path=/'>Войти</a>"
        else:
            groups = ", ".join(g.name for g in ctx.store.groups_of(user) if not g.automatic)
            who = (
                f"<span id='current-user'><b>{escape(user.name or user.username)}</b> "
                f"(@{escape(user.username)})"
                f"{' · группы: ' + str(escape(groups)) if groups else ''}</span> "
                "<a id='logout-link' href='/logout'>Выйти</a>"
            )
    return f"<header><h1><a href='/'>Песочница Discourse</a></h1><div>{who}</div></header>"


def _tags(items: list[str]) -> str:
    return "".join(f"<span class='tag'>{escape(t)}</span>" for t in items)


def _user_line(store: Store, user: User) -> str:
    flags = [
        label
        for flag, label in ((user.admin, "администратор"), (user.moderator, "модератор"))
        if flag
    ]
    if not user.active:
        flags.append("неактивен")
    if user.suspended_till is not None and user.is_suspended(store.clock()):
        flags.append("заблокирован")
    groups = [g.name for g in store.groups_of(user) if not g.automatic]
    return (
        f"<li><b>@{escape(user.username)}</b> {escape(user.name or '')}"
        f"<div class='muted'>external_id: {escape(user.external_id or '—')}"
        f"{' · ' + ', '.join(flags) if flags else ''}</div>{_tags(groups)}</li>"
    )


def _topic_line(store: Store, topic: Topic) -> str:
    cat = store.categories.get(topic.category_id)
    marks = []
    if topic.closed:
        marks.append("закрыта")
    if not topic.visible:
        marks.append("скрыта из списков")
    if topic.deleted_at is not None:
        marks.append("удалена")
    return (
        f"<li><a href='/t/{escape(topic.slug)}/{topic.id}'>{escape(topic.title)}</a>"
        f"<div class='muted'>{escape(cat.name if cat else '—')}"
        f"{' · ' + ', '.join(marks) if marks else ''}</div>{_tags(topic.tags)}</li>"
    )


@bp.get("/")
def index() -> Response:
    store = sandbox().store
    with store.lock:
        users = "".join(_user_line(store, u) for u in store.human_users()) or "<li>Нет</li>"
        groups = (
            "".join(
                f"<li><b>{escape(g.name)}</b> {escape(g.full_name or '')}"
                f"<div class='muted'>участников: {len(store.group_member_ids(g))}</div>"
                f"{_tags(sorted(store.users[i].username for i in store.group_member_ids(g)))}</li>"
                for g in store.groups.values()
                if not g.automatic
            )
            or "<li>Нет</li>"
        )
        categories = "".join(
            f"<li>{escape(c.name)} <span class='muted'>({escape(c.slug)})</span></li>"
            for c in store.categories.values()
        )
        topics = (
            "".join(
                _topic_line(store, t) for t in sorted(store.topics.values(), key=lambda t: -t.id)
            )
            or "<li>Нет</li>"
        )
    body = (
        f"<section id='users'><h2>Пользователи</h2><ul>{users}</ul></section>"
        f"<section id='groups'><h2>Группы</h2><ul>{groups}</ul></section>"
        f"<section id='categories'><h2>Категории</h2><ul>{categories}</ul></section>"
        f"<section id='topics'><h2>Темы</h2><ul>{topics}</ul></section>"
    )
    return _page("Песочница Discourse", body)


@bp.get("/t/<slug>/<int:topic_id>")
@bp.get("/t/<int:topic_id>")
def topic_page(topic_id: int, slug: str = "") -> Response:
    store = sandbox().store
    with store.lock:
        topic = store.topics.get(topic_id)
        if topic is None:
            return _page("Не найдено", "<section><h2>Тема не найдена</h2></section>", 404)
        first = store.first_post(topic)
        line = _topic_line(store, topic)
        body = (
            f"<section id='topic'><h2>{escape(topic.title)}</h2><ul>{line}</ul>"
            f"<div class='cooked' id='first-post'>{cook(first.raw)}</div>"
            f"<details><summary class='muted'>Исходный текст</summary>"
            f"<pre id='first-post-raw'>{escape(first.raw)}</pre></details>"
            f"<p class='muted'>external_id: {escape(topic.external_id or '—')} · "
            f"правок: {len(first.revisions)}</p></section>"
        )
    return _page(topic.title, body)
