"""The staff page as staff reach and read it: /staff with or without its slash, one h1, every
control named, text at 4.5:1 or more (light and dark), and, in a real browser at 1280 px, tables
that fit without scrolling sideways, with each passage's answering sentences marked.

The browser tests (marked slow) drive Debian's Chromium with Python playwright and skip, saying
why, without them (under CI=true they fail): see browsers.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from browsers import axe_violations, launch
from fastapi.testclient import TestClient
from webserver import corpus_with_unsafe_page, fake_engine_for, serving

from chatbot.feedback.records import FeedbackRecord, GapRecord, ShownPassage
from chatbot.feedback.store import DB_FILENAME, FeedbackStore
from chatbot.web.server import create_app
from chatbot.web.settings import WebSettings, parse_credentials
from chatbot.web.staff import inspect_question, inspection_markdown
from chatbot.web.staff_page import (
    BLUE_LIGHT,
    FEEDBACK_WIDTHS,
    GAP_WIDTHS,
    PASSAGE_WIDTHS,
    STAFF_CSS,
    STAFF_THEME,
    build_staff_app,
    staff_mount_options,
)

pytestmark = pytest.mark.app

STAFF_PASSWORD = "staff-only"
URGENT_Q = "I have a fever during chemo, what is refractory myeloma?"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("staff-view")
    return fake_engine_for(corpus_with_unsafe_page(folder), folder / "index")


def client(engine: Any, folder: Path, **settings: Any) -> TestClient:
    app = create_app(engine, WebSettings(data_dir=folder / "data", **settings))
    return TestClient(app, base_url="http://127.0.0.1")  # a name the site answers to


# 1. /staff and /staff/


def test_staff_without_its_slash_leads_to_the_staff_page(engine: Any, tmp_path: Path) -> None:
    web = client(engine, tmp_path)
    r = web.get("/staff", follow_redirects=False)
    assert r.status_code in (200, 307, 308)
    if r.status_code != 200:  # a relative address: right behind a proxy's prefix too
        assert r.headers["location"] == "staff/"
        assert str(r.next_request.url).endswith("/staff/")  # type: ignore[union-attr]
    for path in ("/staff", "/staff/"):
        page = web.get(path)
        assert page.status_code == 200 and "Staff review" in page.text, path
        assert "Questions about refractory myeloma" not in page.text  # not the patient chat
    r = web.get("/staff?__theme=dark", follow_redirects=False)
    assert r.status_code == 200 or r.headers["location"] == "staff/?__theme=dark"
    assert web.head("/staff").status_code in (200, 307, 308)


def test_staff_without_its_slash_is_behind_the_staff_password(engine: Any, tmp_path: Path) -> None:
    web = client(engine, tmp_path, staff_password=STAFF_PASSWORD)
    r = web.get("/staff", follow_redirects=False)
    assert r.status_code == 401 and 'realm="staff"' in r.headers["www-authenticate"]
    ok = web.get("/staff", auth=("anyone", STAFF_PASSWORD))
    assert ok.status_code == 200 and "Staff review" in ok.text


def test_staff_without_its_slash_is_off_with_the_staff_pages(engine: Any, tmp_path: Path) -> None:
    web = client(engine, tmp_path, host="0.0.0.0", auth=parse_credentials("ann:pw", "test"))
    for path in ("/staff", "/staff/"):
        r = web.get(path, auth=("ann", "pw"), follow_redirects=False)
        assert r.status_code == 404 and "CHATBOT_STAFF_PASSWORD" in r.text, path


# 4. One h1, every control named, contrast


@pytest.fixture(scope="module")
def config(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("staff-config")
    demo = build_staff_app(engine, FeedbackStore(folder / DB_FILENAME))
    return dict(demo.config)


def h1_lines(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if re.match(r"\s{0,3}#(\s|$)", line)]


def test_the_staff_page_has_exactly_one_h1(config: dict[str, Any], engine: Any) -> None:
    markdown = [str(c["props"].get("value") or "") for c in config["components"] if c["type"] == "markdown"]
    assert [h for m in markdown for h in h1_lines(m)] == ["# Staff review"]
    assert not any("<h1" in m.lower() for m in markdown)
    # what a check writes under it adds none, whatever was typed
    text = inspection_markdown(inspect_question(engine, "# Is myeloma curable?\n# and why", ["# earlier"]))
    assert h1_lines(text) == [] and "<h1" not in text.lower()


def test_every_control_on_the_staff_page_has_a_name(config: dict[str, Any]) -> None:
    named = {"textbox", "dataframe", "downloadbutton", "tabitem"}  # by their label
    controls = [c for c in config["components"] if c["type"] in {*named, "button"}]
    assert len(controls) >= 10
    for c in controls:
        props = c["props"]
        name = props.get("label") if c["type"] in named else props.get("value")
        assert isinstance(name, str) and name.strip(), c
        if c["type"] in {"textbox", "dataframe"}:
            assert props.get("show_label") is not False, c  # the label is on the page, not only in code


def _hex(value: str) -> tuple[float, float, float]:
    value = {"white": "#ffffff", "black": "#000000"}.get(value, value).lstrip("#")
    assert re.fullmatch(r"[0-9a-fA-F]{6}", value), value
    return tuple(int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two sRGB colours."""

    def luminance(colour: str) -> float:
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in _hex(colour))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def colour(theme: gr.themes.Base, name: str, dark: bool = False) -> str:
    """A theme variable resolved through its references ("*primary_500", "*neutral_950") as the
    page's CSS does: in dark mode a reference is to the variable's dark value, where it has one."""
    value = str(getattr(theme, name + ("_dark" if dark else "")))
    while value.startswith("*"):
        ref = value[1:]
        value = str(getattr(theme, f"{ref}_dark" if dark and hasattr(theme, f"{ref}_dark") else ref))
    return value


