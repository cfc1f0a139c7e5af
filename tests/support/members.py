"""Members as the institute sends them: one body, a roster of many, the demo teachers."""

from __future__ import annotations

import pytest

DISTRICTS = ["Вяземский район", "Гагаринский район", "город Смоленск"]
ROLES = ["winner", "laureate", "participant", "jury"]


def member_body(name="Иванова Мария Петровна", email="ivanova@example.org", roles=("winner",),
                district="Вяземский район", **extra):
    body = {"email": email, "name": name, "roles": list(roles),
            "attributes": {"district": district} if district else {}}
    body.update(extra)
    return body


def roster(n=30, *, skip=(), role_of=None):
    """The rows of a roster of `n` teachers `t-0`…, roles and districts in turn."""
    rows = []
    for i in range(n):
        if i in skip:
            continue
        role = (role_of or {}).get(i, ROLES[i % len(ROLES)])
        rows.append({
            "external_id": f"t-{i}",
            "email": f"teacher{i}@example.org",
            "name": f"Учитель{i} Мария Петровна",
            "roles": [role],
            "attributes": {"district": DISTRICTS[i % len(DISTRICTS)]},
        })
    return rows


#: Desired state of the demo teachers (sandbox/idp/demo_users.py) as the institute sends it.
DEMO_MEMBERS = {
    "t-1001": {
        "email": "ivanova.mp@teachers.example.org",
        "name": "Иванова Мария Петровна",
        "roles": ["participant"],
        "attributes": {"district": "Вяземский район"},
        "active": True,
    },
    "t-1002": {
        "email": "smirnov.av@teachers.example.org",
        "name": "Смирнов Алексей Викторович",
        "roles": ["moderator"],
        "attributes": {},
        "active": True,
    },
    "t-1003": {
        "email": "kuznetsova.oi@teachers.example.org",
        "name": "Кузнецова Ольга Игоревна",
        "roles": ["winner"],
        "attributes": {"district": "город Смоленск"},
        "active": True,
    },
    "t-1005": {
        "email": "yolkina.yus@teachers.example.org",
        "name": "Ёлкина Юлия Сергеевна",
        "roles": ["participant"],
        "attributes": {},
        "active": False,
    },
}


@pytest.fixture
def members(services):
    """Put the demo teachers in the roster; returns a function to change one later."""
    for external_id, desired in DEMO_MEMBERS.items():
        services.members.accept(external_id, desired, version=1)

    def change(external_id: str, version: int, **fields):
        desired = {**DEMO_MEMBERS[external_id], **fields}
        assert services.members.accept(external_id, desired, version=version).stored

    return change
