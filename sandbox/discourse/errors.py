"""Discourse-shaped error responses.

Texts follow config/locales/server.en.yml of discourse/discourse (REFERENCE §9).
"""

from __future__ import annotations

from typing import Any

NOT_FOUND = "The requested URL or resource could not be found."
INVALID_ACCESS = "You are not permitted to view the requested resource."
INVALID_API_CREDENTIALS = (
    "You are not permitted to view the requested resource. The API username or key is invalid."
)
NOT_LOGGED_IN = "You need to be logged in to do that."
INVALID_PARAMS = "You supplied invalid parameters to the request: {}"


class ApiError(Exception):
    """Raised by handlers; rendered as JSON (or an empty body when body is None)."""

    def __init__(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


def json_error(
    status: int,
    errors: list[str],
    error_type: str | None = None,
    extras: dict[str, Any] | None = None,
) -> ApiError:
    body: dict[str, Any] = {"errors": errors}
    if error_type:
        body["error_type"] = error_type
    if extras is not None:
        body["extras"] = extras
    return ApiError(status, body)


def not_found() -> ApiError:
    return json_error(404, [NOT_FOUND], "not_found")


def invalid_access(message: str = INVALID_ACCESS) -> ApiError:
    return json_error(403, [message], "invalid_access")


def not_logged_in() -> ApiError:
    return json_error(403, [NOT_LOGGED_IN], "not_logged_in")


def invalid_parameters(detail: str) -> ApiError:
    return json_error(400, [INVALID_PARAMS.format(detail)], "invalid_parameters")


def param_missing(name: str) -> ApiError:
    # ActionController::ParameterMissing → 400 invalid_parameters
    return json_error(
        400, [f"param is missing or the value is empty: {name}"], "invalid_parameters"
    )


def unprocessable(errors: list[str]) -> ApiError:
    """render_json_error(...) without a type: 422 {"errors": [...]}."""
    return json_error(422, errors)


def record_invalid(errors: list[str]) -> ApiError:
    return json_error(422, errors, "record_invalid")


def server_error() -> ApiError:
    return ApiError(500, {"status": 500, "error": "Internal Server Error"})
