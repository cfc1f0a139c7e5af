"""The security headers of the bridge's own pages (the login flow and /admin), in one place.

Both sets forbid framing, sniffing, caching and every external resource; they
differ where the pages differ: the login flow sends no referrer (its callback
URL carries the authorization code) and has no forms, the admin pages post
forms to themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import Response

_COMMON = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}

#: The login flow: every answer; its HTML pages add the policy below.
LOGIN_HEADERS = {**_COMMON, "Referrer-Policy": "no-referrer"}
LOGIN_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'"
LOGIN_PAGE_HEADERS = {**LOGIN_HEADERS, "Content-Security-Policy": LOGIN_PAGE_POLICY}

#: The admin pages.
ADMIN_HEADERS = {
    **_COMMON,
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


def add_headers(
    headers_for: Callable[[Response], Mapping[str, str]],
) -> Callable[[Response], Response]:
    """An `after_request` hook adding each header the response did not set itself.

    One pass over the present headers: werkzeug's `headers.setdefault` raises and
    catches an exception inside for each missing header.
    """

    def hook(response: Response) -> Response:
        present = {name.lower() for name, _ in response.headers}
        for name, value in headers_for(response).items():
            if name.lower() not in present:
                response.headers.add(name, value)
        return response

    return hook
