"""DiscourseConnect consumer side (session_controller.rb#sso/#sso_login, REFERENCE §1)."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request, session

from .. import connect, serializers
from ..accounts import BlankExternalId, RecordInvalid, apply_payload
from ..context import browser_user, json_response, sandbox
from ..errors import not_found
from ..state import webhook_user

bp = Blueprint("session", __name__)


def _page(status: int, text: str) -> Response:
    body = (
        "<!doctype html><html lang='ru'><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>Ошибка входа</title><body style='font-family:sans-serif;padding:1em'>"
        f"<h1>Ошибка входа ({status})</h1><p>{text}</p><p><a href='/'>На главную</a></p>"
    )
    return Response(body, status=status, mimetype="text/html")


def _browser_sid() -> str:
    sid = session.get("sid")
    if not sid:
        sid = secrets.token_hex(16)
        session["sid"] = sid
    return sid


def safe_return_path(path: str | None) -> str:
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def _base_url() -> str:
    """Discourse builds return_sso_url from its own base URL, not from the request."""
    return sandbox().settings.base_url or request.host_url.rstrip("/")


@bp.get("/session/sso")
def sso() -> Response:
    ctx = sandbox()
    settings = ctx.settings
    if not settings.enable_discourse_connect:
        return Response(b"", status=404)
    return_path = safe_return_path(request.args.get("return_path"))
    nonce = ctx.nonces.create(_browser_sid(), return_path)
    payload, sig = connect.encode(
        {"nonce": nonce, "return_sso_url": _base_url() + "/session/sso_login"},
        settings.connect_secret,
    )
    url = settings.connect_url or ""
    separator = "&" if "?" in url else "?"
    return redirect(url + separator + urlencode({"sso": payload, "sig": sig}), code=302)


@bp.get("/session/sso_login")
def sso_login() -> Response:
    ctx = sandbox()
    settings = ctx.settings
    if not settings.enable_discourse_connect:
        return Response(b"", status=404)
    sso_text = request.args.get("sso")
    try:
        payload = connect.parse(sso_text, request.args.get("sig"), settings.connect_secret)
    except connect.ConnectError:
        return _page(422, "Не удалось войти: подпись или формат ответа неверны.")
    entry = ctx.nonces.consume(payload.get("nonce"), session.get("sid"))
    if entry is None:
        return _page(419, "Время входа истекло или ссылка уже использована. Попробуйте ещё раз.")
    with ctx.store.lock:
        try:
            user = apply_payload(ctx.store, settings, payload, sso_text or "")
        except (BlankExternalId, RecordInvalid):
            return _page(500, "Внутренняя ошибка при входе.")
        if user.is_suspended(ctx.now()):
            return _page(403, "Учётная запись заблокирована.")
        session["uid"] = user.id
        session["gen"] = user.auth_generation
    ctx.store.emit("user_logged_in", webhook_user(user))
    return redirect(safe_return_path(entry.return_path), code=302)


@bp.get("/session/current.json")
def current() -> Response:
    ctx = sandbox()
    with ctx.store.lock:
        user = browser_user()
        if user is None:
            return json_response(not_found().body, 404)
        data = serializers.basic_user(user)
        data.update(
            {
                "admin": user.admin,
                "moderator": user.moderator,
                "groups": [{"id": g.id, "name": g.name} for g in ctx.store.groups_of(user)],
            }
        )
        return json_response({"current_user": data})


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Response:
    session.pop("uid", None)
    session.pop("gen", None)
    target = sandbox().settings.logout_redirect or "/"
    return redirect(target, code=302)
