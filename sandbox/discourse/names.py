"""Username rules (app/models/username_validator.rb, REFERENCE §1) and slugs."""

from __future__ import annotations

import re
import unicodedata

MIN_LENGTH = 3
MAX_LENGTH = 20
RESERVED = frozenset(
    "admin moderator administrator mod sys system community info you name username user "
    "nickname discourse discourseorg discourseforum support".split()
)
_CONFUSING_EXT = re.compile(
    r"\.(js|json|css|htm|html|xml|jpg|jpeg|png|gif|bmp|ico|tif|tiff|woff|woff2)\Z", re.I
)
_ALLOWED = re.compile(r"\A[A-Za-z0-9_.-]+\Z")


def username_errors(name: str, attr: str = "Username") -> list[str]:
    """Errors of UsernameValidator for an ASCII site (unicode_usernames false)."""
    errors: list[str] = []
    if not name:
        return [f"{attr} can't be blank"]
    if len(name) < MIN_LENGTH:
        errors.append(f"{attr} must be at least {MIN_LENGTH} characters")
    if len(name) > MAX_LENGTH:
        errors.append(f"{attr} must be no more than {MAX_LENGTH} characters")
    if not _ALLOWED.match(name):
        errors.append(f"{attr} must only include numbers, letters, dashes, dots, and underscores")
    elif not (name[0].isalnum() or name[0] == "_"):
        errors.append(f"{attr} must begin with a letter, a number or an underscore")
    elif not name[-1].isalnum():
        errors.append(f"{attr} must end with a letter or a number")
    elif re.search(r"[-_.]{2,}", name):
        errors.append(f"{attr} must not contain a sequence of 2 or more special chars (.-_)")
    elif _CONFUSING_EXT.search(name):
        errors.append(f"{attr} must not end with a confusing suffix like .json or .png etc.")
    return errors


def sanitize(raw: str) -> str:
    """UserNameSuggester.sanitize_username for an ASCII site."""
    text = unicodedata.normalize("NFKD", raw or "")
    text = text.encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w.-]", "_", text)
    text = re.sub(r"[-_.]{2,}", lambda m: m.group(0)[0], text)
    text = re.sub(r"\A[^A-Za-z0-9_]+", "", text)
    text = re.sub(r"[^A-Za-z0-9]+\Z", "", text)
    text = _CONFUSING_EXT.sub("_", text)
    text = text[:MAX_LENGTH]
    text = re.sub(r"[^A-Za-z0-9]+\Z", "", text)
    return text


def suggest(candidates: list[str | None], taken: callable) -> str:
    """First usable candidate, made unique with a numeric suffix."""
    base = ""
    for candidate in candidates:
        if candidate:
            base = sanitize(candidate.split("@")[0] if "@" in candidate else candidate)
            if base:
                break
    if not base:
        base = "user"
    if len(base) < MIN_LENGTH:
        base = base + "1" * (MIN_LENGTH - len(base))
    if not taken(base) and base.lower() not in RESERVED:
        return base
    suffix = 1
    while True:
        tail = str(suffix)
        stem = base[: MAX_LENGTH - len(tail)]
        stem = re.sub(r"[^A-Za-z0-9]+\Z", "", stem) or "user"
        candidate = stem + tail
        if not taken(candidate) and candidate.lower() not in RESERVED:
            return candidate
        suffix += 1


def slugify(title: str) -> str:
    """Slug.for with slug_generation_method 'ascii': non-ASCII titles give ''."""
    text = unicodedata.normalize("NFKD", title or "")
    text = text.encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text[:255]


def topic_slug(title: str) -> str:
    return slugify(title) or "topic"
