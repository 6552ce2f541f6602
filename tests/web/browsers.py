"""What the browser tests share: Debian's Chromium driven by Python playwright, and axe-core.

Without Chromium, playwright or axe-core the tests that need them skip and say why; under CI=true
(as `.ci/run` sets) they fail instead, so CI always runs them. axe-core is installed from npm by
`make install`, at the version tests/web/axe/package-lock.json pins.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("CHATBOT_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(
    os.environ.get("CHATBOT_AXE", Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js")
)
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The WCAG 2.0 and 2.1 rules at levels A and AA.
AXE_RUN = """async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}))
    .violations.map(v => [v.id, v.nodes.length])"""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Skip, saying why; in CI, fail: there the check must run."""
    if in_ci():
        pytest.fail(f"must run in CI, but: {reason}")
    pytest.skip(reason)


def launch() -> Iterator[Any]:
    """A headless Chromium for a module's tests (a fixture's body: `yield from launch()`)."""
    if importlib.util.find_spec("playwright") is None:
        unavailable("Python playwright is not installed (run: make install)")
    if not CHROMIUM.exists():
        unavailable(f"no Chromium at {CHROMIUM} (install it with: apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


def axe_violations(page: Any) -> list[tuple[str, int]]:
    """axe-core's WCAG 2.1 AA violations on the page as it is now: (rule, how many nodes)."""
    if not AXE.exists():
        unavailable(f"axe-core not found at {AXE} (run: make install, or set CHATBOT_AXE)")
    # evaluated, not added as a script tag: a page whose CSP forbids inline scripts (the article
    # view) is still checked
    page.evaluate(AXE.read_text(encoding="utf-8"))
    # colours still fading in (a new message, a hover) would be measured half-way
    # (only those that end: a spinner runs for ever)
    page.evaluate(
        """() => Promise.all(document.getAnimations()
            .filter(a => a.effect && a.effect.getComputedTiming().endTime !== Infinity)
            .map(a => a.finished.catch(() => null)))"""
    )
    return [(rule, n) for rule, n in page.evaluate(AXE_RUN)]
