"""The admin pages of a federation: each source's administrators see and manage their own.

Two sources share the forum, as in config/demo/sources.yml: the institute (bare
legacy ids; its `administrator` role administers every source) and the Vyazma
centre (ids `vyazma:X`; its `methodist` role administers it alone).
"""

from __future__ import annotations

import io
import re
import secrets

import pytest

from bridge.events import EventIn, EventStore
from config import load_config
from tests.conftest import API_TOKEN, ROOT
from tests.support.admin import csrf_of, login, page_csrf, text
from tests.support.members import member_body
from workers.queue import queue

VYAZMA_TOKEN = "vyazma-token-" + secrets.token_hex(16)
VYAZMA = "Методический центр Вяземского района"
INSTITUTE = "Смоленский областной институт развития образования"

SOURCES_YML = f"""
federation_admin_roles: [institute:administrator]
sources:
  institute:
    name: {INSTITUTE}
    issuer: http://127.0.0.1:9
    client_id: bridge
    client_secret_env: OIDC_INSTITUTE_CLIENT_SECRET
    roles: {ROOT / "config" / "roles.yml"}
    events: {ROOT / "config" / "events.yml"}
    tokens: [institute]
    admin_roles: [administrator]
    legacy_ids: true
  vyazma:
    name: {VYAZMA}
    issuer: http://127.0.0.1:8
    client_id: bridge
    client_secret_env: OIDC_VYAZMA_CLIENT_SECRET
    roles: {ROOT / "config" / "demo" / "roles-vyazma.yml"}
    events: {ROOT / "config" / "demo" / "events-vyazma.yml"}
    tokens: [vyazma]
    admin_roles: [methodist]
"""


@pytest.fixture
def environ(environ, tmp_path, request):
    """Two sources; `single` (indirect parametrization) keeps the one-source bridge."""
    if getattr(request, "param", "two") == "single":
        return environ
    (tmp_path / "sources.yml").write_text(SOURCES_YML, encoding="utf-8")
    federated = {key: value for key, value in environ.items() if not key.startswith("OIDC_")}
    return {
        **federated,
        "BRIDGE_CONFIG_DIR": str(tmp_path),
        "BRIDGE_API_TOKENS": f"institute:{API_TOKEN},vyazma:{VYAZMA_TOKEN}",
        "OIDC_INSTITUTE_CLIENT_SECRET": secrets.token_hex(16),
        "OIDC_VYAZMA_CLIENT_SECRET": secrets.token_hex(16),
    }


@pytest.fixture
def app_config(environ):
    return load_config(environ)


INSTITUTE_AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
VYAZMA_AUTH = {"Authorization": f"Bearer {VYAZMA_TOKEN}"}


def put_member(client, auth, local_id, **body):
    response = client.put(f"/api/v1/members/{local_id}", json=member_body(**body), headers=auth)
    assert response.status_code == 202, response.get_data(as_text=True)


@pytest.fixture
def people(client, services):
    """Both sources' members; a methodist and an administrator among them."""
    put_member(client, INSTITUTE_AUTH, "i-1", name="Иванова Мария", email="i1@example.org")
    put_member(client, INSTITUTE_AUTH, "boss", name="Орлов Павел", email="boss@example.org",
               roles=["administrator"])
    put_member(client, VYAZMA_AUTH, "v-1", name="Иванова Анна", email="v1@example.org",
               roles=["teacher"], district=None)
    put_member(client, VYAZMA_AUTH, "metod", name="Петрова Ольга", email="metod@example.org",
               roles=["methodist"], district=None)
    assert set(services.members.all_ids()) == {"i-1", "boss", "vyazma:v-1", "vyazma:metod"}


def sign_in(client, forum_id):
    """A bridge session from the OIDC login, as /auth/admin leaves it."""
    with client.session_transaction() as session:
        session["external_id"] = forum_id


@pytest.fixture
def methodist(client, people):
    sign_in(client, "vyazma:metod")
    return client


@pytest.fixture
def federation_admin(client, people):
    sign_in(client, "boss")
    return client


def metric(html: str, name: str) -> str:
    found = re.search(rf'data-metric="{name}">(.*?)</', html, re.S)
    assert found, f"no metric {name}"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def failed_jobs(services, work):
    """Each member's sync fails for good while the bridge holds a revoked API key."""
    headers = services.discourse._headers
    key, headers["Api-Key"] = headers["Api-Key"], "a-revoked-key"
    work()
    headers["Api-Key"] = key
    registry = queue(services.redis_raw).failed_job_registry
    ids = set(registry.get_job_ids())
    assert ids == {"member-i-1-v0", "member-boss-v0", "member-vyazma_cv-1-v0",
                   "member-vyazma_cmetod-v0"}, ids
    return "member-i-1-v0", "member-vyazma_cv-1-v0"  # the institute's, Vyazma's


def subjects(html: str) -> list[str]:
    """The subjects of the audit table's rows, as shown."""
    cells = re.findall(r'<tr data-entry="[^"]+">\s*<td>[^<]*</td>\s*<td class="id">(.*?)</td>',
                       html, re.S)
    return [re.sub(r"<[^>]+>", "", cell) for cell in cells]


