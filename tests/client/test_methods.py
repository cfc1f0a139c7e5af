"""Every DiscourseClient method against the sandbox Discourse, over real HTTP.

Each test ends by checking that the sandbox found no request (and no answer)
outside Discourse's OpenAPI document.
"""

from __future__ import annotations

import pytest
import requests

from bridge import discourse_connect
from tests.conftest import API_KEY, CONNECT_SECRET

from .helpers import assert_spec_clean

MEMBERS_ENDPOINT = "PUT /groups/{group_id}/members.json"


def people(count: int, prefix: str = "m") -> list[dict]:
    return [
        {
            "username": f"{prefix}{i:04d}",
            "email": f"{prefix}{i:04d}@example.org",
            "name": f"Member {i}",
            "external_id": f"{prefix}-ext-{i}",
        }
        for i in range(count)
    ]


def calls(sandbox, endpoint: str) -> int:
    return sandbox.stats()["by_endpoint"].get(endpoint, 0)


# --- users -----------------------------------------------------------------------------
# "~" at this offset of the encoded payload makes its base64 text contain a "+"
PLUS_PAYLOAD = {
    "external_id": "ext-plus-1",
    "email": "plus@example.org",
    "name": "Iva~Petrov",
    "username": "plus_user",
}


def test_sync_sso_payload_with_plus_in_base64(sandbox, discourse):
    sso, _ = discourse_connect.sign(PLUS_PAYLOAD, CONNECT_SECRET)
    assert "+" in sso  # the point of this payload

    user = discourse.sync_sso(PLUS_PAYLOAD)

    assert user["username"] == "plus_user"
    assert user["email"] == "plus@example.org"
    assert user["name"] == "Iva~Petrov"
    # the sandbox saw the base64 text byte for byte: the "+" was not read as a space
    assert user["single_sign_on_record"]["last_payload"] == sso
    assert sandbox.user("plus_user")["external_id"] == "ext-plus-1"
    assert_spec_clean(sandbox)