def test_contrast_helper_matches_known_ratios() -> None:
    assert contrast("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast("#ffffff", "#f97316") < 4.5  # Gradio's default primary button: too faint


@pytest.mark.parametrize("mode", ["", "_dark"])
def test_text_on_the_staff_pages_buttons_and_tabs_is_at_least_4_5_to_1(mode: str) -> None:
    t = STAFF_THEME
    pairs = {
        "primary button": ("button_primary_text_color", "button_primary_background_fill"),
        "primary button, hovered": (
            "button_primary_text_color_hover",
            "button_primary_background_fill_hover",
        ),
        "secondary button": ("button_secondary_text_color", "button_secondary_background_fill"),
        "secondary button, hovered": (
            "button_secondary_text_color_hover",
            "button_secondary_background_fill_hover",
        ),
        "body text": ("body_text_color", "background_fill_primary"),
        "subdued text": ("body_text_color_subdued", "background_fill_primary"),
        "labels": ("block_label_text_color", "block_label_background_fill"),
    }
    for what, (fg, bg) in pairs.items():
        ratio = contrast(colour(t, fg, bool(mode)), colour(t, bg, bool(mode)))
        assert ratio >= 4.5, f"{what}{mode}: {ratio:.2f}"
    # the selected tab's text is the accent colour (dark: STAFF_CSS sets it)
    accent = colour(t, "color_accent") if not mode else BLUE_LIGHT
    assert contrast(accent, colour(t, "background_fill_primary", bool(mode))) >= 4.5
    if mode:
        assert f"--color-accent: {BLUE_LIGHT}" in STAFF_CSS


def test_marked_sentences_are_readable() -> None:
    found = re.search(r"mark \{ background: (#[0-9a-f]{6})[^;]*; color: (#[0-9a-f]{6})", STAFF_CSS)
    assert found and contrast(found.group(2), found.group(1)) >= 4.5


def test_the_staff_page_is_mounted_with_its_own_theme_and_css(engine: Any, tmp_path: Path) -> None:
    app = create_app(engine, WebSettings(data_dir=tmp_path / "data"))
    mounted = [r.app for r in app.routes if type(r).__name__ == "Mount" and r.path == "/staff"]
    assert len(mounted) == 1
    blocks = mounted[0].get_blocks()
    assert blocks.theme is STAFF_THEME and STAFF_CSS.strip() in (blocks.css or "")
    assert staff_mount_options()["theme"] is STAFF_THEME


def test_column_widths_add_up_to_the_table(config: dict[str, Any]) -> None:
    for widths in (PASSAGE_WIDTHS, FEEDBACK_WIDTHS, GAP_WIDTHS):
        assert sum(float(w.rstrip("%")) for w in widths) <= 100
    tables = {c["props"]["elem_id"]: c["props"] for c in config["components"] if c["type"] == "dataframe"}
    for props in tables.values():
        assert props["wrap"] is True and len(props["column_widths"]) == len(props["value"]["headers"])


# 3 and 4 in a real browser


TIMEOUT = 20_000  # ms
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


@pytest.fixture(scope="module")
def staff_site(engine: Any, tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[str]:
    data = tmp_path_factory.mktemp("staff-site") / "data"
    store = FeedbackStore(data / DB_FILENAME)
    store.record_gap(GapRecord("Can I eat grapefruit?", (), "grapefruit", engine.build_id, ()))
    store.record_gap(GapRecord(URGENT_Q, (), "refractory myeloma", engine.build_id, (), alert="urgent"))
    question = "What are the symptoms of refractory myeloma?"
    passages = tuple(ShownPassage(p.id, p.section) for p in engine.ask(question).passages)
    comment = "The passage talks about something else entirely " * 3
    store.record_feedback(
        FeedbackRecord(
            question, ("What is myeloma?",), question, passages, engine.build_id, "dislike", "other", comment
        )
    )
    with serving(create_app(engine, WebSettings(data_dir=data))) as url:
        yield url


def open_staff(browser: Any, url: str, scheme: str = "light", viewport: dict[str, int] = WIDE) -> Any:
    page = browser.new_page(viewport=viewport, color_scheme=scheme)
    page.set_default_timeout(TIMEOUT)
    page.goto(url + "/staff")  # without the slash, as staff type it
    page.locator("#staff-question textarea").wait_for()
    return page


def check(page: Any, question: str) -> None:
    page.locator("#staff-question textarea").fill(question)
    page.locator("#staff-check").click()
    page.locator("#staff-summary").get_by_text("Searched for:").wait_for()
    page.locator("#staff-shown mark").filter(visible=True).first.wait_for()
    page.locator("#staff-candidates mark").filter(visible=True).first.wait_for()


SIDEWAYS = """table => {
    const box = table.getBoundingClientRect();
    const scrolls = Array.from(table.querySelectorAll('*'))
        .filter(e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX)
                     && e.scrollWidth > e.clientWidth + 1)
        .map(e => `${e.className}: ${e.scrollWidth} > ${e.clientWidth}`);
    const cut = Array.from(table.querySelectorAll('thead th, [role=gridcell]'))
        .filter(cell => cell.getBoundingClientRect().right > box.right + 1)
        .map(cell => cell.innerText.trim().slice(0, 40));
    return {scrolls, cut};
}"""


@pytest.mark.slow
@pytest.mark.browser
def test_staff_tables_fit_1280_px_and_mark_the_answering_sentences(browser: Any, staff_site: str) -> None:
    page = open_staff(browser, staff_site)
    try:
        check(page, "what is refractory myeloma and how is it treated?")
        for table in ("#staff-shown", "#staff-candidates"):
            headers = page.locator(f"{table} th").all_inner_texts()
            assert any("relevance" in h for h in headers) and any("found by" in h for h in headers)
            assert not any("dense score" in h or "BM25 score" in h for h in headers)
            assert page.locator(table).evaluate(SIDEWAYS) == {"scrolls": [], "cut": []}, table
            marked = page.locator(f"{table} mark").filter(visible=True).first
            assert marked.is_visible() and len(marked.inner_text()) > 20
        for tab, table in (("Recent feedback", "#staff-feedback"), ("Content gaps", "#staff-gaps")):
            page.get_by_role("tab", name=tab).click()
            page.locator(f"{table} [role=gridcell]").first.wait_for()
            assert page.locator(table).evaluate(SIDEWAYS) == {"scrolls": [], "cut": []}, table
            if table == "#staff-feedback":  # a short column still holds its word on one line
                vote = page.locator(f"{table} [role=gridcell][data-col='1'] span").first
                assert vote.inner_text() == "dislike" and vote.evaluate("e => e.getClientRects().length") == 1
        assert "Can I eat grapefruit?" in page.locator("#staff-gaps").inner_text()
        assert URGENT_Q not in page.locator("#staff-gaps").inner_text()
        assert "urgent 1" in page.locator("#staff-gaps-note").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        page.close()


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize(("scheme", "size"), [("light", "desktop"), ("dark", "desktop"), ("light", "phone")])
def test_the_staff_page_has_one_h1_and_nothing_axe_can_find(
    browser: Any, staff_site: str, scheme: str, size: str
) -> None:
    page = open_staff(browser, staff_site, scheme, WIDE if size == "desktop" else PHONE)
    try:
        assert page.locator("h1").all_inner_texts() == ["Staff review"]
        check(page, "How is a bone marrow biopsy done?")
        for control in page.locator("button, textarea, input, [role=tab]").all():
            if control.is_visible():
                name = control.evaluate(
                    "e => e.getAttribute('aria-label') || e.labels?.[0]?.innerText || e.innerText"
                )
                assert (name or "").strip(), control.evaluate("e => e.outerHTML.slice(0, 200)")
        found = {}
        for tab in ("Check a question", "Recent feedback", "Content gaps"):
            if not page.get_by_role("tab", name=tab).is_visible():  # on a phone: under "More tabs"
                page.get_by_role("button", name="More tabs").click()
                page.locator("button:visible", has_text=tab).last.click()
            else:
                page.get_by_role("tab", name=tab).click()
            page.wait_for_timeout(400)  # the tab's underline and colour settle
            found[tab] = axe_violations(page)
        assert found == {tab: [] for tab in found}
        assert page.locator("h1").count() == 1
    finally:
        page.close()
