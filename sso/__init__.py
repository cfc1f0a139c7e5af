"""DiscourseConnect provider: the forum's login, through the institute's OIDC provider.

    forum /session/sso -> GET /sso (signed nonce) -> identity provider (code + PKCE)
    -> GET /auth/callback -> forum /session/sso_login (signed reply)

The only place a reply ever goes is the configured forum's `/session/sso_login`;
the forum's nonce is kept with the login attempt in the session and used once.
Log lines carry external ids and outcomes only: no payload, token, e-mail or name.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlencode

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from flask import Blueprint, Response, redirect, request, session

from bridge import discourse_connect
from bridge.members import EXTERNAL_ID
from sso import oidc, pages
from web.current import current_services
from workers import enqueue

log = logging.getLogger(__name__)

bp = Blueprint("sso", __name__, template_folder="templates")
bp.record_once(lambda state: oidc.init_app(state.app))

LOGIN_KEY = "sso_login"  # the pending login attempt: Discourse's nonce and return URL
IDENTITY_KEY = "external_id"  # verified by the identity provider
ID_TOKEN_KEY = "id_token"  # noqa: S105 - a session key: the ID token kept for the logout hint
_NONCE = re.compile(r"\A[A-Za-z0-9_-]{1,128}\Z")
_ERROR_CODE = re.compile(r"\A[a-z_]{1,40}\Z")
_DENIED = frozenset({"access_denied", "consent_required", "login_required", "interaction_required"})
_IDP_DOWN = frozenset({"server_error", "temporarily_unavailable"})



@bp.after_request
def _security_headers(response: Response) -> Response:
    """Each header unless the page set its own, in one pass over the headers.

    (`headers.setdefault` of a missing header raises and catches an exception
    inside werkzeug: five of them on every login start.)
    """
    present = {name.lower() for name, _ in response.headers}
    wanted = pages.HTML_HEADERS if response.mimetype == "text/html" else pages.SECURITY_HEADERS
    for name, value in wanted.items():
        if name.lower() not in present:
            response.headers.add(name, value)
    return response


@bp.get("/sso")
def sso():
    """Discourse sends the browser here with a signed nonce."""
    settings = current_services().settings
    try:
        fields = discourse_connect.verify(
            request.args.get("sso"), request.args.get("sig"), settings.discourse_connect_secret
        )
    except discourse_connect.InvalidSignature:
        log.warning("sso request refused: bad signature")
        return pages.error(403, *pages.BAD_SIGNATURE)
    except discourse_connect.InvalidPayload:
        log.warning("sso request refused: missing or garbled payload")
        return pages.error(400, *pages.BAD_REQUEST)
    if not _NONCE.match(fields.get("nonce", "")):
        log.warning("sso request refused: no usable nonce")
        return pages.error(400, *pages.BAD_REQUEST)
    if fields.get("return_sso_url") != settings.discourse_url + "/session/sso_login":
        log.warning("sso request refused: return_sso_url is not the configured forum")
        return pages.error(400, *pages.FOREIGN_RETURN, retry=False)

    login = {"nonce": fields["nonce"], "return_sso_url": fields["return_sso_url"]}
    known = session.get(IDENTITY_KEY)
    if known:
        return _finish(known, login)
    session[LOGIN_KEY] = login
    try:
        return oidc.institute().authorize_redirect(settings.public_url + "/auth/callback")
    except oidc.UntrustedProviderError as error:
        log.warning("identity provider not trusted at login start: %s", error.description)
        session.pop(LOGIN_KEY, None)
        return pages.error(502, *pages.IDP_UNTRUSTED, retry=False)
    except oidc.IDP_ERRORS as error:
        log.warning("identity provider unreachable at login start: %s", type(error).__name__)
        session.pop(LOGIN_KEY, None)
        return pages.error(502, *pages.IDP_UNAVAILABLE)


@bp.get("/auth/admin")
def admin_login():
    """Administrators sign in to /admin with their institute account (no forum involved)."""
    session[LOGIN_KEY] = {"admin": True}
    try:
        return oidc.institute().authorize_redirect(
            current_services().settings.public_url + "/auth/callback"
        )
    except oidc.IDP_ERRORS as error:
        log.warning("identity provider unreachable at admin login: %s", type(error).__name__)
        session.pop(LOGIN_KEY, None)
        return pages.error(502, *pages.IDP_UNAVAILABLE, retry=False)


@bp.get("/auth/callback")
def callback():
    """The identity provider sends the browser back here with a code (or an error)."""
    login = session.pop(LOGIN_KEY, None)
    if login is None:
        log.warning("auth callback refused: no login in progress")
        return pages.error(400, *pages.NO_PENDING_LOGIN)
    client = oidc.institute()
    claim = current_services().settings.oidc_external_id_claim
    try:
        oidc.check_response_issuer(client, request.args.getlist("iss"))
        token = client.authorize_access_token()
        external_id = oidc.external_id_from(client, token, claim)
    except oidc.IssuerMismatchError as error:
        log.warning("auth callback refused: %s", error.description)
        return pages.error(400, *pages.FOREIGN_ISSUER)
    except (oidc.UntrustedProviderError, oidc.MissingClaimError) as error:
        log.warning("identity provider answer rejected: %s", error.description)
        return pages.error(502, *pages.IDP_UNTRUSTED, retry=False)
    except MismatchingStateError:
        log.warning("auth callback refused: state does not match")
        return pages.error(400, *pages.IDP_REFUSED)
    except OAuthError as error:
        log.warning("identity provider refused the login: %s", _error_code(error))
        if error.error in _DENIED:
            return pages.error(403, *pages.DENIED)
        if error.error in _IDP_DOWN:
            return pages.error(502, *pages.IDP_UNAVAILABLE)
        return pages.error(400, *pages.IDP_REFUSED)
    except requests.RequestException as error:
        log.warning("identity provider unreachable at callback: %s", type(error).__name__)
        return pages.error(502, *pages.IDP_UNAVAILABLE)
    except oidc.IDP_ERRORS as error:
        log.warning("identity provider answer rejected: %s", type(error).__name__)
        return pages.error(502, *pages.IDP_REFUSED)

    session.clear()  # drops authlib's leftovers too; the identity starts afresh
    session.permanent = True
    session[IDENTITY_KEY] = external_id
    if token.get("id_token"):
        session[ID_TOKEN_KEY] = token["id_token"]
    log.info("identity verified: external_id=%s", external_id)
    if login.get("admin"):
        return redirect("/admin")  # a fixed path: the admin pages check the role themselves
    return _finish(external_id, login)


def _error_code(error: OAuthError) -> str:
    """The OAuth error code, for the log; it comes from the URL, so only if it looks like one."""
    code = str(error.error or "")
    return code if _ERROR_CODE.match(code) else "(unrecognised error code)"


def _finish(external_id: str, login: dict[str, str]) -> Response:
    """Reply to Discourse for an active member; anyone else gets the how-to-join page."""
    services = current_services()
    settings = services.settings
    store = services.members
    valid = EXTERNAL_ID.match(external_id) is not None
    member = store.get(external_id) if valid else None
    if member is None or not member.active:
        log.info(
            "login refused: external_id=%s %s",
            external_id if valid else "(not a valid external id)",
            "is not an active member" if member else "is not in the roster",
        )
        return pages.not_member()

    reply = services.member_sync().login_reply(
        member, nonce=login["nonce"], return_sso_url=login["return_sso_url"]
    )
    sso, sig = discourse_connect.sign(reply.fields, settings.discourse_connect_secret)
    # The workers learn the account once Discourse has it, keyed by external id.
    enqueue.after_login(services, external_id, reply.sequence, reply.sent)
    log.info("login reply issued: external_id=%s", external_id)
    query = urlencode({"sso": sso, "sig": sig})
    return redirect(settings.discourse_url + "/session/sso_login?" + query)


@bp.get("/logout")
def logout():
    """Discourse's `logout_redirect`: end the bridge session, then the IdP's."""
    settings = current_services().settings
    external_id = session.get(IDENTITY_KEY)
    id_token = session.get(ID_TOKEN_KEY)
    session.clear()
    log.info("logout: external_id=%s", external_id or "-")
    try:
        target = oidc.end_session_url(
            id_token=id_token, post_logout_redirect_uri=settings.public_url + "/logout/done"
        )
    except oidc.IDP_ERRORS as error:
        log.warning("identity provider unreachable at logout: %s", type(error).__name__)
        target = None
    return redirect(target or settings.discourse_url)


@bp.get("/logout/done")
def logout_done():
    return redirect(current_services().settings.discourse_url)
