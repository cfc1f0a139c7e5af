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

    def test_doctor_names_the_redirect_and_the_fix(self, app, https_only_forum):
        result = app.test_cli_runner().invoke(args=["doctor"])

        assert result.exit_code == 1
        https = https_only_forum.url.replace("http://", "https://")
        assert f"[FAIL] DISCOURSE_URL {https_only_forum.url} redirects to {https}/" in result.output
        assert "the forum's own base URL" in result.output
        assert "Traceback" not in result.output
