"""What the institute sends: one event, checked for types and then for the domain's rules."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    field_validator,
    model_validator,
)

from bridge.versioned import NotNull, Version
from config.mapping import EventsConfig, RolesConfig

_URL = re.compile(r"\Ahttps?://[^\s/$.?#][^\s]*\Z", re.IGNORECASE)


def _text_only(value: Any) -> Any:
    """Times come as ISO 8601 text; numbers (epoch seconds) are refused."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time text with an offset")  # noqa: TRY004
    return value


def _within_the_calendar(value: datetime) -> datetime:
    """Years 1900-2200: any time in them converts to every zone (year 1 with +23:59 cannot)."""
    if not 1900 <= value.year <= 2200:
        raise ValueError("must be a date between the years 1900 and 2200")
    return value


IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_text_only),
                        AfterValidator(_within_the_calendar)]


class EventIn(BaseModel):
    """One event as the institute's system (or an iCalendar feed) sends it."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[StrictStr, Field(max_length=255)]
    kind: StrictStr
    starts_at: IsoDateTime
    ends_at: IsoDateTime | None = None  # none: a moment, not a span
    location: Annotated[StrictStr, Field(max_length=1000)] | None = None
    url: Annotated[StrictStr, Field(max_length=2000)] | None = None
    description: Annotated[StrictStr, Field(max_length=30000)] | None = None
    audience: list[StrictStr] = Field(default_factory=list, max_length=50)
    status: Literal["scheduled", "cancelled"] = "scheduled"
    version: Annotated[Version | None, NotNull] = None

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("location")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not _URL.match(value.strip()):
            raise ValueError("must be an http:// or https:// address")
        if "@" in urlsplit(value.strip()).netloc:
            # https://trusted.example@evil.example shows one host and opens another.
            raise ValueError("must not carry a user name or password before the host")
        return value.strip()

    @model_validator(mode="after")
    def _ends_after_start(self) -> EventIn:
        if self.ends_at is None:
            self.ends_at = self.starts_at
        if self.ends_at < self.starts_at:
            raise ValueError("ends_at must not be before starts_at")
        if self.description is None:
            self.description = ""
        return self

    def desired(self) -> dict[str, Any]:
        """The stored form: JSON types only, times as ISO 8601 with their offset."""
        return self.model_dump(mode="json", exclude={"version"})


def check_event(event: EventIn, config: EventsConfig, roles: RolesConfig) -> list[dict]:
    """Domain rules beyond types: a kind from events.yml, role codes from roles.yml."""
    problems = []
    if event.kind not in config.kinds:
        known = ", ".join(sorted(config.kinds))
        problems.append({"field": "kind", "message": f"unknown kind {event.kind!r} ({known})"})
    for code in event.audience:
        if code not in roles.roles:
            problems.append({"field": "audience", "message": f"unknown role code {code!r}"})
    return problems
