"""The teachers' pages of the login flow: Russian, one layout, no external assets."""

from __future__ import annotations

from flask import Response, make_response, render_template

from web.current import current_services


def _forum_url() -> str:
    return current_services().settings.discourse_url


def retry_url() -> str:
    """Back through the forum, so that Discourse makes a fresh nonce."""
    return _forum_url() + "/session/sso?return_path=/"


def error(
    status: int, title: str, message: str, *, retry: bool = True, source_name: str | None = None
) -> Response:
    """A refusal page; with `source_name`, it says whose administrators to ask for help.

    The texts name "the institute" as the one provider of a single-source bridge;
    in a federation the provider is the chosen organisation's.
    """
    if source_name:
        title = title.replace("института", "вашей организации")
        message = message.replace("института", "вашей организации")
    body = render_template(
        "sso/error.html",
        title=title,
        message=message,
        retry_url=retry_url() if retry else None,
        forum_url=_forum_url(),
        source_name=source_name,
    )
    return make_response(body, status)


def not_member(source_name: str | None = None) -> Response:
    """Authenticated, but no active member: how to join (and, in a federation, where)."""
    body = render_template("sso/not_member.html", forum_url=_forum_url(), source_name=source_name)
    return make_response(body, 403)


def chooser(choices: list[dict], last: str | None) -> Response:
    """The federation's first page: through which organisation the teacher logs in.

    `choices` are `{"code", "name", "url"}` in the order of sources.yml, `url`
    repeating the forum's signed request with `source=CODE`. The remembered
    choice `last` moves to the top and is marked; the page is shown all the same.
    """
    ordered = sorted(choices, key=lambda choice: choice["code"] != last)
    body = render_template(
        "sso/chooser.html",
        choices=[{**choice, "last": choice["code"] == last} for choice in ordered],
        forum_url=_forum_url(),
    )
    return make_response(body, 200)


def link_required(source_name: str, other_names: list[str], chooser_url: str | None) -> Response:
    """The e-mail `source_name` lists belongs to an account of another source's member.

    Nothing reached the forum: the person links the two listings by logging in
    through one of `other_names` first, then through `source_name`, in this browser.
    """
    body = render_template(
        "sso/link_required.html",
        source_name=source_name,
        other_names=other_names,
        start_url=chooser_url or retry_url(),
        forum_url=_forum_url(),
    )
    return make_response(body, 409)


# The texts, kept together so that they read as one voice.

BAD_REQUEST = (
    "Ссылка для входа повреждена",
    "Форум прислал запрос на вход, который не удалось проверить. "
    "Вернитесь на форум и нажмите «Войти» ещё раз.",
)
BAD_SIGNATURE = (
    "Запрос на вход не прошёл проверку",
    "Подпись запроса на вход неверна. Вернитесь на форум и нажмите «Войти» ещё раз.",
)
FOREIGN_RETURN = (
    "Неизвестный адрес возврата",
    "Вход через этот сервис возможен только на форум Интернет-клуба «Учитель года».",
)
NO_PENDING_LOGIN = (
    "Вход не начат или уже завершён",
    "Эта ссылка уже использована или устарела. Начните вход заново с форума.",
)
DENIED = (
    "Вход отменён",
    "Вы отказались подтвердить вход на сервере института. "
    "Чтобы войти на форум, начните вход заново и подтвердите его.",
)
IDP_REFUSED = (
    "Не удалось войти",
    "Сервер входа института не подтвердил вход: возможно, ссылка устарела "
    "или вход был начат в другой вкладке. Попробуйте войти ещё раз.",
)
IDP_UNAVAILABLE = (
    "Сервер входа временно недоступен",
    "Не удалось связаться с сервером входа института. "
    "Подождите несколько минут и попробуйте войти ещё раз.",
)
FOREIGN_ISSUER = (
    "Ответ пришёл не от сервера входа института",
    "Ответ на вход пришёл не от того сервера входа, которому доверяет форум, "
    "и поэтому не принят. Начните вход заново с форума.",
)
IDP_UNTRUSTED = (
    "Сервер входа не прошёл проверку",
    "Сервер входа института ответил так, что форум не может принять его ответ. "
    "Сообщите об этом администраторам клуба.",
)
FOREIGN_PROVIDER = (
    "Ответ пришёл от сервера входа другой организации",
    "Вход был начат через одну организацию, а ответ пришёл от сервера входа другой, "
    "поэтому он не принят и на форуме ничего не изменилось. Так бывает, если вход начат "
    "в нескольких вкладках сразу. Начните вход заново с форума.",
)
