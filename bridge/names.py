"""Discourse's rules for usernames and group names (REFERENCE §1, §4).

Group names go through the same validator as usernames, so one set of rules
serves both. Numbers are Discourse's defaults (`min_username_length` 3,
`max_username_length` 20, `reserved_usernames`), read from
`app/models/username_validator.rb` and `config/site_settings.yml`.
"""

from __future__ import annotations

import re

MIN_LENGTH = 3
MAX_LENGTH = 20

_INVALID_CHAR = re.compile(r"[^A-Za-z0-9_.-]")
_LEADING_OK = re.compile(r"\A[A-Za-z0-9_]")
_TRAILING_OK = re.compile(r"[A-Za-z0-9]\Z")
_DOUBLE_SPECIAL = re.compile(r"[-_.]{2,}")
#: Endings Discourse refuses, as they make a profile URL look like a file.
FILE_EXTENSIONS = tuple("js json css htm html xml jpg jpeg png gif bmp ico tif tiff woff".split())
CONFUSING_EXTENSIONS = re.compile(rf"\.({'|'.join(FILE_EXTENSIONS)})\Z", re.IGNORECASE)

#: Discourse's default `reserved_usernames` site setting.
RESERVED = frozenset(
    "admin moderator administrator mod sys system community info you name username user "
    "nickname discourse discourseorg discourseforum support".split()
)


def name_problems(name: str) -> list[str]:
    """Why Discourse would refuse `name` as a username or group name (empty: valid)."""
    problems = []
    if not MIN_LENGTH <= len(name) <= MAX_LENGTH:
        problems.append(f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long")
    if _INVALID_CHAR.search(name):
        problems.append("may only contain Latin letters, digits, '_', '.' and '-'")
    if name and not _LEADING_OK.match(name):
        problems.append("must start with a letter, a digit or '_'")
    if name and not _TRAILING_OK.search(name):
        problems.append("must end with a letter or a digit")
    if _DOUBLE_SPECIAL.search(name):
        problems.append("must not have two of '-', '_', '.' in a row")
    if CONFUSING_EXTENSIONS.search(name):
        problems.append("must not end like a file name (.json, .png, …)")
    if name.lower() in RESERVED:
        problems.append("is reserved by Discourse")
    return problems


def is_valid_name(name: str) -> bool:
    return not name_problems(name)


def sanitize(text: str, *, max_length: int = MAX_LENGTH) -> str:
    """Fit ASCII text to the rules the way Discourse's UserNameSuggester does.

    May return a string shorter than MIN_LENGTH; callers pad it.
    """
    name = CONFUSING_EXTENSIONS.sub("_", text)
    name = _INVALID_CHAR.sub("_", name)
    name = re.sub(r"^[^A-Za-z0-9_]+", "", name)
    name = _DOUBLE_SPECIAL.sub("_", name)
    name = name[:max_length]
    return re.sub(r"[^A-Za-z0-9]+$", "", name)
