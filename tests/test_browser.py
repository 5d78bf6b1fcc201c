"""The HTML page in a real Chromium (Debian's, driven by Playwright's Python package).

The page must load nothing but itself, run nothing (the hostile strings of the sample
document stay text), show the right counts, and its anchors and <details> must work.
Skipped when Chromium or Playwright is missing, unless GRADCONF_REQUIRE_BROWSER=1 (CI),
which turns that into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gradconf.kinds import FAILING, VERDICTS
from gradconf.report.html import render
from test_results import EXPECTED_COUNTS, hostile, sample_document

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 5000


def _missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"the playwright Python package is missing ({exc}; pip install playwright)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the module."""
    missing = _missing()
    if missing:
        if os.environ.get("GRADCONF_REQUIRE_BROWSER") == "1":
            pytest.fail(f"GRADCONF_REQUIRE_BROWSER=1, but {missing}", pytrace=False)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Session:
    """An opened report page and everything it did."""

    page: Any
    doc: dict[str, Any]
    url: str
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def anchor(self, **match: Any) -> str:
        """The page anchor of the only record whose fields equal ``match``."""
        (i,) = [i for i, r in enumerate(self.doc["records"])
                if all(r.get(k) == v for k, v in match.items())]
        return f"r{i}"

    def assert_quiet(self) -> None:
        """Nothing fetched but the page, nothing logged as an error, no dialog."""
        assert self.requests == [self.url]
        assert self.blocked == []
        assert self.console_errors == []
        assert self.dialogs == []


@pytest.fixture
def opened(browser: Any, tmp_path: Path) -> Iterator[Session]:
    """The sample document rendered to tmp_path/index.html and opened via file://."""
    doc = sample_document()
    path = tmp_path / "index.html"
    path.write_text(render(doc), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    session = Session(page=None, doc=doc, url=path.as_uri())

    def route(r: Any) -> None:
        if r.request.url == session.url:
            r.continue_()
        else:  # nothing else may load; should anything try, it is recorded and refused
            session.blocked.append(r.request.url)
            r.abort()

    def dialog(d: Any) -> None:
        session.dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda req: session.requests.append(req.url))
    page.on("console", lambda m: session.console_errors.append(m.text)
            if m.type == "error" else None)
    page.on("pageerror", lambda exc: session.console_errors.append(str(exc)))
    page.on("dialog", dialog)
    session.page = page
    page.goto(session.url, wait_until="load")
    try:
        yield session
    finally:
        context.close()


def test_page_loads_nothing_and_runs_nothing(opened: Session) -> None:
    from playwright.sync_api import expect

    page = opened.page
    assert page.title() == f"gradconf report — {len(opened.doc['records'])} records"
    assert page.evaluate("document.scripts.length") == 0
    assert page.evaluate("performance.getEntriesByType('resource').length") == 0
    # the hostile title is shown as text; hovering it would fire an injected handler
    heading = page.locator("h3[id^=case-]", has_text="<script>alert(1)</script>")
    expect(heading).to_have_count(1)
    expect(heading.locator("span.muted")).to_have_text(f"— {hostile('title')}")
    heading.hover()
    page.locator("text=onmouseover=alert(2) message").first.hover()
    page.wait_for_timeout(100)
    assert page.evaluate("[...document.querySelectorAll('*')].filter(e => "
                         "[...e.attributes].some(a => a.name.startsWith('on'))).length") == 0
    opened.assert_quiet()


def test_verdict_table_shows_the_counts(opened: Session) -> None:
    rows = opened.page.locator("#counts + table tr")
    texts = [[c.strip() for c in rows.nth(i).locator("th, td").all_inner_texts()]
             for i in range(rows.count())]
    shown = [v for v in VERDICTS if any(v in c for c in EXPECTED_COUNTS.values())]
    assert texts[0] == ["framework", *shown, "total"]
    expected = [[fw, *(str(EXPECTED_COUNTS[fw].get(v, 0)) for v in shown),
                 str(sum(EXPECTED_COUNTS[fw].values()))] for fw in sorted(EXPECTED_COUNTS)]
    assert texts[1:] == expected
    assert texts[1:] == [["jax", "4", "0", "1", "0", "0", "0", "5"],
                         ["torch", "2", "1", "1", "1", "2", "1", "8"]]
    opened.assert_quiet()


def test_failing_badge_leads_to_its_open_details(opened: Session) -> None:
    from playwright.sync_api import expect

    page = opened.page
    anchor = opened.anchor(framework="torch", case="square", check="vjp")
    assert opened.doc["records"][int(anchor[1:])]["verdict"] in FAILING
    # scroll away from the matrix first so the jump is a real one
    page.locator(f"#{anchor}").scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, 0)")
    badge = page.locator(f'table.matrix a.badge[href="#{anchor}"]')
    expect(badge).to_have_count(1)
    expect(badge).to_have_text("torch f32")  # the page merges two frameworks
    badge.click()
    expect(page).to_have_url(f"{opened.url}#{anchor}")
    target = page.locator(f"details#{anchor}")
    assert target.evaluate("d => d.open") is True
    expect(target).to_be_in_viewport()
    sides = target.locator("table").first
    expect(sides).to_be_visible()
    expect(sides).to_be_in_viewport()
    expect(sides.locator("th")).to_have_text(["", "observed (torch)", "oracle",
                                              "golden (notes)"])
    cells = sides.locator("tr").nth(1).locator("td")
    expect(cells).to_have_count(4)
    expect(cells.nth(0)).to_have_text("X")
    expect(cells.nth(1)).to_contain_text("3.25")
    expect(cells.nth(2)).to_contain_text("3.")
    expect(cells.nth(3)).to_contain_text("3.0001")
    for i in (1, 2, 3):
        expect(cells.nth(i)).to_be_visible()
    opened.assert_quiet()


def test_passing_details_open_on_click(opened: Session) -> None:
    from playwright.sync_api import expect

    page = opened.page
    anchor = opened.anchor(framework="torch", case="square", check="value")
    assert opened.doc["records"][int(anchor[1:])]["verdict"] == "pass"
    target = page.locator(f"details#{anchor}")
    sides = target.locator("table").first
    assert target.evaluate("d => d.open") is False
    expect(sides).to_be_hidden()
    badge = page.locator(f'table.matrix a.badge[href="#{anchor}"]')
    expect(badge).to_be_hidden()  # a cell's passes are folded behind their count
    fold = page.locator("table.matrix details.fold",
                        has=page.locator(f'a.badge[href="#{anchor}"]'))
    expect(fold.locator("> summary")).to_contain_text("pass")
    fold.locator("> summary").click()
    expect(badge).to_be_visible()
    badge.click()
    expect(page).to_have_url(f"{opened.url}#{anchor}")
    assert target.evaluate("d => d.open") is False  # navigating does not open it
    target.locator("> summary").click()
    assert target.evaluate("d => d.open") is True
    expect(sides).to_be_visible()
    expect(sides.locator("tr").nth(1).locator("td").nth(1)).to_have_text("[2., 4.]")
    target.locator("> summary").click()
    assert target.evaluate("d => d.open") is False
    opened.assert_quiet()


def test_full_page_screenshot(opened: Session, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    opened.page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 1280 and height > 800  # the whole page, longer than the viewport
    opened.assert_quiet()