def audit_entries(services):
    for subject in ("member:i-1", "member:vyazma:v-1", "group:club"):
        services.audit.record(subject=subject, action="group.add", target="club", cause="api")


def events(services):
    store = EventStore(services.redis)
    for key, kind in (("ev-1", "seminar"), ("vyazma:ev-2", "master_class")):
        desired = EventIn(title=f"Событие {key}", kind=kind,
                          starts_at="2026-03-01T10:00:00+03:00").desired()
        store.accept(key, desired, version=None)


def test_login_offers_each_sources_identity_provider(client):
    html = text(client.get("/admin/login"))
    assert f'href="/auth/admin?source=vyazma">Войти через {VYAZMA}</a>' in html
    assert f'href="/auth/admin?source=institute">Войти через {INSTITUTE}</a>' in html
    assert 'name="token"' in html  # the token login stays


def test_a_methodist_sees_only_their_source(methodist, services, work):
    jobs = failed_jobs(services, work)
    audit_entries(services)
    events(services)
    dashboard = text(methodist.get("/admin/"))
    assert "администратор metod" in dashboard
    assert metric(dashboard, "members") == "2"
    assert metric(dashboard, "failed") == "2"  # v-1's and metod's syncs, not the institute's
    assert "Последняя сверка" not in dashboard  # forum-wide: for who manages every source

    # members: another source's member is as unknown as a missing one
    found = text(methodist.get("/admin/members?q=Иванова"))
    assert "Иванова Анна" in found
    assert "Иванова Мария" not in found
    assert '<td class="id">v-1</td>' in found  # the source's own id, not the forum key
    assert 'name="source"' not in found  # one source: nothing to choose
    assert methodist.get("/admin/members/i-1").status_code == 404
    searched = methodist.get("/admin/members?q=i-1")  # not opened: searched among their own
    assert searched.status_code == 200
    assert "Иванова Мария" not in text(searched)
    response = methodist.get("/admin/members?q=v-1")
    assert response.headers["Location"] == "/admin/members/vyazma:v-1"
    page = text(methodist.get("/admin/members/vyazma:v-1"))
    assert "Участник <span class=\"id\">v-1</span>" in page
    assert f"Источник: {VYAZMA}" in page
    assert "Педагог" in page  # the role's label from the source's own roles file

    # failed jobs: only their source's, and another source's job cannot be retried
    listing = text(methodist.get("/admin/jobs/failed"))
    institute_job, vyazma_job = jobs
    assert vyazma_job in listing
    assert institute_job not in listing
    token = page_csrf(methodist, "/admin/jobs/failed")
    refused = methodist.post(f"/admin/jobs/failed/{institute_job}/retry",
                             data={"csrf_token": token})
    assert refused.status_code == 404
    registry = queue(services.redis_raw).failed_job_registry
    assert institute_job in registry
    retried = methodist.post("/admin/jobs/failed/retry-all", data={"csrf_token": token})
    assert retried.status_code == 303
    assert set(registry.get_job_ids()) == {institute_job, "member-boss-v0"}

    # audit: their source's entries only (not another source's, not the shared group's)
    audit = subjects(text(methodist.get("/admin/audit")))
    assert audit == ["member:v-1"]
    assert "Записей нет" in text(methodist.get("/admin/audit?subject=member:i-1"))

    # events: their source's
    listing = text(methodist.get("/admin/events"))
    assert "Событие vyazma:ev-2" in listing
    assert "Событие ev-1" not in listing
    assert '<span class="id">ev-2</span>' in listing

    # another source by name: not theirs
    for path in ("/admin/members?q=Иванова&source=institute", "/admin/audit?source=institute",
                 "/admin/jobs/failed?source=institute", "/admin/events?source=institute"):
        assert methodist.get(path).status_code == 404, path


def test_a_federation_administrator_sees_every_source_and_filters(federation_admin, services,
                                                                  work):
    jobs = failed_jobs(services, work)
    audit_entries(services)
    events(services)
    admin = federation_admin
    dashboard = text(admin.get("/admin/"))
    assert metric(dashboard, "members") == "4"
    assert metric(dashboard, "members-institute") == "2"
    assert metric(dashboard, "members-vyazma") == "2"
    assert metric(dashboard, "failed") == "4"

    found = text(admin.get("/admin/members?q=Иванова"))
    assert "Иванова Анна" in found
    assert "Иванова Мария" in found
    assert f'<td data-source="vyazma">{VYAZMA}</td>' in found
    assert f'<td data-source="institute">{INSTITUTE}</td>' in found
    assert '<option value="vyazma">' in found  # the source filter
    narrowed = text(admin.get("/admin/members?q=Иванова&source=vyazma"))
    assert "Иванова Анна" in narrowed
    assert "Иванова Мария" not in narrowed
    assert admin.get("/admin/members/vyazma:v-1").status_code == 200
    assert admin.get("/admin/members/i-1").status_code == 200

    listing = text(admin.get("/admin/jobs/failed"))
    assert all(job in listing for job in jobs)
    assert 'data-sources="vyazma"' in listing
    assert 'data-sources="institute"' in listing
    narrowed = text(admin.get("/admin/jobs/failed?source=institute"))
    institute_job, vyazma_job = jobs
    assert institute_job in narrowed
    assert vyazma_job not in narrowed

    audit = text(admin.get("/admin/audit"))
    assert subjects(audit) == ["group:club", "member:v-1", "member:i-1"]
    assert f'<td data-sources="vyazma">{VYAZMA}</td>' in audit
    narrowed = text(admin.get("/admin/audit?source=vyazma"))
    assert subjects(narrowed) == ["member:v-1"]
    assert '<option value="vyazma" selected>' in narrowed

    listing = text(admin.get("/admin/events"))
    assert "Событие vyazma:ev-2" in listing
    assert "Событие ev-1" in listing
    narrowed = text(admin.get("/admin/events?source=institute"))
    assert "Событие vyazma:ev-2" not in narrowed
    assert "Событие ev-1" in narrowed
    assert admin.get("/admin/events?source=nowhere").status_code == 404


