"""Discourse username rules (bridge/names.py) and usernames from Cyrillic names
(bridge/usernames.py). Pure functions: no network."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import names, usernames

# --- names.name_problems / is_valid_name -----------------------------------------------
VALID = ["abc", "anna", "a_b.c-d", "_anna", "Anna2", "x" * 20, "ivanova-petrova_am", "123"]
INVALID = {
    "ab": "3 to 20",
    "x" * 21: "3 to 20",
    "": "3 to 20",
    "anna smith": "Latin letters",
    "аnna": "Latin letters",  # Cyrillic "а"
    "anna@club": "Latin letters",
    ".anna": "must start",
    "-anna": "must start",
    "anna_": "must end",
    "anna.": "must end",
    "an__na": "two of",
    "an.-na": "two of",
    "anna.json": "file name",
    "anna.PNG": "file name",
    "anna.html": "file name",
    "admin": "reserved",
    "System": "reserved",
    "discourse": "reserved",
}


@pytest.mark.parametrize("name", VALID)
def test_valid_names(name):
    assert names.name_problems(name) == []
    assert names.is_valid_name(name)


@pytest.mark.parametrize(("name", "problem"), INVALID.items())
def test_invalid_names_say_why(name, problem):
    problems = names.name_problems(name)
    assert any(problem in p for p in problems), problems
    assert not names.is_valid_name(name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("anna smith", "anna_smith"),
        ("__a..b--c__", "_a_b_c"),
        (".-anna", "anna"),
        ("anna.json", "anna"),
        ("x" * 25, "x" * 20),
        ("abcdefghijklmnopqrs.tuv", "abcdefghijklmnopqrs"),  # no trailing "." after the cut
    ],
)
def test_sanitize(text, expected):
    assert names.sanitize(text) == expected


def test_sanitize_respects_max_length():
    assert names.sanitize("abcdefghij", max_length=4) == "abcd"


# --- usernames -------------------------------------------------------------------------
def test_elkina_example():
    # ICAO Doc 9303 writes Ё as "e" and Ю as "iu" ("Iuliia"), so the initials are I and S.
    # ("elkina_ys" would need Ю → "yu", as in MVD 782 or Wikipedia's system, not ICAO.)
    assert usernames.base_username("Ёлкина Юлия Сергеевна", fallback="x-1") == "elkina_is"


@pytest.mark.parametrize(
    ("full_name", "expected"),
    [
        ("Щукин Иван", "shchukin_i"),  # ICAO: Щ → shch
        ("Ёлкина Мария Сергеевна", "elkina_ms"),  # Ё → e; surname + two initials
        ("Жуков Харитон", "zhukov_k"),  # Ж → zh, Х → kh
        ("Цой Виктор", "tsoi_v"),  # Ц → ts, Й → i
        ("Кузьмина Ирина", "kuzmina_i"),  # Ь is dropped
        ("Иванова-Петрова Анна Мария Ивановна", "ivanova-petrova_am"),  # at most 2 initials
        ("О'Брайен Шон", "obraien_s"),  # apostrophe dropped
        ("Сидоров", "sidorov"),  # surname only
    ],
)
def test_base_username_is_icao_surname_and_initials(full_name, expected):
    assert usernames.base_username(full_name, fallback="ext-1") == expected


def test_transliteration_is_icao_doc_9303():
    assert usernames.transliterate("Щукин Юлия Ёж Цой") == "Shchukin Iuliia Ezh Tsoi"


def test_short_names_are_padded():
    name = usernames.base_username("Ли", fallback="ext-1")
    assert name == "user_li"
    assert names.is_valid_name(name)


def test_reserved_names_get_a_stable_suffix():
    name = usernames.base_username("Админ", fallback="ext-1")
    assert name != "admin"
    assert name.startswith("admin_")
    assert names.is_valid_name(name)
    assert name == usernames.base_username("Admin", fallback="ext-1")


def test_too_long_names_are_cut_to_a_valid_name():
    name = usernames.base_username("Константинопольская-Старовойтова Анна", fallback="ext-1")
    assert len(name) <= names.MAX_LENGTH
    assert name.startswith("konstantinopol")
    assert names.is_valid_name(name)


@pytest.mark.parametrize("full_name", ["", "   ", "123 456", "!!!"])
def test_no_usable_words_falls_back_to_the_external_id(full_name):
    name = usernames.base_username(full_name, fallback="member-8812")
    assert names.is_valid_name(name)
    assert "8812" in name


def test_candidates_are_deterministic_and_order_free():
    first = usernames.candidates("Щукин Иван", "ext-1")
    usernames.candidates("Щукин Иван", "ext-2")
    usernames.candidates("Петров Пётр", "ext-1")
    assert usernames.candidates("Щукин Иван", "ext-1") == first


@pytest.mark.parametrize(
    "full_name",
    [
        "Щукин Иван",
        "Ёлкина Юлия Сергеевна",
        "Ли",
        "Админ",
        "",
        "Константинопольская Анна",
        "李小龍",  # letters, but none that ICAO knows
    ],
)
def test_candidates_are_valid_distinct_and_start_with_the_base(full_name):
    options = usernames.candidates(full_name, "ext-77")
    assert options[0] == usernames.base_username(full_name, fallback="ext-77")
    assert len(options) >= 4
    assert len(set(options)) == len(options)
    assert all(names.is_valid_name(o) for o in options)


def test_namesakes_get_different_fallbacks():
    """Two Ivan Shchukins share the base name, but not the suffixed candidates."""
    one = usernames.candidates("Щукин Иван", "ext-1")
    two = usernames.candidates("Щукин Иван", "ext-2")
    assert one[0] == two[0] == "shchukin_i"
    assert not set(one[1:]) & set(two[1:])


# --- property --------------------------------------------------------------------------
CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
full_names = st.text() | st.text(alphabet=CYRILLIC + " -'._0123456789aZ", max_size=80)


@settings(max_examples=300, deadline=None)
@given(full_name=full_names, external_id=st.text())
def test_every_candidate_is_a_valid_discourse_name(full_name, external_id):
    options = usernames.candidates(full_name, external_id)
    assert options
    assert all(names.is_valid_name(o) for o in options), options
    assert len(set(options)) == len(options)
