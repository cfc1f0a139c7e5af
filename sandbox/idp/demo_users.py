"""Demo teachers of the sandbox identity providers: one list per demo organisation.

Other sandbox pieces (the demo rosters, browser tests) import these lists, so
the `sub` values are the stable link between an identity provider and its
organisation's roster. The `note` key is shown on the login page only; it is
not an OIDC claim.

`make run` runs two organisations (the two sources of config/demo/sources.yml),
each with its own identity provider: the institute's teachers are
`DEMO_USERS`, the Vyazma district methodological centre's are `VYAZMA_USERS`.
One teacher is listed by both, under her own `sub` in each and with the same
verified e-mail: she links her two listings by logging in through both.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The e-mail of the teacher both demo organisations list (t-1001 and v-2001).
SHARED_TEACHER_EMAIL = "ivanova.mp@teachers.example.org"

#: The institute's teachers.
DEMO_USERS: list[dict] = [
    {
        "sub": "t-1001",
        "name": "Иванова Мария Петровна",
        "given_name": "Мария",
        "family_name": "Иванова",
        "email": SHARED_TEACHER_EMAIL,
        "email_verified": True,
        "note": "участница клуба; есть и в списке Вяземского центра",
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

#: The Vyazma district methodological centre's teachers.
VYAZMA_USERS: list[dict] = [
    {
        "sub": "v-2001",
        "name": "Иванова Мария Петровна",
        "given_name": "Мария",
        "family_name": "Иванова",
        "email": SHARED_TEACHER_EMAIL,
        "email_verified": True,
        "note": "наставник; есть и в списке института",
    },
    {
        "sub": "v-2002",
        "name": "Орлова Татьяна Николаевна",
        "given_name": "Татьяна",
        "family_name": "Орлова",
        "email": "orlova.tn@teachers.example.org",
        "email_verified": True,
        "note": "педагог, только в списке Вяземского центра",
    },
    {
        "sub": "v-2003",
        "name": "Лебедев Павел Сергеевич",
        "given_name": "Павел",
        "family_name": "Лебедев",
        "email": "lebedev.ps@teachers.example.org",
        "email_verified": True,
        "note": "методист: администрирует список Вяземского центра",
    },
]

#: The `sub` of every demo teacher of the institute, in display order.
DEMO_SUBS: tuple[str, ...] = tuple(user["sub"] for user in DEMO_USERS)


@dataclass(frozen=True)
class DemoOrganisation:
    """A member organisation of the demo: the name its login pages show, its teachers."""

    code: str  # the source code in config/demo/sources.yml
    name: str
    users: list[dict]


DEMO_ORGANISATIONS: dict[str, DemoOrganisation] = {
    "institute": DemoOrganisation(
        "institute", "Смоленский областной институт развития образования", DEMO_USERS
    ),
    "vyazma": DemoOrganisation("vyazma", "Методический центр Вяземского района", VYAZMA_USERS),
}


def demo_user(sub: str) -> dict | None:
    """Return a copy of the demo teacher with this `sub` (of any organisation), or None."""
    for organisation in DEMO_ORGANISATIONS.values():
        for user in organisation.users:
            if user["sub"] == sub:
                return dict(user)
    return None