def upload(client, csv: str, **fields):
    data = {"csrf_token": page_csrf(client, "/admin/roster"), **fields,
            "roster": (io.BytesIO(csv.encode()), "roster.csv")}
    return client.post("/admin/roster", data=data, content_type="multipart/form-data")


def apply(client, preview_html: str):
    key = re.search(r'name="key" value="([^"]+)"', preview_html).group(1)
    return client.post("/admin/roster/apply", data={
        "csrf_token": csrf_of(preview_html), "key": key, "force": "1"})


VYAZMA_CSV = ("external_id,email,name,roles,school\n"
              "metod,metod@example.org,Петрова Ольга,methodist,Школа 1\n"
              "v-2,v2@example.org,Сидоров Олег,teacher,Школа 2\n")


def test_a_vyazma_token_roster_replaces_only_vyazmas_members(client, people, services):
    assert login(client, VYAZMA_TOKEN).status_code == 303
    form = text(client.get("/admin/roster"))
    assert f"Список заменит участников источника «{VYAZMA}»" in form
    assert 'name="source"' not in form  # one source: no choice to make
    preview = upload(client, VYAZMA_CSV)
    assert preview.status_code == 200
    html = text(preview)
    assert 'data-roster-source="vyazma"' in html
    offboarded = re.search(r"Исключаются из клуба:</b>(.*?)</p>", html, re.S).group(1)
    assert "v-1" in offboarded
    assert "vyazma:" not in offboarded
    assert "i-1" not in offboarded
    assert apply(client, html).status_code == 303
    members = services.members
    assert not members.get("vyazma:v-1").active
    assert members.get("vyazma:v-2").active
    assert members.get("i-1").active
    assert members.get("boss").active


def test_a_federation_administrator_chooses_the_roster_source(federation_admin, services):
    form = text(federation_admin.get("/admin/roster"))
    assert '<select id="roster_source" name="source" required>' in form
    missing = upload(federation_admin, VYAZMA_CSV)
    assert missing.status_code == 400
    assert "Выберите, чей это список" in text(missing)
    assert upload(federation_admin, VYAZMA_CSV, source="elsewhere").status_code == 400
    preview = upload(federation_admin, VYAZMA_CSV, source="vyazma")
    assert preview.status_code == 200
    html = text(preview)
    assert 'data-roster-source="vyazma"' in html
    assert apply(federation_admin, html).status_code == 303
    assert not services.members.get("vyazma:v-1").active
    assert services.members.get("i-1").active


def test_another_sources_upload_cannot_be_applied(client, people, services):
    """An upload's key reaching an administrator of another source applies nothing."""
    assert login(client, VYAZMA_TOKEN).status_code == 303
    html = text(upload(client, VYAZMA_CSV))
    sign_out = client.post("/admin/logout", data={"csrf_token": csrf_of(html)})
    assert sign_out.status_code == 303
    assert login(client, API_TOKEN).status_code == 303
    key = re.search(r'name="key" value="([^"]+)"', html).group(1)
    token = page_csrf(client, "/admin/roster")
    response = client.post("/admin/roster/apply", data={"csrf_token": token, "key": key})
    assert response.status_code == 403
    assert services.members.get("vyazma:v-1").active


@pytest.mark.parametrize("environ", ["single"], indirect=True)
def test_one_source_shows_no_source_at_all(client, services):
    put_member(client, INSTITUTE_AUTH, "i-1", name="Иванова Мария", email="i1@example.org")
    login_page = text(client.get("/admin/login"))
    assert 'href="/auth/admin">Войти через институт</a>' in login_page
    assert "source" not in login_page
    assert login(client).status_code == 303
    for path in ("/admin/", "/admin/members?q=Иванова", "/admin/jobs/failed", "/admin/audit",
                 "/admin/events", "/admin/roster", "/admin/members/i-1"):
        html = text(client.get(path))
        assert "Источник" not in html, path
        assert 'name="source"' not in html, path
