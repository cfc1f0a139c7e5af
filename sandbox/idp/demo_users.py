"""Demo teachers of the sandbox identity provider.

Other sandbox pieces (the demo roster, browser tests) import this list, so the
`sub` values are the stable link between the identity provider and the roster.
The `note` key is shown on the login page only; it is not an OIDC claim.
"""

from __future__ import annotations

DEMO_USERS: list[dict] = [
    {
        "sub": "t-1001",
        "name": "Иванова Мария Петровна",
        "given_name": "Мария",
        "family_name": "Иванова",
        "email": "ivanova.mp@teachers.example.org",
        "email_verified": True,
        "note": "участница клуба",
    },
    {
        "sub": "t-1002",
        "name": "Смирнов Алексей Викторович",
        "given_name": "Алексей",
        "family_name": "Смирнов",
        "email": "smirnov.av@teachers.example.org",
        "email_verified": True,
        "note": "модератор клуба",
    },
    {
        "sub": "t-1003",
        "name": "Кузнецова Ольга Игоревна",
        "given_name": "Ольга",
        "family_name": "Кузнецова",
        "email": "kuznetsova.oi@teachers.example.org",
        "email_verified": True,
        "note": "участница клуба",
    },
    {
        "sub": "t-1004",
        "name": "Соколов Дмитрий Андреевич",
        "given_name": "Дмитрий",
        "family_name": "Соколов",
        "email": "sokolov.da@teachers.example.org",
        "email_verified": True,
        "note": "не состоит в клубе — увидит отказ",
    },
    {
        "sub": "t-1005",
        "name": "Ёлкина Юлия Сергеевна",
        "given_name": "Юлия",
        "family_name": "Ёлкина",
        "email": "yolkina.yus@teachers.example.org",
        "email_verified": True,
        "note": "участие в клубе приостановлено",
    },
]

#: The `sub` of every demo teacher, in display order.
DEMO_SUBS: tuple[str, ...] = tuple(user["sub"] for user in DEMO_USERS)


def demo_user(sub: str) -> dict | None:
    """Return a copy of the demo teacher with this `sub`, or None."""
    for user in DEMO_USERS:
        if user["sub"] == sub:
            return dict(user)
    return None
