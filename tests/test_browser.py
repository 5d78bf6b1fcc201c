"""The HTML page in a real Chromium (Debian's, driven by Playwright's Python package).

The page must load nothing but itself, run nothing but its own script (the hostile strings
of the sample document stay text), show the right counts, and its filters (kept in the
URL), heatmap, details and reproducer copy button must work; the diff page's filters too.
Skipped when Chromium or Playwright is missing, unless GRADCONF_REQUIRE_BROWSER=1 (CI),
which turns that into a failure.
"""

from __future__ import annotations

import functools
import http.server
import math
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gradconf.diff import diff
from gradconf.kinds import FAILING, VERDICTS
from gradconf.report.html import render, render_diff
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

    def index(self, **match: Any) -> int:
        """The index of the only record whose fields equal ``match``."""
        (i,) = [i for i, r in enumerate(self.doc["records"])
                if all(r.get(k) == v for k, v in match.items())]
        return i

    def rows(self) -> list[str]:
        """The shown record rows' ids (r<index>)."""
        return [str(x) for x in self.page.locator("#records tbody tr.rec").evaluate_all(
            "rows => rows.map(r => r.id)")]

    def assert_quiet(self) -> None:
        """Nothing fetched but the page, nothing logged as an error, no dialog."""
        assert self.requests == [self.url]
        assert self.blocked == []
        assert self.console_errors == []
        assert self.dialogs == []


REPRODUCER = 'import torch\nx = torch.tensor([3.0], requires_grad=True)\nprint("</script>", x)\n'


def _document() -> dict[str, Any]:
    """The sample document; its torch mismatch carries a reproducer."""
    doc = sample_document()
    (rec,) = [r for r in doc["records"] if r["verdict"] == "mismatch" and r["framework"] == "torch"]
    rec["reproducer"] = REPRODUCER
    return doc


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[str]:
    """tmp_path over http on 127.0.0.1 (the clipboard wants a secure context)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _open(browser: Any, path: Path, doc: dict[str, Any], url: str, fragment: str = "",
          permissions: list[str] | None = None) -> tuple[Session, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  permissions=permissions or [])
    context.set_default_timeout(TIMEOUT_MS)
    session = Session(page=None, doc=doc, url=url)

    def route(r: Any) -> None:
        if r.request.url.split("#")[0] == session.url:
            r.continue_()
        else:  # nothing else may load; should anything try, it is recorded and refused
            session.blocked.append(r.request.url)
            r.abort()

    def dialog(d: Any) -> None:
        session.dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda req: session.requests.append(req.url.split("#")[0]))
    page.on("console", lambda m: session.console_errors.append(m.text)
            if m.type == "error" else None)
    page.on("pageerror", lambda exc: session.console_errors.append(str(exc)))
    page.on("dialog", dialog)
    session.page = page
    page.goto(session.url + fragment, wait_until="load")
    return session, context


@pytest.fixture
def opened(browser: Any, tmp_path: Path) -> Iterator[Session]:
    """The sample document rendered to tmp_path/index.html and opened via file://."""
    doc = _document()
    path = tmp_path / "index.html"
    path.write_text(render(doc), encoding="utf-8")
    session, context = _open(browser, path, doc, path.as_uri())
    try:
        yield session
    finally:
        context.close()


def test_page_loads_nothing_and_runs_nothing_injected(opened: Session) -> None:
    from playwright.sync_api import expect

    page = opened.page
    assert page.title() == f"gradconf report — {len(opened.doc['records'])} records"
    # its own three scripts (two JSON blocks, one program) and nothing injected
    assert page.evaluate("[...document.scripts].map(s => s.type || 'inline')") == [
        "application/json", "application/json", "inline"]
    assert page.evaluate("performance.getEntriesByType('resource').length") == 0
    page.fill("#f-q", "hostile")
    expect(page.locator("#records tbody tr.rec")).to_have_count(1)
    row = page.locator("#records tbody tr.rec")
    expect(row).to_contain_text("onmouseover=alert(2) message")
    row.click()
    box = page.locator(".detail-box")
    expect(box.locator(".title")).to_have_text(hostile("title"))
    expect(box).to_contain_text(hostile("error"))
    box.locator(".title").hover()
    row.hover()
    page.wait_for_timeout(100)
    assert page.evaluate("document.scripts.length") == 3
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


