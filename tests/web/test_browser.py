"""The site in a real browser: Python playwright driving Debian's Chromium (no browser download).

A person's path through the app: ask, read the cited passage, open the sources, follow a citation
to its section, vote, give a reason, download the conversation, and staff reviewing it all. Plus
the safety checks that only a browser can make: no dialog from an HTML payload, corpus markup
inert, the CSP enforced, nothing of the question in the browser's storage.

Without Chromium (or playwright) these tests skip and say why; with CI=true they fail instead, so
CI always runs them. The site uses the fake embedder; the last test uses the real model.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from browsers import axe_violations, launch
from conftest import ARTICLE, ROOT
from webserver import UNSAFE_QUESTION, corpus_with_unsafe_page, fake_engine_for, serve_process, serving

from chatbot.cli import main
from chatbot.feedback.records import GapRecord
from chatbot.feedback.store import DB_FILENAME, FeedbackStore
from chatbot.present import short_section
from chatbot.web.server import create_app
from chatbot.web.settings import WebSettings

pytestmark = [pytest.mark.browser, pytest.mark.app, pytest.mark.slow]

REPORTS = ROOT / "reports"
STAFF_PASSWORD = "staff-secret"
TITLE = "Understanding Refractory Myeloma: Definition, Symptoms, and Treatment"
BIOPSY_Q = "How is a bone marrow biopsy done?"
BIOPSY_TEXT = "A bone marrow biopsy is done by removing a small sample of bone marrow tissue"
BIOPSY_CITATION = "How is Refractory Myeloma Diagnosed? › Bone Marrow Biopsy"
URGENT_Q = "I have a fever during chemo, what is refractory myeloma?"
EMERGENCY_Q = "I have chest pain and can't breathe"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PAYLOAD = "<img src=x onerror=alert(1)>"
TIMEOUT = 20_000  # ms


@pytest.fixture(scope="module")  # closed before another module starts its own playwright
def browser() -> Iterator[Any]:
    yield from launch()


@dataclass
class Site:
    url: str
    data: Path
    engine: Any


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("browser")
    engine = fake_engine_for(corpus_with_unsafe_page(folder), folder / "index")
    settings = WebSettings(data_dir=folder / "data", staff_password=STAFF_PASSWORD)
    with serving(create_app(engine, settings)) as url:
        yield Site(url, folder / "data", engine)


@dataclass
class Tab:
    """A page in a fresh browser context, recording dialogs and requests to other hosts."""

    page: Any
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # refused by the Content-Security-Policy

    def remote_requests(self) -> list[str]:
        """Requests to other hosts that the browser did not block (none may leave the machine)."""
        local = ("http://127.0.0.1", "data:", "blob:")
        return [u for u in self.requests if not u.startswith(local) and u not in self.blocked]


@pytest.fixture
def open_tab(browser: Any) -> Iterator[Callable[..., Tab]]:
    contexts: list[Any] = []

    def opener(url: str, ready: str = "#question textarea", **context_options: Any) -> Tab:
        context = browser.new_context(accept_downloads=True, **context_options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        tab = Tab(page)
        page.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
        context.on("request", lambda r: tab.requests.append(r.url))
        context.on(
            "requestfailed",
            lambda r: tab.blocked.append(r.url) if "csp" in (r.failure or "").lower() else None,
        )
        page.goto(url)
        page.locator(ready).wait_for()
        return tab

    yield opener
    for context in contexts:
        context.close()


def ask(tab: Tab, question: str) -> Any:
    """Type a question, press Enter, and return the locator of the new answer bubble."""
    page = tab.page
    bots = page.locator("#chatbot .bot")
    before = bots.count()
    votes = "#chatbot button[aria-label^=Like]"  # "Like", or "Liked" once voted
    before_votes = page.locator(votes).count()
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('#chatbot .bot').length > n", arg=before, timeout=TIMEOUT
    )
    # the new answer's vote buttons are there, so `.last` is this answer's
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length > n", arg=[votes, before_votes], timeout=TIMEOUT
    )
    # the conversation file is ready once the button counts this question
    asked = page.locator("#chatbot .user").count()
    page.locator("#download").get_by_text(f"{asked} question").wait_for()
    return bots.nth(before)


def db_rows(site: Site, sql: str, expected: int, timeout: float = 10.0) -> list[tuple[Any, ...]]:
    """Rows of the feedback database, waiting for at least `expected` of them."""
    deadline = time.monotonic() + timeout
    path = site.data / DB_FILENAME
    while True:
        rows: list[tuple[Any, ...]] = []
        if path.exists():
            with sqlite3.connect(path) as db:
                try:
                    rows = db.execute(sql).fetchall()
                except sqlite3.OperationalError:
                    rows = []
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_ask_and_see_the_cited_passage(site: Site, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(site.url)
    answer = ask(tab, BIOPSY_Q)
    answer.locator(".cb-lead").get_by_text(BIOPSY_TEXT).wait_for()
    text = answer.inner_text()
    assert text.index(BIOPSY_TEXT) < text.index(BIOPSY_CITATION)  # the answer first, then where from
    assert text.count(TITLE) == 1  # named once, not in every citation
    assert answer.locator("strong, b").count() == 0  # bold is used for nothing
    more = answer.locator("details.cb-more")
    assert more.locator("summary").inner_text() == "More from the article (2)"
    assert not more.locator("blockquote").first.is_visible()  # folded
    more.locator("summary").click()
    more.locator("blockquote").first.wait_for(state="visible")
    REPORTS.mkdir(exist_ok=True)
    answer.evaluate("e => e.scrollIntoView()")  # the answer from its first passage
    tab.page.screenshot(path=str(REPORTS / "screenshot-answer.png"), full_page=True)
    assert (REPORTS / "screenshot-answer.png").stat().st_size > 10_000
    assert tab.dialogs == [] and tab.remote_requests() == []


def test_expand_the_sources(site: Site, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(site.url)
    answer = ask(tab, BIOPSY_Q)
    toggle = answer.get_by_role("button", name="Sources (3)")
    listed = answer.locator(".thought-group").get_by_role("link")
    assert listed.count() == 0 and toggle.get_attribute("aria-expanded") == "false"  # collapsed at first
    toggle.focus()
    tab.page.keyboard.press("Space")  # the keyboard opens it
    listed.first.wait_for(state="visible")
    # the page script says the new state on the next frame (late on a busy machine)
    tab.page.wait_for_function(
        "t => t.getAttribute('aria-expanded') === 'true'", arg=toggle.element_handle(), timeout=5000
    )
    assert listed.count() == 3 and BIOPSY_CITATION in listed.first.inner_text()
    text = answer.inner_text()
    # nothing internal for patients: no file, offsets, scores, ranks or ids
    for word in ("refractory-myeloma.txt", "characters", "rank", "match", "score"):
        assert word not in text, word
    assert all(p.id not in text for p in site.engine.ask(BIOPSY_Q).passages)


def test_follow_a_citation_to_its_section(site: Site, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(site.url)
    answer = ask(tab, BIOPSY_Q)
    link = answer.get_by_role("link", name="Bone Marrow Biopsy").first
    with tab.page.context.expect_page() as opened:
        link.click()
    article = opened.value
    article.wait_for_load_state()
    assert "/article?source=refractory-myeloma.txt" in article.url and "#s-bone-marrow-biopsy-" in article.url
    section = article.locator(":target")
    assert section.inner_text() == "Bone Marrow Biopsy"
    marked = article.locator("mark#passage")
    assert marked.inner_text().startswith(BIOPSY_TEXT)
    assert marked.locator(".answer").inner_text().startswith(BIOPSY_TEXT)  # the answering sentence
    assert tab.page.locator("#chatbot .user").count() == 1  # the conversation stays in its own tab
    # the passage follows its heading and is on screen
    box, heading = marked.bounding_box(), section.bounding_box()
    assert (
        box is not None and heading is not None and heading["y"] < box["y"] < article.viewport_size["height"]
    )
    assert article.locator("h2").count() >= 5  # the whole article, with its sections


def test_like_an_answer_and_find_it_in_the_database(
    site: Site, open_tab: Callable[..., Tab], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tab = open_tab(site.url)
    question = "What is CAR T-cell therapy in refractory myeloma?"
    answer = ask(tab, question)
    answer_text = answer.text_content() or ""  # the folded passages too
    tab.page.get_by_role("button", name="Like", exact=True).last.click()
    tab.page.locator("#feedback-status").get_by_text("Thank you").wait_for()
    rows = db_rows(site, f"SELECT vote, passages, index_build FROM feedback WHERE question = '{question}'", 1)
    assert len(rows) == 1
    vote, passages, build = rows[0]
    assert vote == "like" and build == site.engine.build_id
    shown = json.loads(passages)
    assert len(shown) == 3 and all(short_section(p["section"]) in answer_text for p in shown)
    # the same row reaches the export staff use
    assert main(["feedback", "export", "--format", "jsonl", "--data", str(site.data)]) == 0
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert any(r["question"] == question and r["vote"] == "like" for r in exported)


def test_dislike_with_a_reason(site: Site, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(site.url)
    ask(tab, "What is refractory myeloma?")
    question = "Is a stem cell transplant an option?"
    ask(tab, question)
    page = tab.page
    dislike = page.get_by_role("button", name="Dislike", exact=True).last
    box = dislike.bounding_box()
    assert box is not None and box["width"] >= 24 and box["height"] >= 24
    dislike.click()
    # the reason panel opens right under the answers, above the question box, in view and with
    # focus moved into it
    page.wait_for_function("() => !!document.activeElement?.closest('#reason-panel')", timeout=TIMEOUT)
    page.wait_for_function(
        """() => { const r = document.getElementById('reason-panel').getBoundingClientRect();
                   return r.top >= 0 && r.bottom <= window.innerHeight; }""",
        timeout=TIMEOUT,
    )
    panel = page.locator("#reason-panel").first.bounding_box()
    box = page.locator("#question").first.bounding_box()
    assert panel is not None and box is not None and panel["y"] + panel["height"] <= box["y"]
    page.get_by_label("It showed the wrong passage").check()
    page.locator("#reason-comment textarea").fill("I wanted the risks <b>not</b> this")
    page.locator("#reason-send").click()
    page.locator("#feedback-status").get_by_text("Thank you").wait_for()
    sql = (
        "SELECT vote, reason, comment, history FROM feedback "
        f"WHERE question = '{question}' AND reason IS NOT NULL"
    )
    rows = db_rows(site, sql, 1)
    assert rows == [
        ("dislike", "wrong-passage", "I wanted the risks <b>not</b> this", '["What is refractory myeloma?"]')
    ]
    assert not page.locator("#reason-send").is_visible()


def test_an_html_payload_raises_no_dialog(site: Site, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(site.url)
    ask(tab, PAYLOAD)
    tab.page.wait_for_timeout(500)  # give a handler the chance to fire
    assert tab.dialogs == []
    user = tab.page.locator("#chatbot .user").last
    assert user.inner_text().strip() == PAYLOAD  # shown as the characters typed
    assert user.locator("img").count() == 0
    assert tab.remote_requests() == []


def test_markup_in_the_corpus_stays_inert(site: Site, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(site.url)
    answer = ask(tab, UNSAFE_QUESTION)
    text = answer.inner_text()
    assert "<script>alert(1)</script>" in text and "<img src=https://example.com/x.png>" in text
    assert answer.locator("img, script").count() == 0
    link = answer.get_by_role("link", name="Pictures and scripts").first
    with tab.page.context.expect_page() as opened:
        link.click()
    article = opened.value
    article.wait_for_load_state()
    assert "<script>alert(1)</script>" in article.locator("mark#passage").inner_text()
    assert article.locator("article img, article script").count() == 0
    assert tab.dialogs == [] and tab.remote_requests() == []


def test_the_csp_blocks_remote_images(site: Site, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(site.url)
    violated = tab.page.evaluate(
        """() => new Promise(resolve => {
            document.addEventListener('securitypolicyviolation', e => resolve(e.violatedDirective));
            const img = document.createElement('img');
            img.src = 'https://example.com/leak.png?q=question';
            document.body.appendChild(img);
            setTimeout(() => resolve(null), 3000);
        })"""
    )
    assert violated == "img-src"
    tab.page.wait_for_timeout(300)
    assert tab.blocked == ["https://example.com/leak.png?q=question"]
    assert tab.remote_requests() == []


def test_nothing_of_the_question_is_kept_in_the_browser(site: Site, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(site.url)
    question = "Does thalidomide cause numbness?"
    ask(tab, question)
    stored = tab.page.evaluate(
        """async () => ({
            local: JSON.stringify(Object.entries(localStorage)),
            session: JSON.stringify(Object.entries(sessionStorage)),
            databases: JSON.stringify(indexedDB.databases ? await indexedDB.databases() : []),
            cookies: document.cookie,
        })"""
    )
    for where, value in stored.items():
        for word in ("thalidomide", "numbness"):
            assert word not in value.lower(), f"{word!r} found in {where}: {value[:200]}"


def test_download_the_conversation(site: Site, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(site.url)
    ask(tab, "What is refractory myeloma?")
    ask(tab, BIOPSY_Q)
    with tab.page.expect_download() as download:
        tab.page.locator("#download").click()
    path = download.value.path()
    assert download.value.suggested_filename == "conversation.md"
    text = Path(path).read_text(encoding="utf-8")
    assert "## 1. What is refractory myeloma?" in text and "## 2. How is a bone marrow biopsy done?" in text
    assert "Citation: " + TITLE + " › How is Refractory Myeloma Diagnosed? › Bone Marrow Biopsy" in text
    assert "characters" not in text and "Index build" not in text and site.engine.build_id not in text


def test_staff_review(site: Site, open_tab: Callable[..., Tab]) -> None:
    FeedbackStore(site.data / DB_FILENAME).record_gap(
        GapRecord("Can I eat grapefruit?", (), "grapefruit", site.engine.build_id, ())
    )
    tab = open_tab(site.url)
    ask(tab, "What are the symptoms of refractory myeloma?")
    tab.page.get_by_role("button", name="Like", exact=True).last.click()
    tab.page.locator("#feedback-status").get_by_text("Thank you").wait_for()

    credentials = {"username": "staff", "password": STAFF_PASSWORD}
    staff = open_tab(site.url + "/staff/", ready="#staff-question textarea", http_credentials=credentials)
    page = staff.page
    page.locator("#staff-question textarea").fill("Is it risky?")
    page.locator("#staff-history textarea").fill("What is CAR T-cell therapy?")
    page.locator("#staff-check").click()
    summary = page.locator("#staff-summary")
    summary.get_by_text("Searched for:").wait_for()
    assert "Why: answer" in summary.inner_text()
    shown = page.locator("#staff-shown")
    for column in ("relevance", "found by"):
        shown.get_by_text(column, exact=True).first.wait_for()
    page.get_by_role("tab", name="Recent feedback").click()
    feedback = page.locator("#staff-feedback")
    row = feedback.get_by_text("What are the symptoms of refractory myeloma?").filter(visible=True).first
    row.click()  # pick it: the question is checked
    page.locator("#staff-summary").get_by_text(
        "What are the symptoms of refractory myeloma?"
    ).first.wait_for()
    page.get_by_role("tab", name="Content gaps").click()
    page.locator("#staff-gaps").get_by_text("Can I eat grapefruit?").filter(visible=True).first.wait_for()
    with page.expect_download() as download:
        page.locator("#staff-gaps-export").click()
    assert "Can I eat grapefruit?" in Path(download.value.path()).read_text(encoding="utf-8")
    assert staff.remote_requests() == [] and staff.dialogs == []


def test_the_staff_pages_ask_for_the_password(site: Site, browser: Any) -> None:
    from playwright.sync_api import Error

    for credentials in (None, {"username": "staff", "password": "wrong"}):
        context = browser.new_context(http_credentials=credentials)
        try:
            page = context.new_page()
            assert page.request.get(site.url + "/staff/").status == 401
            try:
                response = page.goto(site.url + "/staff/")
            except Error as exc:  # Chromium refuses a page whose credentials were rejected
                assert "ERR_INVALID_AUTH_CREDENTIALS" in str(exc)
            else:
                assert response is not None and response.status == 401
                assert "Staff review" not in page.content()
            assert page.request.get(site.url + "/").status == 200  # the chat itself is open
        finally:
            context.close()


@pytest.mark.model
def test_held_out_style_check_with_the_real_model(
    minilm: Any, tmp_path: Path, open_tab: Callable[..., Tab]
) -> None:
    """A question typed into the page with the real model: an article passage with its section."""
    from conftest import CORPUS

    from chatbot.answering.engine import Engine
    from chatbot.indexing.build import build_index
    from chatbot.indexing.store import load_build

    build_index(CORPUS, tmp_path / "index", minilm, progress=False)
    engine = Engine(load_build(tmp_path / "index"), minilm)
    with serving(create_app(engine, WebSettings(data_dir=tmp_path / "data"))) as url:
        tab = open_tab(url)
        answer = ask(tab, "how do they treat myeloma that stopped responding to drugs")
        text = answer.inner_text()
        assert TITLE in text and answer.locator(".cb-lead").count() == 1
        article = " ".join(ARTICLE.read_text(encoding="utf-8").split())
        quoted = [q for q in answer.locator("blockquote").all_inner_texts() if q.strip()]
        assert quoted and all(" ".join(q.split())[:80] in article for q in quoted)
        ask(tab, PAYLOAD)
        stored = tab.page.evaluate("JSON.stringify(Object.entries(localStorage))")
        assert "stopped responding" not in stored and "onerror" not in stored
        assert tab.dialogs == [] and tab.remote_requests() == []


@pytest.mark.model
def test_serve_stops_promptly_with_a_chat_page_open(tmp_path: Path, open_tab: Callable[..., Tab]) -> None:
    """A real `chatbot serve` stopped the way a service manager does (SIGTERM) while a patient's
    page is open: the page's stream is ended, not waited for until the graceful limit cuts it."""
    import signal

    from chatbot.web.server import SHUTDOWN_SECONDS

    with serve_process(tmp_path) as (proc, url):
        tab = open_tab(url)
        assert "Stem cell transplantation" in ask(tab, "what is a stem cell transplant").inner_text()
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - started
    assert proc.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err and "ERROR" not in err
    # A guard, not a measurement: the stop measured 1.8 to 2.2 s (README); a stop that waited for
    # the page never ends (the communicate above times out) or is cut with a traceback (asserted).
    assert took < 5 * 2.2, f"the stop waited for the open page ({took:.1f} s, limit {SHUTDOWN_SECONDS} s)"


