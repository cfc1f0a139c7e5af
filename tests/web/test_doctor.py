"""`flask doctor` against forums that are not quite what DISCOURSE_URL says."""

from __future__ import annotations

import pytest
from werkzeug.wrappers import Response

from tests.support.servers import ThreadedServer


def _redirect_everything_to_https(environ, start_response):
    """A forum reached over http that insists on https, as nginx in front of Discourse does."""
    host = environ["HTTP_HOST"]
    location = f"https://{host}{environ.get('PATH_INFO', '/')}"
    return Response("", status=301, headers={"Location": location})(environ, start_response)


@pytest.fixture
def https_only_forum():
    server = ThreadedServer(_redirect_everything_to_https).start()
    yield server
    server.stop()


class TestRedirectingForum:
    @pytest.fixture
    def environ(self, environ, https_only_forum):
        return {**environ, "DISCOURSE_URL": https_only_forum.url}

    def test_doctor_names_the_redirect_and_the_fix(self, runner, https_only_forum):
        result = runner.invoke(args=["doctor"])

        assert result.exit_code == 1
        https = https_only_forum.url.replace("http://", "https://")
        assert f"[FAIL] DISCOURSE_URL {https_only_forum.url} redirects to {https}/" in result.output
        assert "the forum's own base URL" in result.output
        assert "Traceback" not in result.output


@pytest.fixture
def ready_forum(runner, sandbox, bridge_port):
    """The sandbox set up as `discourse setup` leaves it; its settings restored afterwards."""
    runner.invoke(args=["discourse", "setup"])
    yield sandbox
    sandbox.settings(base_url=None, logout_redirect=f"http://127.0.0.1:{bridge_port}/logout")


def test_doctor_confirms_the_base_url_and_the_logout_redirect(runner, ready_forum, bridge_port):
    result = runner.invoke(args=["doctor"])

    assert result.exit_code == 0, result.output
    assert f"[ok] DISCOURSE_URL is the forum's own base URL ({ready_forum.url})" in result.output
    assert "[ok] the forum signs with DISCOURSE_CONNECT_SECRET" in result.output
    assert f"[ok] logout_redirect is http://127.0.0.1:{bridge_port}/logout" in result.output


def test_doctor_fails_when_the_forum_calls_itself_otherwise(runner, ready_forum):
    """The forum's return_sso_url must be DISCOURSE_URL + /session/sso_login, or /sso refuses."""
    ready_forum.settings(base_url="https://club.example.org")

    result = runner.invoke(args=["doctor"])

    assert result.exit_code == 1
    assert (f"[FAIL] DISCOURSE_URL is {ready_forum.url}, but the forum's own base URL is "
            "https://club.example.org") in result.output
    assert "set DISCOURSE_URL=https://club.example.org" in result.output


def test_doctor_warns_about_another_logout_redirect(runner, ready_forum, bridge_port):
    ready_forum.settings(logout_redirect="https://club.example.org/goodbye")

    result = runner.invoke(args=["doctor"])

    assert result.exit_code == 0, result.output  # a warning, not a failure
    assert ("[warn] logout_redirect is https://club.example.org/goodbye, expected "
            f"http://127.0.0.1:{bridge_port}/logout") in result.output


def test_groups_anyone_may_mention_are_flagged_and_brought_in_line(runner, sandbox, services):
    """A group of thousands that anyone may @mention or message is a spam cannon."""
    runner.invoke(args=["discourse", "setup"])
    club = services.discourse.group("club")
    assert (club["mentionable_level"], club["messageable_level"]) == (0, 0)
    services.discourse.update_group(club["id"], name="club", mentionable_level=3,
                                    messageable_level=3)

    result = runner.invoke(args=["doctor"])
    assert result.exit_code == 1
    assert "[FAIL] group club: @mention by nobody, messages by nobody (forum levels 3, 3)" in (
        result.output)

    runner.invoke(args=["discourse", "setup"])
    club = services.discourse.group("club")
    assert (club["mentionable_level"], club["messageable_level"]) == (0, 0)
    entry = services.audit.newest(limit=1, subject="group:club")[0]
    assert (entry.action, entry.detail) == ("group.levels", "mentionable=nobody messageable=nobody")
    assert "group club: @mention by nobody" in runner.invoke(args=["doctor"]).output
