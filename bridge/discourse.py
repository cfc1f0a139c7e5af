"""The Discourse admin API client: one class, one request chokepoint.

Every call goes through `_send`: it takes a slot from the shared budget, sends
with a timeout and without following redirects. `_request` turns every failure
into a typed error, a redirect included (`Redirected`; only `topic_by_external_id`
follows one, and only on this forum). The client never sleeps on a 429; it
raises `RateLimited` with Discourse's `retry_after` and lets the caller (a job)
decide.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, parse_qsl, quote, urljoin, urlsplit, urlunsplit

import requests

from bridge import discourse_connect
from bridge.ratelimit import ApiBudget, BudgetExhausted

log = logging.getLogger(__name__)

#: Discourse's `GroupsController::ADD_MEMBERS_LIMIT`, also used for removals.
MEMBERS_PER_CALL = 1000
#: The largest `limit` of `GET /groups/{name}/members.json`.
MEMBERS_PAGE = 1000
#: `AdminUserIndexQuery`'s page size for `/admin/users/list/{flag}.json`.
USER_LIST_PAGE = 100


class DiscourseError(Exception):
    """Base of every client error; `status` is None when no response came."""

    transient = False

    def __init__(self, message: str, *, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body

    @property
    def errors(self) -> list[str]:
        if isinstance(self.body, dict):
            errors = self.body.get("errors")
            if isinstance(errors, list):
                return [str(e) for e in errors]
            if "message" in self.body:
                return [str(self.body["message"])]
        return []


class ClientError(DiscourseError):
    """Discourse refused the request (4xx): retrying the same call will not help."""


class NotFound(ClientError):
    pass


class InvalidCredentials(ClientError):
    """The API key or username is refused: fix the configuration."""


class Redirected(DiscourseError):
    """Discourse answered with a redirect: `DISCOURSE_URL` is not the forum's own base URL.

    Never followed (the API key would go along, perhaps to another host) and
    never read as data (a redirected group read would look like an empty group).
    Not a `ClientError`: it is the configuration's fault, not one request's.
    """

    def __init__(self, message: str, *, location: str, status: int):
        super().__init__(message, status=status)
        self.location = location


class ServerError(DiscourseError):
    """5xx, timeout or connection failure: worth retrying."""

    transient = True


class RateLimited(DiscourseError):
    transient = True

    def __init__(
        self, message: str, *, retry_after: float, status: int | None = 429, body: Any = None
    ):
        super().__init__(message, status=status, body=body)
        self.retry_after = retry_after


@dataclass(frozen=True)
class CallRecord:
    method: str
    path: str
    status: int | None
    seconds: float


def _retry_after(response: requests.Response, body: Any) -> float:
    if isinstance(body, dict):
        wait = (body.get("extras") or {}).get("wait_seconds")
        if isinstance(wait, int | float) and wait >= 0:
            return float(wait)
    header = response.headers.get("Retry-After", "")
    try:
        return max(float(header), 0.0)
    except ValueError:
        return 5.0


def _csv(values: Iterable[Any]) -> str:
    """Discourse wants comma-separated strings here, never JSON arrays."""
    return ",".join(str(v) for v in values)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DiscourseClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        api_username: str = "system",
        connect_secret: str,
        session: requests.Session,
        budget: ApiBudget | None = None,
        timeout: float = 10.0,
        budget_wait: float = 70.0,
        on_call=None,
    ):
        self.base_url = base_url.rstrip("/")
        self.api_username = api_username
        self.connect_secret = connect_secret
        self.session = session
        self.budget = budget
        self.timeout = timeout
        self.budget_wait = budget_wait
        self.on_call = on_call
        self._headers = {
            "Api-Key": api_key,
            "Api-Username": api_username,
            "Accept": "application/json",
        }

    # -- the chokepoint ---------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
    ) -> Any:
        response = self._send(method, path, params=params, json=json, data=data)
        return self._parse(method, path, response)

    def _send(
        self,
        method: str,
        path: str,
        *,
        admin: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request; `admin=False` asks like a browser: no API key, no admin budget."""
        if admin and self.budget is not None:
            try:
                self.budget.acquire(max_wait=self.budget_wait)
            except BudgetExhausted as error:
                raise RateLimited(
                    f"{method} {path}: shared API budget exhausted",
                    retry_after=error.retry_after,
                    status=None,
                ) from None
        started = time.monotonic()
        status = None
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                headers=self._headers if admin else {"Accept": "application/json"},
                timeout=self.timeout,
                allow_redirects=False,
                **kwargs,
            )
            status = response.status_code
        except requests.Timeout as error:
            raise ServerError(f"{method} {path}: timed out after {self.timeout} s") from error
        except requests.RequestException as error:
            raise ServerError(f"{method} {path}: {type(error).__name__}") from error
        finally:
            seconds = time.monotonic() - started
            log.debug("discourse %s %s -> %s in %.3f s", method, path, status, seconds)
            if self.on_call is not None:
                self.on_call(CallRecord(method, path, status, seconds))
        return response

    def _parse(self, method: str, path: str, response: requests.Response) -> Any:
        status = response.status_code
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text[:500]
        where = f"{method} {path}"
        if 200 <= status < 300:
            return body
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            raise Redirected(
                f"{where}: HTTP {status} redirect to {location[:200]!r}; "
                "DISCOURSE_URL must be the forum's own base URL",
                location=location,
                status=status,
            )
        if status == 429:
            retry_after = _retry_after(response, body)
            if self.budget is not None:  # every process waits, not only this caller
                self.budget.push_back(retry_after)
            raise RateLimited(f"{where}: rate limited", retry_after=retry_after, body=body)
        if status >= 500:
            raise ServerError(f"{where}: HTTP {status}", status=status, body=body)
        if status == 404:
            raise NotFound(f"{where}: not found", status=status, body=body)
        if status == 403 and isinstance(body, dict) and body.get("error_type") == "invalid_access":
            if "API username or key is invalid" in " ".join(map(str, body.get("errors", []))):
                raise InvalidCredentials(f"{where}: API key refused", status=status, body=body)
        error = ClientError(f"{where}: HTTP {status}", status=status, body=body)
        if error.errors:
            error.args = (f"{where}: HTTP {status}: {'; '.join(error.errors)[:300]}",)
        raise error

    # -- users ------------------------------------------------------------------

    def sync_sso(self, payload: Mapping[str, Any]) -> dict:
        """Create or update a user from a DiscourseConnect payload (REFERENCE §2)."""
        sso, sig = discourse_connect.sign(payload, self.connect_secret)
        return self._request("POST", "/admin/users/sync_sso", data={"sso": sso, "sig": sig})

    def user_by_external_id(self, external_id: str) -> dict | None:
        try:
            body = self._request("GET", f"/u/by-external/{_quote(external_id)}.json")
        except NotFound:
            return None
        return body.get("user") if isinstance(body, dict) else None

    def user(self, user_id: int) -> dict | None:
        """One account as an admin sees it, with its DiscourseConnect external id."""
        try:
            return self._request("GET", f"/admin/users/{int(user_id)}.json")
        except NotFound:
            return None

    def staff_users(self) -> list[dict]:
        """All admins and moderators."""
        return self._user_list("staff")

    def active_users_with_emails(self) -> list[dict]:
        """Every active account with its e-mail: 100 a page, one call per hundred."""
        return self._user_list("active", show_emails="true")

    def _user_list(self, flag: str, **params: str) -> list[dict]:
        users: list[dict] = []
        page = 1
        while True:
            batch = self.user_list_page(flag, page, **params)
            users.extend(batch)
            if len(batch) < USER_LIST_PAGE:
                return users
            page += 1

    def user_list_page(self, flag: str, page: int, **params: str) -> list[dict]:
        """One page (USER_LIST_PAGE accounts) of `GET /admin/users/list/{flag}.json`."""
        batch = self._request(
            "GET", f"/admin/users/list/{flag}.json", params={"page": page, **params}
        )
        return batch or []

    def log_out(self, user_id: int) -> None:
        """End every session of the account; raises unless Discourse confirms."""
        body = self._request("POST", f"/admin/users/{user_id}/log_out.json")
        if not (isinstance(body, dict) and body.get("success") == "OK"):
            raise ServerError(f"POST /admin/users/{user_id}/log_out.json: not confirmed")

    def anonymize(self, user_id: int) -> str:
        """Anonymize the account; returns its new username, raises unless Discourse confirms."""
        body = self._request("PUT", f"/admin/users/{user_id}/anonymize.json")
        if not (isinstance(body, dict) and body.get("success") == "OK"):
            raise ServerError(f"PUT /admin/users/{user_id}/anonymize.json: not confirmed")
        return str(body.get("username") or "")

    # -- groups -----------------------------------------------------------------

    def create_group(self, **fields: Any) -> dict:
        body = self._request("POST", "/admin/groups.json", json={"group": fields})
        return body["basic_group"]

    def update_group(self, group_id: int, *, name: str, **fields: Any) -> None:
        """Change a group's attributes; the document requires its (unchanged) name too."""
        self._request("PUT", f"/groups/{group_id}.json", json={"group": {"name": name, **fields}})

    def group(self, name: str) -> dict | None:
        try:
            return self._request("GET", f"/groups/{_quote(name)}.json")["group"]
        except NotFound:
            return None

    def group_index(self) -> list[dict]:
        """Every group that is not automatic, with its `user_count`: 36 a page."""
        groups: list[dict] = []
        page = 0
        while True:
            body = self._request("GET", "/groups.json",
                                 params={"type": "non_automatic", "page": page})
            batch = body.get("groups") or []
            groups.extend(batch)
            if not batch or len(groups) >= int(body.get("total_rows_groups") or 0):
                return groups
            page += 1

    def group_members(self, name: str) -> list[dict]:
        """Every member of a group, read 1000 a page."""
        members: list[dict] = []
        offset = 0
        while True:
            body = self._request(
                "GET",
                f"/groups/{_quote(name)}/members.json",
                params={"limit": MEMBERS_PAGE, "offset": offset},
            )
            page = body.get("members") or []
            members.extend(page)
            total = (body.get("meta") or {}).get("total", 0)
            offset += len(page)
            if not page or offset >= total:
                return members

    def add_members(
        self, group_id: int, *, user_ids: Iterable[int] = (), usernames: Iterable[str] = (),
        emails: Iterable[str] = (),
    ) -> list[str]:
        """Add users in batches of 1000; unknown users are skipped by Discourse.

        Returns the usernames Discourse reports as added.
        """
        added: list[str] = []
        for field, values in (("user_ids", list(user_ids)), ("usernames", list(usernames)),
                              ("user_emails", list(emails))):
            for batch in _chunks(values, MEMBERS_PER_CALL):
                try:
                    body = self._request(
                        "PUT", f"/groups/{group_id}/members.json", json={field: _csv(batch)}
                    )
                except ClientError as error:
                    # 422: all of them are members already; 400: none of them exists.
                    if error.status in (400, 422):
                        continue
                    raise
                added.extend(body.get("usernames") or [])
        return added

    def remove_members(
        self, group_id: int, *, user_ids: Iterable[int] = (), usernames: Iterable[str] = ()
    ) -> list[str]:
        removed: list[str] = []
        for field, values in (("user_ids", list(user_ids)), ("usernames", list(usernames))):
            for batch in _chunks(values, MEMBERS_PER_CALL):
                try:
                    body = self._request(
                        "DELETE", f"/groups/{group_id}/members.json", json={field: _csv(batch)}
                    )
                except ClientError as error:
                    if error.status == 400:  # none of them exists any more
                        continue
                    raise
                removed.extend(body.get("usernames") or [])
        return removed

    # -- categories -------------------------------------------------------------

    def categories(self) -> list[dict]:
        body = self._request("GET", "/categories.json")
        return body["category_list"]["categories"]

    def create_category(self, *, name: str, slug: str, color: str, text_color: str) -> dict:
        body = self._request(
            "POST",
            "/categories.json",
            json={"name": name, "slug": slug, "color": color, "text_color": text_color},
        )
        return body["category"]

    # -- topics and posts -------------------------------------------------------

    def create_topic(
        self,
        *,
        title: str,
        raw: str,
        category_id: int,
        external_id: str,
        tags: Iterable[str] = (),
    ) -> dict:
        """Create a topic with its first post; returns the post."""
        body = {
            "title": title,
            "raw": raw,
            "category": category_id,
            "external_id": external_id,
            "tags": list(tags),
        }
        return self._request("POST", "/posts.json", json=body)

    def topic_by_external_id(self, external_id: str) -> dict | None:
        """The topic with this external id.

        Discourse answers with a 301 to `/t/{slug}/{id}.json` (REFERENCE §5). It
        is followed only to this very forum (same scheme, host and port as
        `DISCOURSE_URL`), so the API key never goes anywhere else.
        """
        try:
            return self._request("GET", f"/t/external_id/{_quote(external_id)}.json")
        except NotFound:
            return None
        except Redirected as redirect:
            path = self._path_on_this_forum(redirect.location)
            if path is None:
                raise
        try:
            return self._request("GET", path)
        except NotFound:
            return None

    def _path_on_this_forum(self, location: str) -> str | None:
        """The path and query `location` points to, if it is on this forum; else None."""
        target = urlsplit(urljoin(self.base_url + "/", location))
        if _origin(target) != _origin(urlsplit(self.base_url)):
            return None
        return urlunsplit(("", "", target.path or "/", target.query, ""))

    def topic(self, topic_id: int) -> dict | None:
        """The topic, or None when it is deleted.

        Discourse answers 404 for a deleted topic, except to staff (the API user),
        who see it with `deleted_at` set.
        """
        try:
            found = self._request("GET", f"/t/{topic_id}.json")
        except NotFound:
            return None
        return None if found.get("deleted_at") else found

    def post(self, post_id: int) -> dict | None:
        try:
            return self._request("GET", f"/posts/{post_id}.json")
        except NotFound:
            return None

    def edit_post(
        self,
        post_id: int,
        *,
        raw: str,
        edit_reason: str,
        title: str | None = None,
        category_id: int | None = None,
    ) -> dict:
        post: dict[str, Any] = {"raw": raw, "edit_reason": edit_reason}
        body: dict[str, Any] = {"post": post}
        if title is not None:
            body["title"] = title
        if category_id is not None:
            post["category_id"] = category_id
        return self._request("PUT", f"/posts/{post_id}.json", json=body)["post"]

    def update_topic(
        self,
        topic_id: int,
        *,
        title: str | None = None,
        category_id: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> dict:
        """Title, category and tags are top-level fields (REFERENCE §5, §13)."""
        body: dict[str, Any] = {}
        if title is not None:
            body["title"] = title
        if category_id is not None:
            body["category_id"] = category_id
        if tags is not None:
            body["tags"] = list(tags)
        return self._request("PUT", f"/t/-/{topic_id}.json", json=body)

    def set_topic_status(self, topic_id: int, *, status: str, enabled: bool) -> None:
        """`enabled` goes as the string "true"/"false": Discourse reads nothing else."""
        self._request(
            "PUT",
            f"/t/{topic_id}/status.json",
            json={"status": status, "enabled": "true" if enabled else "false"},
        )

    def delete_topic(self, topic_id: int) -> None:
        self._request("DELETE", f"/t/{topic_id}.json")

    # -- site -------------------------------------------------------------------

    def discourse_connect_request(self) -> dict[str, str]:
        """The signed request the forum starts a login with (for `doctor`).

        Asked as a browser would (no API key, no admin budget): Discourse sends
        `/session/sso` on to `discourse_connect_url?sso=…&sig=…`, and the payload's
        `return_sso_url` is built from the forum's own base URL. Raises
        `discourse_connect.InvalidSignature` when the forum signs with another secret.
        """
        path = "/session/sso"
        response = self._send("GET", path, admin=False)
        if not response.is_redirect:
            self._parse("GET", path, response)  # raises on errors: 404 when DiscourseConnect is off
            raise ClientError(f"GET {path}: HTTP {response.status_code}, no redirect to the login")
        query = dict(parse_qsl(urlsplit(response.headers["Location"]).query))
        return discourse_connect.verify(query.get("sso"), query.get("sig"), self.connect_secret)

    def web_hooks(self) -> list[dict]:
        body = self._request("GET", "/admin/api/web_hooks.json")
        return (body or {}).get("web_hooks") or []

    def create_web_hook(self, fields: Mapping[str, Any]) -> dict:
        return self._request("POST", "/admin/api/web_hooks.json",
                             json={"web_hook": dict(fields)})["web_hook"]

    def update_web_hook(self, hook_id: int, fields: Mapping[str, Any]) -> dict:
        return self._request("PUT", f"/admin/api/web_hooks/{hook_id}.json",
                             json={"web_hook": dict(fields)})["web_hook"]

    def site_settings(self, filter_text: str) -> dict[str, str]:
        body = self._request("GET", "/admin/site_settings.json", params={"filter": filter_text})
        return {s["setting"]: s.get("value") for s in body.get("site_settings", [])}


def _quote(segment: str) -> str:
    return quote(segment, safe="")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: SplitResult) -> tuple[str, str | None, int | None]:
    """Scheme, host and port, the default port spelled out: what "the same server" means."""
    scheme = url.scheme.lower()
    try:
        port = url.port
    except ValueError:  # not a number: matches no real origin
        return (scheme, None, None)
    return (scheme, url.hostname, port or _DEFAULT_PORTS.get(scheme))