def lead_in_view(page: Any) -> dict[str, Any]:
    """Where the newest answer's lead sentence is, and whether all of it and its citation are
    inside the viewport."""
    return dict(
        page.evaluate(
            """() => {
                const leads = document.querySelectorAll('#chatbot .cb-lead');
                const lead = leads[leads.length - 1];
                const r = lead.getBoundingClientRect();
                // and its citation, the line after it
                const c = lead.nextElementSibling.getBoundingClientRect();
                return {top: r.top, bottom: r.bottom, cited: c.bottom,
                        inside: r.top >= 0 && r.bottom <= innerHeight && c.bottom <= innerHeight};
            }"""
        )
    )


def scroll_everything_up(page: Any) -> None:
    page.evaluate(
        """() => { window.scrollTo(0, 0);
                   document.querySelectorAll('#chatbot *').forEach(e => { e.scrollTop = 0; }); }"""
    )


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_each_answer_lands_on_its_first_sentence(site: Site, open_tab: Callable[..., Tab], size: str) -> None:
    tab = open_tab(site.url, viewport=DESKTOP if size == "desktop" else PHONE)
    page = tab.page
    if size == "phone":  # the question box is on the first screen
        box = page.locator("#question textarea").bounding_box()
        assert box is not None and box["y"] + box["height"] <= PHONE["height"]
    ask(tab, "What is refractory myeloma?")
    ask(tab, BIOPSY_Q)
    page.wait_for_function(
        "() => { const l = document.querySelectorAll('#chatbot .cb-lead'); return l.length === 2; }"
    )
    page.wait_for_timeout(300)
    assert lead_in_view(page)["inside"], lead_in_view(page)
    REPORTS.mkdir(exist_ok=True)
    page.screenshot(path=str(REPORTS / f"chat-answer-{size}.png"))
    # the reader scrolled up to re-read: the next answer still lands on its first sentence
    scroll_everything_up(page)
    ask(tab, "What is CAR T-cell therapy?")
    page.wait_for_timeout(300)
    assert lead_in_view(page)["inside"], lead_in_view(page)
    scrollers = page.evaluate(
        """() => Array.from(document.querySelectorAll('#chatbot, #chatbot *')).filter(e => {
            const s = getComputedStyle(e).overflowY;
            return (s === 'auto' || s === 'scroll') && e.scrollHeight > e.clientHeight + 1; }).length"""
    )
    if size == "phone":  # no scroll box inside the page
        assert scrollers == 0
    else:  # the chat keeps its own box, the question box below it in view
        assert scrollers >= 1
    # every control at the answer is at least 24 by 24 px
    for name in ("Like", "Dislike", "Copy message"):
        box = page.get_by_role("button", name=name, exact=True).last.bounding_box()
        assert box is not None and box["width"] >= 24 and box["height"] >= 24, name
    # and so is every other control on the page (links inside sentences are exempt in WCAG 2.2)
    small = page.evaluate(
        """() => Array.from(document.querySelectorAll(
                'button, [role=button], summary, input, select, textarea, [role=tab]'))
            .filter(e => e.getClientRects().length && !e.closest('[inert]'))
            .map(e => [e.getAttribute('aria-label') || e.innerText.slice(0, 30), e.getBoundingClientRect()])
            .filter(([, r]) => r.width < 24 || r.height < 24)
            .map(([name, r]) => `${name} ${Math.round(r.width)}x${Math.round(r.height)}`)"""
    )
    assert small == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_alert_cards_are_first_alone_in_view_and_focused(
    site: Site, open_tab: Callable[..., Tab], size: str
) -> None:
    tab = open_tab(site.url, viewport=DESKTOP if size == "desktop" else PHONE)
    page = tab.page
    ask(tab, "What is refractory myeloma?")
    scroll_everything_up(page)
    for question, kind, hidden in ((URGENT_Q, "urgent", "Urgent:"), (EMERGENCY_Q, "emergency", "Emergency:")):
        answer = ask(tab, question)
        card = answer.locator(f".cb-alert-{kind}")
        card.wait_for()
        assert card.get_attribute("role") == "alert"
        page.wait_for_function(
            "k => document.activeElement?.classList.contains('cb-alert-' + k)", arg=kind, timeout=TIMEOUT
        )
        box = card.bounding_box()
        height = (DESKTOP if size == "desktop" else PHONE)["height"]
        assert box is not None and 0 <= box["y"] < height and box["y"] + 80 < height  # its heading in view
        text = card.inner_text()
        assert hidden in card.locator(".cb-sr").inner_text()
        assert not card.locator(".cb-sr").is_visible() or card.locator(".cb-sr").bounding_box()["width"] <= 1
        for inside in ("Searched for", "From the article", "More from the article", "closest sections"):
            assert inside not in text
        assert card.locator("blockquote, a").count() == 0
        # the card is the answer's first message
        first = answer.locator(".message").first
        assert first.locator(".cb-alert").count() == 1
        colours = card.locator(".cb-alert-title").evaluate("e => getComputedStyle(e).backgroundColor")
        assert colours == "rgb(213, 40, 27)"  # red
        if kind == "urgent":
            assert "If symptoms get worse" in text and "hospital's acute oncology" in text
            passages = answer.locator(".message").nth(1)
            assert passages.locator("h3").inner_text() == "What the article says"
            assert passages.locator(".cb-lead").count() == 1
        else:
            body = card.locator(".cb-alert-body").evaluate("e => getComputedStyle(e).backgroundColor")
            assert body == "rgb(33, 43, 50)"  # dark grey
            assert answer.locator(".cb-lead, blockquote").count() == 0  # the card is the whole answer
        page.screenshot(path=str(REPORTS / f"chat-{kind}-{size}.png"))
        scroll_everything_up(page)


