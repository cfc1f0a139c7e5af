"""The members page finds members by name, e-mail or id: case-insensitive, bounded, unlogged."""

from __future__ import annotations

import logging
import re

import pytest

from bridge.member_search import find_members, normalized
from tests.support.admin import text

TEACHERS = {
    "t-1": ("Иванова Мария Петровна", "ivanova.mp@school1.example.org", True),
    "t-2": ("Ёлкина Юлия Сергеевна", "yolkina@school2.example.org", False),
    "t-3": ("Смирнов Алексей Викторович", "smirnov@school1.example.org", True),
    "x.4": ("Петров Иван", "petrov@gymnasium.example.org", True),
}


@pytest.fixture
def roster(services):
    for external_id, (name, email, active) in TEACHERS.items():
        desired = {"name": name, "email": email, "roles": ["participant"], "active": active}
        services.members.accept(external_id, desired, version=1)
    return services


def found_ids(html: str) -> list[str]:
    return re.findall(r'<td class="id">([^<]+)</td>', html)


@pytest.mark.parametrize(("query", "expected"), [
    ("иванова", ["t-1"]),  # any case
    ("ИВАН", ["t-1", "x.4"]),  # Иванова and Петров Иван, sorted by name
    ("елкина", ["t-2"]),  # «ё» typed as «е»
    ("  мария   петровна ", ["t-1"]),  # spaces as people type them
    ("SCHOOL1.example", ["t-1", "t-3"]),  # part of an e-mail
    ("t-", ["t-2", "t-1", "t-3"]),  # part of an id; by name, «Ё» sorted as «Е»
    ("гимназия", []),
])
def test_search_by_name_email_or_id(roster, query, expected):
    search = find_members(roster.redis, query)
    assert [found.external_id for found in search.matches] == expected
    assert search.total == len(expected)
    assert search.read == len(TEACHERS)
    assert not search.cut_short


def test_inactive_members_are_found_and_marked(roster):
    [yolkina] = find_members(roster.redis, "Ёлкина").matches
    assert (yolkina.name, yolkina.active) == ("Ёлкина Юлия Сергеевна", False)


def test_the_work_is_capped_and_the_result_says_so(roster):
    search = find_members(roster.redis, "example.org", scan_cap=2, limit=1)
    assert search.read == 2
    assert search.cut_short
    assert search.total <= 2
    assert len(search.matches) == 1


def test_normalized_folds_case_yo_and_spaces():
    assert normalized("  ЁЛКИНА\tЮлия ") == "елкина юлия"


def test_a_known_id_opens_the_member_page(admin_client, roster):
    response = admin_client.get("/admin/members?q=+t-3+")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/members/t-3"
    legacy = admin_client.get("/admin/members?external_id=t-3")  # the old form's field
    assert legacy.headers["Location"] == "/admin/members/t-3"


def test_the_page_lists_matches_with_links(admin_client, roster):
    html = text(admin_client.get("/admin/members?q=school1"))
    assert found_ids(html) == ["t-1", "t-3"]
    assert 'href="/admin/members/t-1"' in html
    assert "Иванова Мария Петровна" in html
    assert re.search(r'data-metric="found">2<', html)
    assert 'value="school1"' in html  # the query stays in the box


def test_nothing_found_says_how_search_works(admin_client, roster):
    html = text(admin_client.get("/admin/members?q=Сидоров"))
    assert 'data-search-result="none"' in html
    assert "«ё» и «е» не различаются" in html


@pytest.mark.parametrize("query", ["", "а", "я" * 101])
def test_too_short_or_too_long_goes_back_with_a_message(admin_client, roster, query):
    response = admin_client.get("/admin/members", query_string={"q": query},
                                follow_redirects=True)
    assert "Для поиска введите от 2 до 100 символов" in text(response)


def test_the_query_is_never_logged(admin_client, roster, caplog):
    caplog.set_level(logging.INFO)
    admin_client.get("/admin/members?q=ivanova.mp@school1")
    admin_client.get("/admin/members?q=Иванова")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "member search" in logged
    assert "ivanova" not in logged.lower()
    assert "Иванова" not in logged