def test_a_filter_through_the_ui_is_in_the_url_and_the_rows(opened: Session) -> None:
    from playwright.sync_api import expect

    page = opened.page
    assert len(opened.rows()) == len(opened.doc["records"])
    page.select_option("#f-fw", "torch")
    page.select_option("#f-v", "failing")
    expect(page).to_have_url(f"{opened.url}#fw=torch&v=failing")
    want = [f"r{i}" for i, r in enumerate(opened.doc["records"])
            if r["framework"] == "torch" and r["verdict"] in FAILING]
    expect(page.locator("#records tbody tr.rec")).to_have_count(len(want))
    assert opened.rows() == want and len(want) == 5
    page.select_option("#f-v", "mismatch")
    expect(page).to_have_url(f"{opened.url}#fw=torch&v=mismatch")
    assert opened.rows() == [f"r{opened.index(framework='torch', verdict='mismatch')}"]
    opened.assert_quiet()


def test_a_url_with_filter_state_opens_that_view(browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    doc = _document()
    path = tmp_path / "index.html"
    path.write_text(render(doc), encoding="utf-8")
    session, context = _open(browser, path, doc, path.as_uri(), "#fw=jax&s=rel")
    try:
        page = session.page
        expect(page.locator("#f-fw")).to_have_value("jax")
        expect(page.locator("#f-s")).to_have_value("rel")
        jax = [i for i, r in enumerate(doc["records"]) if r["framework"] == "jax"]
        by_rel = sorted(jax, key=lambda i: (-(doc["records"][i]["max_rel_err"] or -1), i))
        assert session.rows() == [f"r{i}" for i in by_rel]
        assert doc["records"][by_rel[0]]["verdict"] == "mismatch"
        session.assert_quiet()
    finally:
        context.close()


def test_a_failing_record_shows_observed_oracle_and_golden(opened: Session) -> None:
    from playwright.sync_api import expect

    page = opened.page
    i = opened.index(framework="torch", case="square", check="vjp")
    assert opened.doc["records"][i]["verdict"] in FAILING
    page.locator(f"#r{i}").click()
    expect(page).to_have_url(f"{opened.url}#o={i}")
    box = page.locator(f"#detail-r{i}")
    expect(box).to_be_visible()
    sides = box.locator("table.sides")
    expect(sides.locator("th")).to_have_text(["", "observed (torch)", "oracle",
                                              "golden (notes)"])
    cells = sides.locator("tr").nth(1).locator("td")
    expect(cells).to_have_count(4)
    expect(cells.nth(0)).to_have_text("X")
    expect(cells.nth(1)).to_contain_text("3.25")
    expect(cells.nth(2)).to_contain_text("3.")
    expect(cells.nth(3)).to_contain_text("3.0001")
    kv = box.locator("table.kv")
    expect(kv).to_contain_text("worst entry")
    expect(kv).to_contain_text("rtol 1.91e-06")
    expect(kv).to_contain_text("oracle error estimate")
    link = box.locator("a.source")
    expect(link).to_have_attribute("href", "../cases/synthetic.yaml")
    expect(link).to_have_text("cases/synthetic.yaml:3")
    expect(box.locator("pre.reproducer-code")).to_have_text(REPRODUCER)
    # a passing record has no reproducer block
    j = opened.index(framework="torch", case="square", check="value")
    page.locator(f"#r{j}").click()
    expect(page.locator(f"#detail-r{j} .reproducer")).to_have_count(0)
    expect(page.locator(f"#detail-r{j} table.sides tr").nth(1).locator("td").nth(1)
           ).to_have_text("x = [2., 4.]")
    opened.assert_quiet()


def test_copy_puts_the_reproducer_on_the_clipboard(browser: Any, tmp_path: Path,
                                                   serve: str) -> None:
    from playwright.sync_api import expect

    doc = _document()
    path = tmp_path / "index.html"
    path.write_text(render(doc), encoding="utf-8")
    i = next(k for k, r in enumerate(doc["records"]) if r.get("reproducer"))
    session, context = _open(browser, path, doc, f"{serve}/index.html", f"#o={i}",
                             permissions=["clipboard-read", "clipboard-write"])
    try:
        page = session.page
        button = page.locator(f"#detail-r{i} button.copy")
        expect(button).to_be_visible()
        button.click()
        expect(button).to_have_text("copied")
        assert page.evaluate("navigator.clipboard.readText()") == REPRODUCER
        session.requests = [u for u in session.requests if not u.endswith("/favicon.ico")]
        session.blocked = [u for u in session.blocked if not u.endswith("/favicon.ico")]
        session.assert_quiet()
    finally:
        context.close()


def test_a_heatmap_cell_filters_to_its_records(opened: Session) -> None:
    from playwright.sync_api import expect

    page = opened.page
    at = page.evaluate("gradconf.heatmap.position('cases/synthetic.yaml::square', 'torch', "
                       "'eager', 'vjp')")
    assert at is not None
    page.locator("#heatmap-canvas").click(position={"x": at["x"], "y": at["y"]})
    expect(page).to_have_url(
        f"{opened.url}#c=cases%2Fsynthetic.yaml%3A%3Asquare&ex=eager&fw=torch&k=vjp")
    assert opened.rows() == [f"r{opened.index(framework='torch', case='square', check='vjp')}"]
    expect(page.locator("#f-fw")).to_have_value("torch")
    expect(page.locator("#f-case")).to_contain_text("cases/synthetic.yaml::square")
    page.locator("#f-case button").click()
    expect(page).to_have_url(f"{opened.url}#ex=eager&fw=torch&k=vjp")
    opened.assert_quiet()


def test_diff_page_filters_by_category_with_url_state(browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    base = sample_document()
    cand = sample_document()
    for r in cand["records"]:
        if r["verdict"] == "pass" and r["framework"] == "jax":
            r.update(verdict="mismatch", message="worse <script>alert(5)</script>")
    cand["records"] = [r for r in cand["records"] if r["case"] != "graph"]
    out = diff(base, cand)
    path = tmp_path / "diff.html"
    path.write_text(render_diff(out), encoding="utf-8")
    session, context = _open(browser, path, out, path.as_uri())
    try:
        page = session.page
        rows = page.locator("#changes tbody tr.group")
        expect(rows).to_have_count(len({(c["category"], c["case"], c["framework"])
                                        for c in out["changes"]}))
        page.select_option("#f-cat", "regression")
        expect(page).to_have_url(f"{session.url}#cat=regression")
        regressions = [c for c in out["changes"] if c["category"] == "regression"]
        assert len(regressions) == 4
        expect(rows).to_have_count(len({c["case"] for c in regressions}))
        for r in rows.all():
            assert r.get_attribute("data-category") == "regression"
        rows.first.click()
        expect(page.locator("tr.items-row table.items tr")).not_to_have_count(0)
        expect(page.locator("#changes")).to_contain_text("alert(5)")
        assert page.evaluate("document.scripts.length") == 3
        page.goto(f"{session.url}#cat=removed")
        page.reload()
        expect(page.locator("#f-cat")).to_have_value("removed")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("graph")
        assert session.blocked == [] and session.console_errors == [] and session.dialogs == []
    finally:
        context.close()


def test_full_page_screenshot(opened: Session, tmp_path: Path) -> None:
    page = opened.page
    page.locator(f"#r{opened.index(framework='torch', case='square', check='vjp')}").click()
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 1280 and height > 800  # the whole page, longer than the viewport
    artifacts = os.environ.get("GRADCONF_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        (Path(artifacts) / "report.png").write_bytes(data)
    opened.assert_quiet()


def test_a_move_from_nan_is_shown_on_the_diff_page(browser: Any, tmp_path: Path) -> None:
    """A value that was NaN in the base and is finite in the candidate: the page renders
    (its data is strict JSON) and the row shows the move."""
    from playwright.sync_api import expect

    from gradconf.arrays import encode

    base, cand = sample_document(), sample_document()
    (rec,) = [r for r in base["records"] if r["framework"] == "torch" and r["case"] == "square"
              and r["check"] == "vjp"]
    rec["observed"] = {"X": encode([float("nan")])}
    rec.update(verdict="nan", message="NaN where the reference is finite")
    for r in cand["records"]:
        if (r["framework"], r["case"], r["check"]) == ("torch", "square", "vjp"):
            r.update(verdict="pass", message="", observed={"X": encode([0.0])})
    out = diff(base, cand)
    (change,) = [c for c in out["changes"] if c["case"] == "square" and c["check"] == "vjp"]
    assert change["values"]["base"] == "NaN" and change["values"]["candidate"] == 0.0
    path = tmp_path / "diff.html"
    path.write_text(render_diff(out), encoding="utf-8")
    session, context = _open(browser, path, out, path.as_uri(), "#cat=fix")
    try:
        row = session.page.locator("#changes tbody tr.group", has_text="square")
        expect(row).to_have_count(1)
        expect(row.locator("td").nth(5)).to_have_text("X[0]: NaN → 0.0")
        session.assert_quiet()
    finally:
        context.close()


# ------------------------------------------------------- a real record and its reproducer

NUMBER = re.compile(r"[-+]?(?:nan|inf(?:inity)?|(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)", re.I)


def _numbers(text: str) -> list[float]:
    """The numbers written in ``text`` (an array as the page or a script prints it)."""
    return [float(m) for m in NUMBER.findall(text)]


def _same(a: list[float], b: list[float]) -> bool:
    """Equal float by float, NaN equal to NaN."""
    return len(a) == len(b) and all(x == y or (math.isnan(x) and math.isnan(y))
                                    for x, y in zip(a, b, strict=True))


CASE_FILE, CASE_ID = "cases/piecewise-binary.yaml", "pw-hypot-origin"


@pytest.mark.torch
def test_a_real_records_copied_reproducer_prints_the_number_the_page_shows(
        browser: Any, tmp_path: Path, serve: str) -> None:
    """torch's hypot at the origin (a declared bug: NaN where 0 is a subgradient), run
    through the plugin; its page opened in Chromium, the record's detail opened by a click,
    its reproducer copied with the page's button, and the copied script run: it prints the
    observed value the page shows."""
    pytest.importorskip("gradconf_adapters.torch_adapter")
    from playwright.sync_api import expect

    from gradconf.results import merge

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root / "tests")}
    env.pop("GRADCONF_FRAMEWORK", None)
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           CASE_FILE, "--framework", "torch", "-k", CASE_ID,
                           "--results-dir", str(out)], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = merge([out / "torch.jsonl"])
    (i,) = [k for k, r in enumerate(doc["records"])
            if (r["case"], r["check"], r["dtype"]) == (CASE_ID, "vjp", "float64")]
    rec = doc["records"][i]
    assert rec["verdict"] == "expected_divergence" and rec["reproducer"], rec["verdict"]
    (tmp_path / "index.html").write_text(render(doc), encoding="utf-8")
    session, context = _open(browser, tmp_path / "index.html", doc, f"{serve}/index.html",
                             permissions=["clipboard-read", "clipboard-write"])
    try:
        page = session.page
        page.fill("#f-q", CASE_ID)
        page.select_option("#f-v", "expected_divergence")
        page.select_option("#f-k", "vjp")
        page.select_option("#f-dt", "float64")
        expect(page.locator("#records tbody tr.rec")).to_have_count(1)
        page.locator(f"#r{i}").click()  # the row, through the UI
        expect(page).to_have_url(re.compile(rf"[#&]o={i}(&|$)"))
        box = page.locator(f"#detail-r{i}")
        expect(box).to_be_visible()
        shot = tmp_path / "reproducer-detail.png"
        box.screenshot(path=str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        artifacts = os.environ.get("GRADCONF_ARTIFACTS")
        if artifacts:
            Path(artifacts).mkdir(parents=True, exist_ok=True)
            (Path(artifacts) / shot.name).write_bytes(shot.read_bytes())
        # the observed value the page shows, per name; NaN where the oracle is finite
        cells = box.locator("table.sides tr").evaluate_all(
            "rows => rows.slice(1).map(r => [...r.cells].map(c => c.textContent))")
        shown = {name: _numbers(observed) for name, observed, _, _ in cells}
        oracle = {name: _numbers(ref) for name, _, ref, _ in cells}
        assert set(shown) == set(rec["observed"]) == {"x", "y"}
        assert math.isnan(shown["x"][0]) and oracle["x"][0] == 0.0
        button = box.locator("button.copy")
        button.click()
        expect(button).to_have_text("copied")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == rec["reproducer"]
        session.requests = [u for u in session.requests if not u.endswith("/favicon.ico")]
        session.blocked = [u for u in session.blocked if not u.endswith("/favicon.ico")]
        session.assert_quiet()
    finally:
        context.close()
    script = tmp_path / "reproducer.py"
    script.write_text(copied, encoding="utf-8")
    ran = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env={k: v for k, v in os.environ.items()
                                                      if k != "PYTHONPATH"})
    assert ran.returncode == 0, ran.stderr[-3000:]
    printed = {}
    for line in ran.stdout.splitlines():
        name, _, value = line.partition(" = ")
        if value:
            printed[name.strip()] = _numbers(value)
    assert set(printed) == set(shown), ran.stdout
    for name in shown:
        assert _same(printed[name], shown[name]), (name, printed[name], shown[name])


def test_the_heatmap_and_tables_are_drawn_after_the_rows_without_being_asked(
        opened: Session) -> None:
    """The heatmap and the side-by-side and probe tables come just after the first rows:
    nothing but the page's own timers draws them."""
    from playwright.sync_api import expect

    page = opened.page
    expect(page.locator("#sbs tbody tr")).not_to_have_count(0)
    expect(page.locator("#probe-table tbody tr")).not_to_have_count(0)
    expect(page.locator("#heatmap-size")).to_contain_text("cases ×")
    assert page.evaluate("gradconf.drawn()") is True
    assert page.evaluate("document.getElementById('heatmap-canvas').height") > 100
    opened.assert_quiet()
