"""A scripted browser for the login flow: a `requests.Session` walking redirects hop by hop.

Shared by the login tests of tests/sso and tests/federation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

TIMEOUT = 10
MANAGED_BY_ROLE = {  # config/roles.yml, spelled out so the tests read on their own
    "participant": {"club", "participants"},
    "winner": {"club", "winners"},
    "moderator": {"club", "club-mods"},
}


@dataclass
class Trace:
    """Every response of one walk, in order; `last` is where the browser ended."""

    hops: list[requests.Response] = field(default_factory=list)

    @property
    def last(self) -> requests.Response:
        return self.hops[-1]

    @property
    def urls(self) -> list[str]:
        return [hop.url for hop in self.hops]

    def hop(self, path: str) -> requests.Response:
        return next(h for h in self.hops if urlsplit(h.url).path == path)

    def visited(self, base: str, path: str) -> bool:
        return any(h.url.startswith(base + path) for h in self.hops)


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def walk(browser: requests.Session, response: requests.Response, trace: Trace | None = None):
    """Follow redirects one at a time, recording each hop."""
    trace = trace or Trace()
    trace.hops.append(response)
    for _ in range(20):
        if not response.is_redirect:
            return trace
        target = urljoin(response.url, response.headers["Location"])
        response = browser.get(target, allow_redirects=False, timeout=TIMEOUT)
        trace.hops.append(response)
    raise AssertionError("redirect loop: " + " -> ".join(trace.urls))


def get(browser: requests.Session, url: str) -> Trace:
    return walk(browser, browser.get(url, allow_redirects=False, timeout=TIMEOUT))


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action") or "", "fields": {}, "buttons": []})
        elif self.forms and tag == "input" and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""
        elif self.forms and tag == "button" and attrs.get("id"):
            self.forms[-1]["buttons"].append(attrs["id"])


def click(
    browser: requests.Session, page: requests.Response, button_id: str, *, follow: bool = True
) -> Trace:
    """Submit the form holding `button_id`, then follow the redirects (unless told not to)."""
    parser = _Forms()
    parser.feed(page.text)
    for form in parser.forms:
        if button_id in form["buttons"]:
            url = urljoin(page.url, form["action"])
            posted = browser.post(url, data=form["fields"], allow_redirects=False, timeout=TIMEOUT)
            return walk(browser, posted) if follow else Trace([posted])
    raise AssertionError(f"no button #{button_id} on {page.url}")


def log_in(browser: requests.Session, forum_url: str, sub: str) -> Trace:
    """From the forum's login link through the identity provider, as teacher `sub`."""
    start = get(browser, forum_url + "/session/sso?return_path=/")
    page = start.last
    assert page.status_code == 200, (page.status_code, start.urls)
    assert "/authorize" in page.url, start.urls
    done = click(browser, page, f"login-{sub}")
    done.hops[:0] = start.hops
    return done


def element_text(html: str, element_id: str) -> str | None:
    """The text inside the element with this id (enough for the tests' simple pages)."""

    class Finder(HTMLParser):
        depth = 0
        text: list[str] | None = None

        def handle_starttag(self, tag, attrs):
            if self.text is None and dict(attrs).get("id") == element_id:
                self.text, self.depth = [], 1
            elif self.text is not None and self.depth:
                self.depth += 1

        def handle_endtag(self, tag):
            if self.text is not None and self.depth:
                self.depth -= 1

        def handle_data(self, data):
            if self.text is not None and self.depth:
                self.text.append(data)

    finder = Finder()
    finder.feed(html)
    return " ".join("".join(finder.text).split()) if finder.text is not None else None


def attribute(html: str, element_id: str, name: str) -> str | None:
    class Finder(HTMLParser):
        value: str | None = None

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if attrs.get("id") == element_id:
                self.value = attrs.get(name)

    finder = Finder()
    finder.feed(html)
    return finder.value
