"""Logging in through a chosen source, with the scripted browser of tests/sso."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

import requests

from tests.support.flow import Trace, click, get


def choice_link(page: requests.Response, source: str) -> str:
    """The chooser page's link for `source`, as a browser would follow it."""

    class Links(HTMLParser):
        href: str | None = None

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "a" and attrs.get("data-testid") == f"source-{source}":
                self.href = attrs.get("href")

    links = Links()
    links.feed(page.text)
    assert links.href, f"no choice for {source} on {page.url}"
    return urljoin(page.url, links.href)


def start_login(browser: requests.Session, forum_url: str, source: str) -> Trace:
    """From the forum's login link, through the chooser, to `source`'s provider."""
    start = get(browser, forum_url + "/session/sso?return_path=/")
    chooser = start.last
    assert chooser.status_code == 200, start.urls
    assert "/sso" in chooser.url, start.urls
    onward = get(browser, choice_link(chooser, source))
    onward.hops[:0] = start.hops
    return onward


def log_in_through(browser: requests.Session, forum_url: str, source: str, sub: str) -> Trace:
    """A whole login as `sub` of `source`'s identity provider; ends where the bridge sent it."""
    start = start_login(browser, forum_url, source)
    page = start.last
    assert page.status_code == 200, start.urls
    assert "/authorize" in page.url, start.urls
    done = click(browser, page, f"login-{sub}")
    done.hops[:0] = start.hops
    return done
