"""The web server: security headers, passwords, the article route, refusing to be exposed without
a password, and the CLI that serves it and exports feedback."""

from __future__ import annotations

import csv
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from webserver import UNSAFE_NAME, corpus_with_unsafe_page, fake_engine_for, free_port, serving

from chatbot.cli import main
from chatbot.errors import ChatbotError, ExposureError
from chatbot.feedback.records import FeedbackRecord, GapRecord, ShownPassage
from chatbot.feedback.store import DB_FILENAME, FeedbackStore
from chatbot.web.security import CSP
from chatbot.web.server import create_app
from chatbot.web.settings import WebSettings, is_loopback, parse_credentials, settings_from

pytestmark = pytest.mark.app


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("web")
    return fake_engine_for(corpus_with_unsafe_page(folder), folder / "index")


@pytest.fixture
def site(engine: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The whole site served locally; parametrize with WebSettings keyword arguments."""
    extra = getattr(request, "param", {})
    settings = WebSettings(data_dir=tmp_path / "data", **extra)
    with serving(create_app(engine, settings)) as url:
        yield url


def test_every_page_sends_the_security_headers(site: str) -> None:
    r = httpx.get(site + "/")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert csp == CSP
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["img-src"] == "'self' data: blob:"  # no remote image can leak a question
    assert directives["script-src"] == "'self' 'unsafe-inline'"  # no remote script
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "no-referrer"
    api = httpx.get(site + "/gradio_api/info")
    assert api.headers["content-security-policy"] == CSP


def test_the_article_page_is_escaped_and_has_its_own_strict_policy(site: str) -> None:
    r = httpx.get(site + "/article", params={"source": UNSAFE_NAME})
    assert r.status_code == 200
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "script-src" not in r.headers["content-security-policy"]  # no script at all
    assert "<img" not in r.text and "<script>" not in r.text and "&lt;script&gt;" in r.text
    assert httpx.get(site + "/article", params={"source": "nope.md"}).status_code == 404
    assert "refractory-myeloma.txt" in httpx.get(site + "/article").text


@pytest.mark.parametrize("site", [{"auth": parse_credentials("ann:s3cret", "test")}], indirect=True)
def test_a_site_password_guards_everything(site: str) -> None:
    for path in ("/", "/article", "/gradio_api/info", "/staff/"):
        r = httpx.get(site + path)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"].startswith('Basic realm="chat"')
        assert r.headers["content-security-policy"] == CSP
    assert httpx.get(site + "/", auth=("ann", "wrong")).status_code == 401
    assert httpx.get(site + "/", auth=("bob", "s3cret")).status_code == 401
    assert httpx.get(site + "/", auth=("ann", "s3cret")).status_code == 200
    assert (
        httpx.get(site + "/staff/", auth=("ann", "s3cret")).status_code == 200
    )  # loopback, no staff password


@pytest.mark.parametrize("site", [{"staff_password": "staff-only"}], indirect=True)
def test_the_staff_password_guards_the_staff_pages_only(site: str) -> None:
    assert httpx.get(site + "/").status_code == 200  # the patient chat stays open on loopback
    r = httpx.get(site + "/staff/")
    assert r.status_code == 401 and 'realm="staff"' in r.headers["www-authenticate"]
    assert httpx.get(site + "/staff/gradio_api/info").status_code == 401
    assert httpx.get(site + "/staff/", auth=("anyone", "wrong")).status_code == 401
    ok = httpx.get(site + "/staff/", auth=("anyone", "staff-only"))
    assert ok.status_code == 200 and "Staff review" in ok.text


@pytest.mark.parametrize(
    "site", [{"host": "0.0.0.0", "auth": parse_credentials("ann:pw", "test")}], indirect=True
)
def test_exposed_without_a_staff_password_there_are_no_staff_pages(site: str) -> None:
    r = httpx.get(site + "/staff/", auth=("ann", "pw"))
    assert r.status_code == 404 and "CHATBOT_STAFF_PASSWORD" in r.text


def test_the_patient_page_holds_no_staff_data(site: str) -> None:
    config = httpx.get(site + "/config").json()
    text = json.dumps(config)
    assert "staff-" not in text and "Recent feedback" not in text and "Content gaps" not in text
    assert config.get("footer_links", []) == []


def test_exposure_needs_a_password() -> None:
    WebSettings().check()
    WebSettings(host="localhost").check()
    with pytest.raises(ExposureError, match=r"refusing to serve on 0\.0\.0\.0 without a password.*--auth"):
        WebSettings(host="0.0.0.0").check()
    WebSettings(host="0.0.0.0", auth=parse_credentials("a:twelve-chars", "x")).check()
    # A short password is refused at start, naming the fix (the gate only slows guessing).
    with pytest.raises(ChatbotError, match=r"site password is 3 characters: use at least 12 .*--auth-file"):
        WebSettings(host="0.0.0.0", auth=parse_credentials("a:abc", "x")).check()
    with pytest.raises(ChatbotError, match=r"staff password is 1 characters.*--staff-password-file"):
        WebSettings(staff_password="x").check()
    assert is_loopback("127.0.0.5") and is_loopback("::1") and not is_loopback("192.168.1.4")
    assert not WebSettings(host="10.0.0.1").staff_enabled
    assert WebSettings(host="10.0.0.1", staff_password="x").staff_enabled


def test_settings_come_from_flags_then_the_environment(tmp_path: Path) -> None:
    env = {"CHATBOT_AUTH": "ann:pw:with:colons", "CHATBOT_STAFF_PASSWORD": "st", "CHATBOT_DATA_DIR": "/d"}
    s = settings_from(environ=env)
    assert s.auth is not None and (s.auth.user, s.auth.password) == ("ann", "pw:with:colons")
    assert s.staff_password == "st" and s.data_dir == Path("/d")
    s = settings_from(auth="bob:x", staff_password="flag", data_dir=tmp_path, environ=env)
    assert (
        s.auth is not None and s.auth.user == "bob" and s.staff_password == "flag" and s.data_dir == tmp_path
    )
    assert "pw" not in repr(settings_from(environ=env))  # passwords stay out of logs
    for bad in ("nopassword", ":pw", "user:"):
        with pytest.raises(ChatbotError, match="USER:PASSWORD"):
            parse_credentials(bad, "--auth")


def test_serve_refuses_an_exposed_host_without_a_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHATBOT_AUTH", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: refusing to serve on 0.0.0.0 without a password")
    assert len(err.splitlines()) == 1
    monkeypatch.setenv("CHATBOT_AUTH", "broken")
    assert main(["serve", "--host", "0.0.0.0"]) == 1
    assert "CHATBOT_AUTH must look like USER:PASSWORD" in capsys.readouterr().err


def test_serve_binds_loopback_by_default(
    fake_model: Any, tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chatbot.web.server

    seen: dict[str, Any] = {}
    server = lambda config: SimpleNamespace(run=lambda: seen.update(vars(config)))  # noqa: E731
    monkeypatch.setattr(chatbot.web.server, "_stoppable_server", server)
    port = free_port()  # 7860 may be taken by a chat running on this machine
    argv = ["serve", "--corpus", str(corpus_dir), "--index", str(tmp_path / "index"), "--data", str(tmp_path)]
    assert main([*argv, "--port", str(port)]) == 0
    assert seen["host"] == "127.0.0.1" and seen["port"] == port


def test_serve_refuses_an_address_it_cannot_use_before_loading_the_model(
    fake_model: Any,
    tmp_path: Path,
    corpus_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = ["--corpus", str(corpus_dir), "--index", str(tmp_path / "index"), "--data", str(tmp_path)]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", *paths, "--port", str(port)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: port {port} on 127.0.0.1 is already in use (another `chatbot serve`?). Stop the "
        "program using it, or choose another port with --port N."
    )
    assert not (tmp_path / "index").exists()  # refused before the index was built or the model loaded

    monkeypatch.setenv("CHATBOT_AUTH", "a:long-enough-pw")  # --auth would add its `ps` warning
    assert main(["serve", *paths, "--host", "no-such-host.invalid"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: cannot serve on no-such-host.invalid:7860 (") and "--host" in line


def _fill(data: Path) -> None:
    store = FeedbackStore(data / DB_FILENAME)
    passages = (ShownPassage("p1", "Title › Section"),)
    store.record_feedback(FeedbackRecord('Q, with "quotes"', ("earlier",), "q", passages, "b1", "like"))
    store.record_feedback(FeedbackRecord("Q2", (), "q2", (), "b1", "dislike", "other", "free text"))
    store.record_gap(GapRecord("Grapefruit?", (), "grapefruit", "b1", ("Title › Section",)))


def test_feedback_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    _fill(data)
    assert main(["feedback", "export", "--data", str(data)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["question"] for r in rows] == ['Q, with "quotes"', "Q2"]
    assert rows[1]["reason"] == "other" and json.loads(rows[0]["passage_ids"]) == ["p1"]
    out = tmp_path / "gaps.jsonl"
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(data))
    assert main(["feedback", "export", "--format", "jsonl", "--kind", "gaps", "--out", str(out)]) == 0
    gaps = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["question"] for g in gaps] == ["Grapefruit?"]
    assert main(["feedback", "export", "--format", "xml"]) == 2
    assert main(["feedback", "export", "--out", str(tmp_path / "missing" / "x.csv")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_feedback_export_of_an_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feedback", "export", "--data", str(tmp_path / "none")]) == 0
    assert capsys.readouterr().out.startswith("time,question,history")
    assert not (tmp_path / "none").exists()  # reading never creates the database
