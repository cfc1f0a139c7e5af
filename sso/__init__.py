"""DiscourseConnect provider: the forum's login, through each source's OIDC provider.

    forum /session/sso -> GET /sso (signed nonce) [-> the chooser of sources]
    -> the source's identity provider (code + PKCE) -> GET /auth/callback
    -> forum /session/sso_login (signed reply)

The only place a reply ever goes is the configured forum's `/session/sso_login`;
the forum's nonce is kept with the login attempt in the session and used once.
Each attempt is bound to the source it went to: the callback redeems the code
only at that source's provider, after checking the response's `iss`.

In a federation the session also keeps what the browser proved through each
source (`VERIFIED_KEY`): the link step between two sources' listings of one
person rests on it (`_link_or_hold`).
Log lines carry external ids and outcomes only: no payload, token, e-mail or name.
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import urlencode

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from flask import Blueprint, Response, redirect, request, session

from bridge import discourse_connect
from bridge.members import EXTERNAL_ID, Member
from bridge.membersync import MemberSync
from config import Federation, Source
from sso import oidc, pages
from web import security
from web.current import current_services
from workers import enqueue

log = logging.getLogger(__name__)

bp = Blueprint("sso", __name__, template_folder="templates")
bp.record_once(lambda state: oidc.init_app(state.app))

LOGIN_KEY = "sso_login"  # the pending login attempt: Discourse's nonce and return URL
IDENTITY_KEY = "external_id"  # verified by the identity provider
ID_TOKEN_KEY = "id_token"  # noqa: S105 - a session key: the ID token kept for the logout hint
ID_SOURCE_KEY = "id_source"  # whose provider issued that ID token
VERIFIED_KEY = "verified"  # source -> {id, email, at}: what this browser proved through each
PROOF_AGE = 3600  # a proof links listings for an hour: "in one browser session"
CHOICE_COOKIE = "bridge_source"  # the organisation last chosen, offered first next time
CHOICE_MAX_AGE = 365 * 24 * 3600
_NONCE = re.compile(r"\A[A-Za-z0-9_-]{1,128}\Z")
_ERROR_CODE = re.compile(r"\A[a-z_]{1,40}\Z")
_DENIED = frozenset({"access_denied", "consent_required", "login_required", "interaction_required"})
_IDP_DOWN = frozenset({"server_error", "temporarily_unavailable"})

bp.after_request(security.add_headers(
    lambda response: security.LOGIN_PAGE_HEADERS if response.mimetype == "text/html"
    else security.LOGIN_HEADERS))


@bp.get("/sso")
def sso():
    """Discourse sends the browser here with a signed nonce."""
    services = current_services()
    settings, federation = services.settings, services.config.sources
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

    chosen = request.args.get("source")
    if chosen is None and federation.only is None:
        return _chooser(federation)
    source = federation.only if chosen is None else federation.sources.get(chosen)
    if source is None:
        log.warning("sso request refused: unknown source")
        return pages.error(400, *pages.BAD_REQUEST)
    login = {"nonce": fields["nonce"], "return_sso_url": fields["return_sso_url"]}
    if federation.federated:
        login["source"] = source.code  # the attempt is bound to the provider it went to
    known = _verified(source)
    if known:
        response = _finish(known, login)
    else:
        response = _start(source, login)
    if federation.federated:
        response.set_cookie(CHOICE_COOKIE, source.code, max_age=CHOICE_MAX_AGE,
                            httponly=True, samesite="Lax", secure=settings.secure_cookies)
    return response


def _chooser(federation: Federation) -> Response:
    """The organisations to log in through; each link repeats the signed request."""
    last = request.cookies.get(CHOICE_COOKIE)
    base = {"sso": request.args.get("sso"), "sig": request.args.get("sig")}
    choices = [{"code": s.code, "name": s.name,
                "url": "/sso?" + urlencode({**base, "source": s.code})}
               for s in federation.sources.values()]
    return pages.chooser(choices, last if last in federation.sources else None)


def _start(source: Source, login: dict) -> Response:
    """On to the source's identity provider; the attempt is bound to that source."""
    session[LOGIN_KEY] = login
    try:
        return oidc.client(source.code).authorize_redirect(
            current_services().settings.public_url + "/auth/callback")
    except oidc.UntrustedProviderError as error:
        log.warning("identity provider of %s not trusted at login start: %s", source.code,
                    error.description)
        session.pop(LOGIN_KEY, None)
        return pages.error(502, *pages.IDP_UNTRUSTED, retry=False,
                           source_name=_name(source))
    except oidc.IDP_ERRORS as error:
        log.warning("identity provider of %s unreachable at login start: %s", source.code,
                    type(error).__name__)
        session.pop(LOGIN_KEY, None)
        return pages.error(502, *pages.IDP_UNAVAILABLE, source_name=_name(source))