@pytest.mark.parametrize(("size", "scheme"), [("desktop", "light"), ("phone", "light"), ("phone", "dark")])
def test_axe_finds_nothing_in_the_chat(
    site: Site, open_tab: Callable[..., Tab], size: str, scheme: str
) -> None:
    tab = open_tab(site.url, viewport=DESKTOP if size == "desktop" else PHONE, color_scheme=scheme)
    page = tab.page
    page.wait_for_timeout(500)
    found = {"first view": axe_violations(page)}
    answer = ask(tab, BIOPSY_Q)
    found["after an answer"] = axe_violations(page)
    answer.get_by_role("button", name="Sources (3)").click()
    answer.locator(".thought-group").get_by_role("link").first.wait_for()
    found["sources open"] = axe_violations(page)
    page.get_by_role("button", name="Dislike", exact=True).last.click()
    page.locator("#reason-send").wait_for()
    found["reason panel open"] = axe_violations(page)
    ask(tab, URGENT_Q)
    found["after an urgent card"] = axe_violations(page)
    ask(tab, EMERGENCY_Q)
    found["after an emergency card"] = axe_violations(page)
    ask(tab, "What is the weather tomorrow?")
    found["not covered"] = axe_violations(page)
    # the article view, at the passage a citation links to
    page.goto(site.url + answer.locator(".cb-cite a").first.get_attribute("href"))
    page.locator("mark").first.wait_for()
    found["article view"] = axe_violations(page)
    assert {state: v for state, v in found.items() if v} == {}


