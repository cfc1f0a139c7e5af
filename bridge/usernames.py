"""Forum usernames derived from Cyrillic full names.

Transliteration is ICAO Doc 9303 (the system of Russian passports since 2013),
through the maintained `iuliia` library, so "Ёлкина Юлия Сергеевна" becomes
"elkina_is" (ICAO writes Ё as "e" and Ю as "iu"). The institute's names come
as "Фамилия Имя Отчество": the username is the surname and the initials,
fitted to Discourse's rules. A
collision gets a suffix derived from the member's external id, so the result
does not depend on the order in which members arrive; once assigned (see
`MemberStore.assign_username`) a username never changes.
"""

from __future__ import annotations

import hashlib
import re

import iuliia

from bridge import names

_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*", re.UNICODE)


def transliterate(text: str) -> str:
    return iuliia.ICAO_DOC_9303.translate(text)


def base_username(full_name: str, *, fallback: str) -> str:
    """The preferred username for `full_name` (not yet checked for collisions)."""
    words = _WORD.findall(transliterate(full_name or ""))
    if words:
        surname, given = words[0], words[1:3]
        candidate = surname + ("_" + "".join(w[0] for w in given) if given else "")
    else:
        candidate = transliterate(fallback)
    candidate = names.sanitize(candidate.lower().replace("'", ""))
    if len(candidate) < names.MIN_LENGTH:
        candidate = names.sanitize(f"user_{candidate or _digest(fallback, 6)}")
    if names.name_problems(candidate):  # e.g. a reserved word such as "admin"
        candidate = names.sanitize(f"{candidate}_{_digest(fallback, 3)}")
    return candidate


def candidates(full_name: str, external_id: str) -> list[str]:
    """Usernames to try in order: the base, then ones with a stable suffix."""
    base = base_username(full_name, fallback=external_id)
    options = [base]
    for width in (2, 3, 4, 6, 8):
        suffix = _digest(external_id, width)
        stem = names.sanitize(base[: names.MAX_LENGTH - width - 1])
        options.append(f"{stem}_{suffix}" if stem else f"u_{suffix}")
    return [option for option in options if names.is_valid_name(option)]


def _digest(text: str, width: int) -> str:
    number = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return str(number % 10**width).zfill(width)