def _verified(source: Source) -> str | None:
    """The member this browser proved through `source`, if any."""
    if current_services().config.sources.federated:
        proof = (session.get(VERIFIED_KEY) or {}).get(source.code)
        return proof.get("id") if isinstance(proof, dict) else None
    return session.get(IDENTITY_KEY)


def _name(source: Source) -> str | None:
    """The organisation a page names (none for a single-source bridge)."""
    return source.name if current_services().config.sources.federated else None


@bp.get("/auth/admin")
def admin_login():
    """Administrators sign in to /admin with their own source's account (no forum involved)."""
    federation = current_services().config.sources
    chosen = request.args.get("source")
    source = federation.only if chosen is None else federation.sources.get(chosen)
    if source is None:
        return redirect("/admin/login")  # the admin login page lists the sources
    session[LOGIN_KEY] = {"admin": True}
    if federation.federated:
        session[LOGIN_KEY]["source"] = source.code
    try:
        return oidc.client(source.code).authorize_redirect(
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
    federation = current_services().config.sources
    source = federation.sources.get(login.get("source") or federation.codes[0])
    if source is None:  # a login started before the configuration changed
        return pages.error(400, *pages.NO_PENDING_LOGIN)
    client = oidc.client(source.code)
    foreign = pages.FOREIGN_PROVIDER if federation.federated else pages.FOREIGN_ISSUER
    try:
        # Before the code is redeemed: a code from another source's provider (a mix-up)
        # never reaches this source's token endpoint.
        oidc.check_response_issuer(client, request.args.getlist("iss"))
        token = client.authorize_access_token()
        local_id = oidc.external_id_from(client, token, source.external_id_claim)
        email = oidc.verified_email(client, token) if federation.federated else None
    except oidc.IssuerMismatchError as error:
        log.warning("auth callback refused (%s): %s", source.code, error.description)
        return pages.error(400, *foreign, source_name=_name(source))
    except (oidc.UntrustedProviderError, oidc.MissingClaimError) as error:
        log.warning("identity provider answer rejected: %s", error.description)
        return pages.error(502, *pages.IDP_UNTRUSTED, retry=False, source_name=_name(source))
    except MismatchingStateError:
        log.warning("auth callback refused: state does not match")
        return pages.error(400, *pages.IDP_REFUSED, source_name=_name(source))
    except OAuthError as error:
        log.warning("identity provider refused the login: %s", _error_code(error))
        if error.error in _DENIED:
            return pages.error(403, *pages.DENIED, source_name=_name(source))
        if error.error in _IDP_DOWN:
            return pages.error(502, *pages.IDP_UNAVAILABLE, source_name=_name(source))
        return pages.error(400, *pages.IDP_REFUSED, source_name=_name(source))
    except requests.RequestException as error:
        log.warning("identity provider unreachable at callback: %s", type(error).__name__)
        return pages.error(502, *pages.IDP_UNAVAILABLE, source_name=_name(source))
    except oidc.IDP_ERRORS as error:
        log.warning("identity provider answer rejected: %s", type(error).__name__)
        return pages.error(502, *pages.IDP_REFUSED, source_name=_name(source))

    external_id = _forum_id(source, local_id)
    # What this browser proved through each source stays: linking two listings rests on it.
    proofs = _fresh_proofs()
    session.clear()  # drops authlib's leftovers too; the identity starts afresh
    session.permanent = True
    if external_id is not None:
        session[IDENTITY_KEY] = external_id
        if federation.federated:
            proofs[source.code] = {"id": external_id, "email": email, "at": time.time()}
            session[VERIFIED_KEY] = proofs
            session[ID_SOURCE_KEY] = source.code
    if token.get("id_token"):
        session[ID_TOKEN_KEY] = token["id_token"]
    log.info("identity verified: source=%s external_id=%s", source.code, external_id)
    if login.get("admin"):
        return redirect("/admin")  # a fixed path: the admin pages check the role themselves
    if external_id is None:
        return pages.not_member(_name(source))
    return _finish(external_id, login)


def _fresh_proofs() -> dict[str, dict]:
    """What this browser proved through each source within the last `PROOF_AGE` seconds."""
    proofs = session.get(VERIFIED_KEY)
    if not isinstance(proofs, dict):
        return {}
    now = time.time()
    return {code: proof for code, proof in proofs.items()
            if isinstance(proof, dict) and now - float(proof.get("at") or 0) < PROOF_AGE}


def _forum_id(source: Source, local_id: str) -> str | None:
    """The forum external id of what the provider asserted; None when it is not a valid id."""
    if EXTERNAL_ID.match(local_id) is None:
        log.info("login refused: the identity provider's id is not a valid external id")
        return None
    if source.legacy_ids and current_services().config.sources.legacy_conflict(local_id):
        log.info("login refused: a legacy id that reads as another source's")
        return None
    forum_id = source.forum_id(local_id)
    return forum_id if EXTERNAL_ID.match(forum_id) else None


def _error_code(error: OAuthError) -> str:
    """The OAuth error code, for the log; it comes from the URL, so only if it looks like one."""
    code = str(error.error or "")
    return code if _ERROR_CODE.match(code) else "(unrecognised error code)"


def _finish(external_id: str, login: dict[str, str]) -> Response:
    """Reply to Discourse for an active member; anyone else gets the how-to-join page."""
    services = current_services()
    settings, federation = services.settings, services.config.sources
    source = federation.source_of(external_id)
    member = services.members.get(external_id)
    if member is None or not member.active:
        log.info("login refused: external_id=%s %s", external_id,
                 "is not an active member" if member else "is not in the roster")
        return pages.not_member(_name(source))

    sync = services.member_sync()
    if federation.federated and not member.linked_to and not member.bound:
        held = _link_or_hold(sync, member, source)
        if held is not None:
            return held
    reply = sync.login_reply(member, nonce=login["nonce"], return_sso_url=login["return_sso_url"])
    sso, sig = discourse_connect.sign(reply.fields, settings.discourse_connect_secret)
    # The workers learn the account once Discourse has it, keyed by external id.
    enqueue.after_login(services, reply.anchor, reply.sequence, reply.sent)
    log.info("login reply issued: external_id=%s", external_id)
    query = urlencode({"sso": sso, "sig": sig})
    return redirect(settings.discourse_url + "/session/sso_login?" + query)


def _link_or_hold(sync: MemberSync, member: Member, source: Source) -> Response | None:
    """A listing whose e-mail another source's member's account may hold: link or hold.

    Discourse would merge the login into that account by e-mail. Only when this
    browser proved both listings (logged in through both providers, each
    asserting this e-mail as verified) are they linked; otherwise the link page
    explains the step and nothing reaches the forum.
    """
    conflicts = sync.email_conflicts(member)
    if not conflicts:
        return None
    federation = current_services().config.sources
    proofs = _fresh_proofs()
    email = member.email.lower()
    mine = proofs.get(source.code, {})
    accounts = {account.anchor.external_id: account
                for account in map(sync.account, conflicts)}
    if len(accounts) == 1 and (mine.get("id"), mine.get("email")) == (member.external_id, email):
        (anchor_id, account), = accounts.items()
        listings = {m.external_id for m in account.listings}
        proven = any(proof.get("id") in listings and proof.get("email") == email
                     for code, proof in proofs.items() if code != source.code)
        if proven:
            sync.link(member, account.anchor)
            log.info("listings linked: external_id=%s to account of %s", member.external_id,
                     anchor_id)
            return None
    others = sorted({federation.source_of(o.external_id).name for o in conflicts})
    log.info("login held: external_id=%s needs the link step", member.external_id)
    return pages.link_required(source.name, others, None)


@bp.get("/logout")
def logout():
    """Discourse's `logout_redirect`: end the bridge session, then the IdP's."""
    settings = current_services().settings
    external_id = session.get(IDENTITY_KEY)
    id_token = session.get(ID_TOKEN_KEY)
    federation = current_services().config.sources
    source = session.get(ID_SOURCE_KEY)
    source = source if source in federation.sources else federation.codes[0]
    session.clear()
    log.info("logout: external_id=%s", external_id or "-")
    try:
        target = oidc.end_session_url(
            source=source, id_token=id_token,
            post_logout_redirect_uri=settings.public_url + "/logout/done"
        )
    except oidc.IDP_ERRORS as error:
        log.warning("identity provider unreachable at logout: %s", type(error).__name__)
        target = None
    return redirect(target or settings.discourse_url)


@bp.get("/logout/done")
def logout_done():
    return redirect(current_services().settings.discourse_url)