def test_screen_readers_hear_the_lead_sentence_not_markup(site: Site, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(site.url)
    page = tab.page
    answer = ask(tab, BIOPSY_Q)
    announce = page.locator("#cb-announce")
    lead = answer.locator(".cb-lead").inner_text().strip()
    page.wait_for_function("t => document.getElementById('cb-announce')?.textContent.startsWith(t)", arg=lead)
    assert announce.get_attribute("role") == "status" and announce.get_attribute("aria-live") == "polite"
    assert "Bone Marrow Biopsy" in announce.text_content()  # and its citation
    assert "<" not in announce.text_content() and "**" not in announce.text_content()
    # Gradio's live log would read every passage of every answer; each message's raw HTML as
    # its name is gone, so a screen reader reads the text
    assert page.locator("#chatbot [role=log]").get_attribute("aria-live") == "off"
    named = "#chatbot [data-testid=bot][aria-label], #chatbot [data-testid=user][aria-label]"
    assert page.locator(named).count() == 0
    ask(tab, URGENT_Q)
    page.wait_for_function("() => document.getElementById('cb-announce')?.textContent.startsWith('Urgent:')")
    assert "care team" in announce.text_content()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_keyboard_reaches_every_control_with_a_visible_ring(
    site: Site, open_tab: Callable[..., Tab], size: str
) -> None:
    tab = open_tab(site.url, viewport=DESKTOP if size == "desktop" else PHONE)
    page = tab.page
    ask(tab, BIOPSY_Q)
    page.evaluate("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
    reached: dict[str, str] = {}
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement;
                if (!e || e === document.body) return null;
                const cs = getComputedStyle(e);
                return [(e.getAttribute('aria-label') || e.innerText || e.tagName).trim().slice(0, 40),
                        `${cs.outlineStyle} ${cs.outlineWidth} ${cs.outlineColor}`]; }"""
        )
        if focused:
            reached[focused[0]] = focused[1]
    # the question box, the answer's citation link, its fold, Sources, the votes and the buttons
    for name in ("Ask", "More from the article (2)", "Sources (3)", "Like", "Dislike", "Clear conversation"):
        assert name in reached, (name, sorted(reached))
    assert any(name.startswith("How is Refractory Myeloma Diagnosed") for name in reached)  # the citation
    assert "TEXTAREA" in reached
    # each with the same ring: 3 px of blue, 6.7:1 on the white page
    assert {ring for ring in reached.values()} == {"solid 3px rgb(29, 78, 216)"}, reached
