"""A redirect is never data and never takes the API key elsewhere.

Every 3xx raises `Redirected` (a wrong `DISCOURSE_URL`, http for https, must
not look like an empty group). The one redirect Discourse sends on purpose,
`/t/external_id/{id}.json` → `/t/{slug}/{id}.json`, is followed only to the
same scheme, host and port as `DISCOURSE_URL`.
"""

from __future__ import annotations

import json

import pytest
from werkzeug.wrappers import Request, Response

from bridge.discourse import (
    ClientError,
    DiscourseError,
    InvalidCredentials,
    NotFound,
    Redirected,
)
from tests.support.servers import ThreadedServer

from .helpers import make_client


class Recorder:
    """A tiny forum: fixed answers by path; remembers every request and its headers."""

    def __init__(self):
        self.answers: dict[str, Response] = {}
        self.requests: list[tuple[str, dict]] = []

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.requests.append((request.path, dict(request.headers)))
        answer = self.answers.get(request.path) or Response("", status=404)
        return answer(environ, start_response)


@pytest.fixture
def forum():
    recorder = Recorder()
    server = ThreadedServer(recorder).start()
    server.recorder = recorder
    yield server
    server.stop()


@pytest.fixture
def elsewhere():
    """Another host (another port of loopback): nothing may ever reach it."""
    recorder = Recorder()
    server = ThreadedServer(recorder).start()
    server.recorder = recorder
    yield server
    server.stop()


def redirect(location: str, status: int = 301) -> Response:
    return Response("", status=status, headers={"Location": location})


def topic(topic_id: int = 7) -> Response:
    body = {"id": topic_id, "title": "Семинар", "post_stream": {"posts": []}}
    return Response(json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_raises_instead_of_reading_as_an_empty_group(forum, status):
    https = forum.url.replace("http://", "https://")
    forum.recorder.answers["/groups/club/members.json"] = redirect(
        https + "/groups/club/members.json", status
    )
    client = make_client(forum.url)

    with pytest.raises(Redirected) as caught:
        client.group_members("club")

    assert caught.value.location == https + "/groups/club/members.json"
    assert caught.value.status == status
    assert caught.value.transient is False
    assert "DISCOURSE_URL" in str(caught.value)


@pytest.mark.parametrize(
    "location", ["http://{elsewhere}/t/seminar/7.json", "//{elsewhere}/t/seminar/7.json"]
)
def test_topic_lookup_never_follows_to_another_host(forum, elsewhere, location):
    target = location.format(elsewhere=elsewhere.url.removeprefix("http://"))
    forum.recorder.answers["/t/external_id/ev-1.json"] = redirect(target)
    elsewhere.recorder.answers["/t/seminar/7.json"] = topic()
    client = make_client(forum.url)

    with pytest.raises(Redirected):
        client.topic_by_external_id("ev-1")

    assert elsewhere.recorder.requests == []


def test_a_location_glued_to_the_base_url_cannot_name_another_host(forum, elsewhere):
    """`base_url + "@host/…"` would be userinfo and another host; resolved, it is a path here."""
    target = "@" + elsewhere.url.removeprefix("http://") + "/t/seminar/7.json"
    forum.recorder.answers["/t/external_id/ev-1.json"] = redirect(target)
    elsewhere.recorder.answers["/t/seminar/7.json"] = topic()
    client = make_client(forum.url)

    assert client.topic_by_external_id("ev-1") is None  # that path is not a topic here

    assert elsewhere.recorder.requests == []
    assert forum.recorder.requests[-1][0] == "/" + target
    assert all(headers.get("Api-Key") for _, headers in forum.recorder.requests)


def test_topic_lookup_never_follows_to_another_scheme(forum):
    forum.recorder.answers["/t/external_id/ev-1.json"] = redirect(
        forum.url.replace("http://", "https://") + "/t/seminar/7.json"
    )
    client = make_client(forum.url)

    with pytest.raises(Redirected):
        client.topic_by_external_id("ev-1")

    assert [path for path, _ in forum.recorder.requests] == ["/t/external_id/ev-1.json"]


@pytest.mark.parametrize("absolute", [True, False])
def test_topic_lookup_follows_discourse_redirect_on_the_same_forum(forum, absolute):
    location = "/t/seminar/7.json?page=1"
    forum.recorder.answers["/t/external_id/ev-1.json"] = redirect(
        forum.url + location if absolute else location
    )
    forum.recorder.answers["/t/seminar/7.json"] = topic(7)
    client = make_client(forum.url)

    found = client.topic_by_external_id("ev-1")

    assert found["id"] == 7
    assert [path for path, _ in forum.recorder.requests] == [
        "/t/external_id/ev-1.json", "/t/seminar/7.json"
    ]


def test_not_found_and_bad_credentials_are_client_errors():
    """`except ClientError` covers every refusal that retrying will not change."""
    assert issubclass(NotFound, ClientError)
    assert issubclass(InvalidCredentials, ClientError)
    assert issubclass(Redirected, DiscourseError)
    assert not issubclass(Redirected, ClientError)  # a configuration error, not a refusal
