import pytest


@pytest.fixture
def forum(sandbox, services):
    """The sandbox with the managed groups created, as `discourse setup` leaves it."""
    services.member_sync().setup_groups()
    return sandbox


def member_body(name="Иванова Мария Петровна", email="ivanova@example.org", roles=("winner",),
                district="Вяземский район", **extra):
    body = {"email": email, "name": name, "roles": list(roles),
            "attributes": {"district": district} if district else {}}
    body.update(extra)
    return body


def seed_accounts(sandbox, *accounts):
    """Forum accounts that exist already, as (external_id, username, email)."""
    sandbox.seed(users=[{"username": u, "email": e, "name": u, "external_id": x}
                        for x, u, e in accounts])


def writes(sandbox) -> int:
    return sandbox.stats()["writes"]
