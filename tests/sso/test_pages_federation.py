"""The federation's login pages, rendered by the real app: the chooser, the link step,
and the refusals that name the organisation to contact."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from sso import pages
from tests.support.flow import attribute, element_text

INSTITUTE = "Смоленский областной институт развития образования"
VYAZMA = "Методический центр Вяземского района"


@pytest.fixture
def render(app):
    """Call a page function inside a request of the real app; (status, html)."""

    def call(page, *args, **kwargs):
        with app.test_request_context("/sso"):
            response = page(*args, **kwargs)
        return response.status_code, response.get_data(as_text=True)

    return call


class _TestIds(HTMLParser):
    """The elements with a data-testid, in document order: (testid, attributes, text)."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, dict, list[str]]] = []
        self.open: list[tuple[str, list[str] | None]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        text = [] if "data-testid" in attrs else None
        if text is not None:
            self.found.append((attrs["data-testid"], attrs, text))
        self.open.append((tag, text))

    def handle_endtag(self, tag):
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        for _, text in self.open:
            if text is not None:
                text.append(data)


def tagged(html: str) -> list[tuple[str, dict, str]]:
    parser = _TestIds()
    parser.feed(html)
    return [(tid, attrs, " ".join("".join(text).split())) for tid, attrs, text in parser.found]



def text_of(html: str) -> str:
    parts: list[str] = []
    parser = HTMLParser()
    parser.handle_data = parts.append
    parser.feed(html)
    return " ".join("".join(parts).split())


CHOICES = [
    {"code": "institute", "name": INSTITUTE, "url": "http://bridge.test/sso?sso=a&sig=b&source=institute"},
    {"code": "vyazma", "name": VYAZMA, "url": "http://bridge.test/sso?sso=a&sig=b&source=vyazma"},
]


# -- the chooser -----------------------------------------------------------------------------


def test_the_chooser_lists_every_source_as_a_link_in_order(render):
    status, html = render(pages.chooser, CHOICES, None)

    assert status == 200
    assert '<html lang="ru">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert element_text(html, "chooser-title") == "Вход на форум Интернет-клуба «Учитель года»"
    assert element_text(html, "chooser-lead") == "Выберите организацию, через которую вы входите:"
    links = [(tid, attrs, text) for tid, attrs, text in tagged(html) if tid.startswith("source-")]
    assert [tid for tid, _, _ in links] == ["source-institute", "source-vyazma"]
    assert [text for _, _, text in links] == [INSTITUTE, VYAZMA]
    assert [attrs["href"] for _, attrs, _ in links] == [c["url"] for c in CHOICES]
    assert "прошлый раз" not in html
    assert element_text(html, "several-hint") == (
        "Если вы состоите в нескольких организациях, войдите через каждую по очереди в этом "
        "браузере — их записи объединятся в одну учётную запись форума."
    )
    assert "<form" not in html  # the pages' policy is form-action 'none': links only


def test_the_remembered_choice_comes_first_and_is_marked(render):
    status, html = render(pages.chooser, CHOICES, "vyazma")

    assert status == 200
    found = tagged(html)
    links = [tid for tid, _, _ in found if tid.startswith("source-")]
    assert links == ["source-vyazma", "source-institute"]
    vyazma = next(text for tid, _, text in found if tid == "source-vyazma")
    assert vyazma == VYAZMA + " Вы входили через эту организацию в прошлый раз"
    assert [tid for tid, _, _ in found].count("last-choice") == 1
    assert 'class="choice choice-last"' in html


def test_a_remembered_choice_that_is_no_longer_offered_changes_nothing(render):
    _, html = render(pages.chooser, CHOICES, "gone")

    links = [tid for tid, _, _ in tagged(html) if tid.startswith("source-")]
    assert links == ["source-institute", "source-vyazma"]
    assert "прошлый раз" not in html


def test_the_chooser_escapes_names_and_links(render):
    choices = [
        {"code": "evil", "name": "<script>alert(1)</script> «Клуб»",
         "url": 'http://bridge.test/sso?a=1&b="><script>'},
        CHOICES[1],
    ]
    _, html = render(pages.chooser, choices, "evil")

    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; «Клуб»" in html
    assert 'href="http://bridge.test/sso?a=1&amp;b=&#34;&gt;&lt;script&gt;"' in html


# -- the link step ---------------------------------------------------------------------------


def test_the_link_page_explains_the_two_logins(render):
    status, html = render(pages.link_required, VYAZMA, [INSTITUTE], "http://bridge.test/sso?x=1")

    assert status == 409
    assert [tid for tid, _, _ in tagged(html)] == ["link-required"]
    assert element_text(html, "error-message") == (
        f"Адрес электронной почты, с которым вас записала организация «{VYAZMA}», уже "
        f"принадлежит учётной записи форума участника организации «{INSTITUTE}»."
    )
    assert element_text(html, "link-steps") == (
        f"Войдите на форум через организацию «{INSTITUTE}». Затем в этом же браузере войдите "
        f"ещё раз и выберите организацию «{VYAZMA}»."
    )
    assert "На форуме ничего не изменилось." in text_of(html)
    assert attribute(html, "retry-link", "href") == "http://bridge.test/sso?x=1"
    assert element_text(html, "contact") == (
        f"Если этот адрес не ваш, обратитесь к администраторам организации «{VYAZMA}»."
    )


def test_the_link_page_without_a_chooser_link_starts_again_at_the_forum(render, sandbox):
    status, html = render(pages.link_required, VYAZMA, [INSTITUTE], None)

    assert status == 409
    assert attribute(html, "retry-link", "href") == sandbox.url + "/session/sso?return_path=/"
    assert attribute(html, "forum-link", "href") == sandbox.url


def test_the_link_page_names_several_other_organisations(render):
    _, html = render(pages.link_required, "Клуб Брянской области", [INSTITUTE, VYAZMA, "Третья"],
                     None)

    assert element_text(html, "error-message").endswith(
        f"участника организаций «{INSTITUTE}», «{VYAZMA}» и «Третья»."
    )
    assert element_text(html, "link-steps").startswith(
        f"Войдите на форум через одну из организаций «{INSTITUTE}», «{VYAZMA}» или «Третья»."
    )


def test_the_link_page_escapes_names(render):
    _, html = render(pages.link_required, "<b>B</b>", ['"><img src=x>'], None)

    assert "<b>" not in html
    assert "<img" not in html
    assert "«&lt;b&gt;B&lt;/b&gt;»" in html
    assert "«&#34;&gt;&lt;img src=x&gt;»" in html


# -- refusals that say whom to contact -------------------------------------------------------


def test_not_member_of_a_source_says_which_organisation_to_contact(render):
    status, html = render(pages.not_member, VYAZMA)

    assert status == 403
    join = element_text(html, "join-info")
    assert f"обратитесь в организацию «{VYAZMA}»" in join
    assert "Смоленский" not in html
    assert "через другую организацию" in join


def test_not_member_without_a_source_keeps_the_institute_page(render):
    status, html = render(pages.not_member)

    assert status == 403
    assert "Вы вошли с учётной записью института" in text_of(html)
    assert f"обратитесь в {INSTITUTE}" in element_text(html, "join-info")


def test_an_error_of_a_source_names_its_administrators(render):
    status, html = render(pages.error, 400, *pages.FOREIGN_PROVIDER, source_name=VYAZMA)

    assert status == 400
    assert element_text(html, "error-title") == "Ответ пришёл от сервера входа другой организации"
    assert element_text(html, "error-message") == pages.FOREIGN_PROVIDER[1]
    assert element_text(html, "contact") == (
        f"Если ошибка повторяется, обратитесь к администраторам организации «{VYAZMA}»."
    )
    assert attribute(html, "retry-link", "href")


def test_an_error_without_a_source_is_unchanged(render):
    status, html = render(pages.error, 502, *pages.IDP_UNAVAILABLE, retry=False)

    assert status == 502
    assert element_text(html, "error-title") == pages.IDP_UNAVAILABLE[0]
    assert element_text(html, "contact") is None
    assert attribute(html, "retry-link", "href") is None


def test_an_error_escapes_the_organisation_name(render):
    _, html = render(pages.error, 400, *pages.IDP_REFUSED, source_name="<i>x</i>")

    assert "<i>" not in html
    assert "«&lt;i&gt;x&lt;/i&gt;»" in html