def test_sync_sso_unescaped_plus_would_be_refused(sandbox):
    """Control: the same payload with its "+" left raw in the form body fails."""
    sso, sig = discourse_connect.sign(PLUS_PAYLOAD, CONNECT_SECRET)
    response = requests.post(
        sandbox.url + "/admin/users/sync_sso",
        data=f"sso={sso}&sig={sig}",
        headers={
            "Api-Key": API_KEY,
            "Api-Username": "system",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=5,
    )
    assert response.status_code == 422
    assert sandbox.user("plus_user") is None


def test_sync_sso_updates_flags_and_groups(sandbox, discourse):
    sandbox.seed(groups=[{"name": "winners"}])
    payload = {
        "external_id": "ext-7",
        "email": "olga@example.org",
        "name": "Olga",
        "username": "olga",
        "moderator": True,
        "add_groups": ["winners"],
    }
    first = discourse.sync_sso(payload)
    again = discourse.sync_sso({**payload, "moderator": False, "add_groups": None})

    assert first["id"] == again["id"]
    assert first["moderator"] is True
    assert again["moderator"] is False
    assert sandbox.user("olga")["groups"] == ["winners"]
    assert_spec_clean(sandbox)


def test_user_by_external_id(sandbox, discourse):
    ids = sandbox.seed(users=people(2))["users"]

    found = discourse.user_by_external_id("m-ext-1")
    assert found["id"] == ids["m0001"]
    assert found["username"] == "m0001"
    assert discourse.user_by_external_id("nobody-here") is None
    assert_spec_clean(sandbox)


def test_user_by_external_id_quotes_the_segment(sandbox, discourse):
    sandbox.seed(users=[{**people(1)[0], "external_id": "id with space"}])
    assert discourse.user_by_external_id("id with space")["username"] == "m0000"
    assert_spec_clean(sandbox)


def test_staff_users(sandbox, discourse):
    sandbox.seed(
        users=[
            {**people(1, "adm")[0], "admin": True},
            {**people(1, "mod")[0], "moderator": True},
            *people(3),
        ]
    )
    staff = {u["username"] for u in discourse.staff_users()}
    assert {"adm0000", "mod0000"} <= staff
    assert not staff & {"m0000", "m0001", "m0002"}
    assert_spec_clean(sandbox)


def test_active_users_with_emails_reads_every_page(sandbox, discourse):
    count = 237  # Discourse lists 100 users a page
    sandbox.seed(users=people(count) + [{**people(1, "off")[0], "active": False}])

    users = discourse.active_users_with_emails()

    emails = {u["email"] for u in users}
    assert {f"m{i:04d}@example.org" for i in range(count)} <= emails
    assert "off0000@example.org" not in emails
    assert len(users) == len({u["id"] for u in users})  # no page read twice
    assert calls(sandbox, "GET /admin/users/list/{flag}.json") == 3
    assert_spec_clean(sandbox)


def test_log_out(sandbox, discourse):
    ids = sandbox.seed(users=people(1))["users"]
    discourse.log_out(ids["m0000"])
    assert sandbox.user("m0000")["logged_out_count"] == 1
    assert_spec_clean(sandbox)


def test_anonymize(sandbox, discourse):
    ids = sandbox.seed(users=people(1))["users"]
    new_name = discourse.anonymize(ids["m0000"])
    assert new_name.startswith("anon")
    user = sandbox.user(new_name)
    assert user["anonymized"] is True
    assert user["external_id"] is None
    assert sandbox.user("m0000") is None
    assert_spec_clean(sandbox)


# --- groups ----------------------------------------------------------------------------
def test_create_group_and_read_it(sandbox, discourse):
    created = discourse.create_group(name="laureates", full_name="Laureates", visibility_level=1)
    assert created["name"] == "laureates"

    group = discourse.group("laureates")
    assert group["id"] == created["id"]
    assert group["full_name"] == "Laureates"
    assert discourse.group("no-such-group") is None
    assert discourse.group_members("laureates") == []
    assert_spec_clean(sandbox)


def test_group_members_pages_past_1000(sandbox, discourse):
    count = 1001  # Discourse's largest page is 1000
    crowd = people(count)
    sandbox.seed(
        users=crowd,
        groups=[{"name": "crowd"}],
        memberships={"crowd": [p["username"] for p in crowd]},
    )

    members = discourse.group_members("crowd")

    assert len(members) == count
    assert {m["username"] for m in members} == {p["username"] for p in crowd}
    assert calls(sandbox, "GET /groups/{name}/members.json") == 2
    assert_spec_clean(sandbox)


def test_add_members_in_batches_of_1000(sandbox, discourse):
    crowd = people(1500)
    group_id = sandbox.seed(users=crowd, groups=[{"name": "crowd"}])["groups"]["crowd"]
    names = [p["username"] for p in crowd]

    added = discourse.add_members(group_id, usernames=names)

    assert sorted(added) == names
    assert calls(sandbox, MEMBERS_ENDPOINT) == 2  # at most 1000 a call
    assert sandbox.group_members("crowd") == set(names)
    assert_spec_clean(sandbox)


def test_add_members_already_members_and_unknown_are_not_errors(sandbox, discourse):
    crowd = people(3)
    group_id = sandbox.seed(
        users=crowd,
        groups=[{"name": "club"}],
        memberships={"club": ["m0000", "m0001"]},
    )["groups"]["club"]

    assert discourse.add_members(group_id, usernames=["m0000", "m0001"]) == []  # 422
    assert discourse.add_members(group_id, usernames=["ghost1", "ghost2"]) == []  # 400
    assert discourse.add_members(group_id, usernames=["m0002", "ghost3"]) == ["m0002"]
    assert discourse.add_members(group_id, emails=["m0000@example.org"]) == []
    assert sandbox.group_members("club") == {"m0000", "m0001", "m0002"}
    assert_spec_clean(sandbox)


def test_add_members_by_email(sandbox, discourse):
    group_id = sandbox.seed(users=people(2), groups=[{"name": "club"}])["groups"]["club"]
    added = discourse.add_members(group_id, emails=["m0001@example.org"])
    assert added == ["m0001"]
    assert sandbox.group_members("club") == {"m0001"}
    assert_spec_clean(sandbox)


def test_remove_members(sandbox, discourse):
    group_id = sandbox.seed(
        users=people(3),
        groups=[{"name": "club"}],
        memberships={"club": ["m0000", "m0001", "m0002"]},
    )["groups"]["club"]

    removed = discourse.remove_members(group_id, usernames=["m0000", "m0002", "ghost"])
    assert sorted(removed) == ["m0000", "m0002"]
    assert discourse.remove_members(group_id, usernames=["ghost"]) == []  # 400: none exist
    assert sandbox.group_members("club") == {"m0001"}
    assert_spec_clean(sandbox)


def test_members_by_user_id(sandbox, discourse):
    seeded = sandbox.seed(users=people(3), groups=[{"name": "club"}])
    group_id = seeded["groups"]["club"]
    ids = {u["username"]: u["id"] for u in sandbox.state()["users"]}

    assert discourse.add_members(group_id, user_ids=[ids["m0000"], ids["m0002"]]) == [
        "m0000", "m0002"]
    assert sandbox.group_members("club") == {"m0000", "m0002"}
    assert discourse.remove_members(group_id, user_ids=[ids["m0000"]]) == ["m0000"]
    assert sandbox.group_members("club") == {"m0002"}
    assert_spec_clean(sandbox)


def test_group_index_counts_members_36_groups_a_page(sandbox, discourse):
    sandbox.seed(users=people(2), groups=[{"name": f"g{i:02d}"} for i in range(40)],
                 memberships={"g07": ["m0000", "m0001"]})

    groups = discourse.group_index()

    assert len(groups) == 40  # automatic groups are not asked for
    assert {g["name"]: g["user_count"] for g in groups}["g07"] == 2
    assert calls(sandbox, "GET /groups.json") == 2
    assert_spec_clean(sandbox)


def test_one_account_read_by_id_carries_its_external_id(sandbox, discourse):
    sandbox.seed(users=[{"username": "petrov", "email": "p@example.org", "external_id": "t-9"}])
    user_id = next(u["id"] for u in sandbox.state()["users"] if u["username"] == "petrov")

    user = discourse.user(user_id)

    assert user["single_sign_on_record"]["external_id"] == "t-9"
    assert discourse.user(999_999) is None
    assert_spec_clean(sandbox)


# --- categories ------------------------------------------------------------------------
def test_categories_and_create_category(sandbox, discourse):
    created = discourse.create_category(
        name="Events", slug="events", color="0088CC", text_color="FFFFFF"
    )
    assert created["slug"] == "events"

    listed = {c["id"]: c for c in discourse.categories()}
    assert listed[created["id"]]["name"] == "Events"
    assert_spec_clean(sandbox)


# --- topics and posts ------------------------------------------------------------------
@pytest.fixture
def category_id(sandbox):
    return sandbox.seed(categories=[{"name": "Events"}, {"name": "Archive"}])["categories"]


def test_topic_lifecycle(sandbox, discourse, category_id):
    events, archive = category_id["Events"], category_id["Archive"]
    post = discourse.create_topic(
        title="Regional final 2025",
        raw="The regional final takes place on 1 June.",
        category_id=events,
        external_id="event-42",
        tags=["final", "region"],
    )
    topic_id = post["topic_id"]

    # GET /t/external_id/… answers 301; the client follows it by hand
    topic = discourse.topic_by_external_id("event-42")
    assert topic["id"] == topic_id
    assert topic["title"] == "Regional final 2025"
    assert sorted(t["name"] for t in topic["tags"]) == ["final", "region"]
    assert calls(sandbox, "GET /t/external_id/{external_id}.json") == 1
    assert discourse.topic_by_external_id("event-404") is None
    assert discourse.topic(topic_id)["title"] == "Regional final 2025"
    assert discourse.topic(999_999) is None

    assert discourse.post(post["id"])["raw"] == "The regional final takes place on 1 June."
    assert discourse.post(999_999) is None

    edited = discourse.edit_post(
        post["id"],
        raw="The regional final moves to 8 June, same place.",
        edit_reason="new date",
        title="Regional final 2025 (new date)",
        category_id=archive,
    )
    assert edited["raw"] == "The regional final moves to 8 June, same place."
    state = next(t for t in sandbox.state()["topics"] if t["id"] == topic_id)
    assert state["title"] == "Regional final 2025 (new date)"
    assert state["category_id"] == archive
    assert state["edit_reasons"] == ["new date"]

    updated = discourse.update_topic(
        topic_id, title="Regional final 2025, 8 June", category_id=events, tags=["final"]
    )
    assert updated["basic_topic"]["title"] == "Regional final 2025, 8 June"
    state = next(t for t in sandbox.state()["topics"] if t["id"] == topic_id)
    assert (state["category_id"], state["tags"]) == (events, ["final"])

    discourse.set_topic_status(topic_id, status="closed", enabled=True)
    discourse.set_topic_status(topic_id, status="visible", enabled=False)
    state = next(t for t in sandbox.state()["topics"] if t["id"] == topic_id)
    assert (state["closed"], state["visible"]) == (True, False)
    discourse.set_topic_status(topic_id, status="closed", enabled=False)
    state = next(t for t in sandbox.state()["topics"] if t["id"] == topic_id)
    assert state["closed"] is False

    discourse.delete_topic(topic_id)
    assert next(t for t in sandbox.state()["topics"] if t["id"] == topic_id)["deleted"]
    assert discourse.topic_by_external_id("event-42") is None
    assert discourse.topic(topic_id) is None  # staff see it, with deleted_at set
    assert_spec_clean(sandbox)


# --- site ------------------------------------------------------------------------------
def test_site_settings(sandbox, discourse):
    settings = discourse.site_settings("discourse_connect")
    assert settings["enable_discourse_connect"] == "true"
    assert settings["discourse_connect_overrides_groups"] == "false"
    assert "allow_duplicate_topic_titles" not in settings
    assert_spec_clean(sandbox)
