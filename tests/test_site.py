"""The built HTML in a real, offline, headless Chromium.

For every page in the table of contents: serve ``_build/html`` on 127.0.0.1, abort every request that
is not to that server, and check that every output image loads, no console error comes from local
resources (beyond a short documented allow-list), widgets render from their saved state, and no output
block (printed text, table, figure) is wider than the article column at a 1280 px window. For
kernel-free widgets (frames precomputed by :mod:`plasticity_sim.widgets`), move every control and check
that the visible frame becomes the expected one. Screenshots go to ``_build/screenshots/``.
"""
from __future__ import annotations

import functools
import html.parser
import http.server
import re
import shutil
import tempfile
import threading
import warnings
from pathlib import Path

import pytest

from tools.book import toc_notebooks, toc_pages

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "_build" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Nothing is allow-listed any more: the duplicate inline thebe script is dropped by _ext/book_fixes.py
# and the widget bundle's Font Awesome 4 @font-face rules (six .woff2/.woff/.ttf 404s per widget page)
# are stripped by _vendor/widgets/widget-fixes.js. A new console error fails the page.
ALLOWED_PAGE_ERRORS: list[re.Pattern] = []
ALLOWED_CONSOLE = [
    re.compile(r"Got invalid theme mode"),          # pydata-sphinx-theme, fresh profile
]
PAGES = [str(p.relative_to(ROOT).with_suffix(".html")) for p in toc_pages(ROOT)]   # every page, in book order


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def server(built_book):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser_context():
    exe = _chromium()
    if exe is None:
        pytest.fail("no chromium on PATH: install Debian's 'chromium' package (the README's test command"
                    " does this when run as root)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=exe, headless=True, args=FLAGS,
                                                   viewport={"width": 1280, "height": 1400})
        yield ctx
        ctx.close()


def _open(ctx, base: str, page_path: str):
    page = ctx.new_page()
    log = {"console": [], "page": [], "blocked": []}
    page.on("console", lambda m: log["console"].append((m.type, m.text, (m.location or {}).get("url", ""))))
    page.on("pageerror", lambda e: log["page"].append(str(e)))

    def route(r):
        if r.request.url.startswith(base) or r.request.url.startswith("data:") or r.request.url.startswith("blob:"):
            r.continue_()
        else:
            log["blocked"].append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(f"{base}/{page_path}", wait_until="load")
    return page, log


# Math: MathJax marks a TeX error with <mjx-merror> (and data-mjx-error); a "$" left in the page text is
# math that MyST did not parse (e.g. a $$ block inside an admonition), shown to the reader as raw TeX.
MATH_ERRORS = """() => Array.from(document.querySelectorAll('mjx-merror, [data-mjx-error]'))
    .map(e => e.getAttribute('data-mjx-error') || e.textContent).slice(0, 5)"""


class _Text(html.parser.HTMLParser):
    """The reader-visible text of a page's article: no code, scripts, styles or cell outputs."""
    SKIP = {"script", "style", "pre", "code", "textarea", "template"}

    def __init__(self):
        super().__init__()
        self.depth, self.skip, self.inside, self.parts = 0, 0, 0, []

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class") or ""
        if tag == "article":
            self.inside += 1
        if tag in self.SKIP or "cell_output" in cls.split():
            self.skip += 1 if tag in self.SKIP or tag == "div" else 0
            if tag == "div":
                self.depth = 1
                return
        if self.depth and tag == "div":
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == "article":
            self.inside -= 1
        if tag in self.SKIP:
            self.skip -= 1
        elif tag == "div" and self.depth:
            self.depth -= 1
            if self.depth == 0:
                self.skip -= 1

    def handle_data(self, data):
        if self.inside and not self.skip:
            self.parts.append(data)


def raw_dollars(html_text: str) -> list[str]:
    """Snippets around every ``$`` in the article text of a built page (math that was not parsed)."""
    p = _Text()
    p.feed(html_text)
    text = " ".join(" ".join(p.parts).split())
    return [text[max(0, m.start() - 40):m.end() + 40] for m in re.finditer(r"\$", text)]


def test_raw_dollar_detector_catches_unparsed_math():
    page = ('<article><p>a bound $x \\le 1$ left raw</p><div class="cell_output"><pre>$ ok</pre></div>'
            '<p><span class="math">\\(x\\)</span> fine</p><pre>cost = "$5"</pre></article>')
    found = raw_dollars(page)
    assert len(found) == 2 and "a bound" in found[0], found


# Known broken, owned by the DASH pages' editor (issue #15): strict, so the fix must also remove this.
RAW_DOLLAR_KNOWN: dict[str, str] = {}   # dash/01's shrink formula fixed (issue #15): none known now


@pytest.mark.parametrize("page_path", [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=RAW_DOLLAR_KNOWN[p])) if p in RAW_DOLLAR_KNOWN else p
    for p in PAGES])
def test_no_raw_dollar_in_page_text(built_book, page_path):
    found = raw_dollars((built_book / page_path).read_text())
    assert not found, f"{page_path}: {len(found)} raw '$' in the text (unparsed math): {found[:4]}"


# Output blocks wider than their column: at the 1280 px window the article column is 688 px, and a
# printed line, a table or a figure wider than that is cut off behind a horizontal scrollbar. Checked
# on every ``.cell_output`` descendant (pre, table, div) except a slider's own parts (its handle
# overhangs the track by design). Chapters keep printed lines within plasticity_sim.tables.WIDTH
# characters and show wide tables as plasticity_sim.tables.Table (see _vendor/outputs.css).
CLIPPED_OUTPUTS = """() => Array.from(document.querySelectorAll(
        '.cell_output pre, .cell_output table, .cell_output div'))
    .filter(e => !e.closest('.widget-slider, .noUi-target'))
    .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 2)
    .map(e => ({tag: e.tagName.toLowerCase(), scroll: e.scrollWidth, client: e.clientWidth,
                text: (e.innerText || e.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 50)}))"""

# Pages whose clipped output blocks are not fixed yet (issue #26, item 4; their chapters are being
# edited elsewhere): xfail while a block is clipped; once none is, the page passes with a warning
# asking to remove it from this set. Empty the set when all are fixed.
CLIPPED_PENDING: set[str] = set()   # issue #26: every page fixed


# A page a reader can hold (issue #26, item 8): about 10 k px at a 1280 px window, i.e. seven or eight
# screens. Longer pages are split, or their details folded into dropdowns.
MAX_PAGE_HEIGHT = 10_500


def _clipped_message(page_path: str, clipped: list[dict]) -> str:
    return (f"{page_path}: {len(clipped)} output block(s) wider than their column at 1280 px: "
            + "; ".join(f"<{c['tag']}> {c['scroll']} px in {c['client']} px: {c['text']!r}" for c in clipped[:5]))


def test_clipped_output_detector_can_fail(browser_context):
    # a synthetic page in the book's geometry: a 688 px column with a too-long printed line and a
    # too-wide table (caught), a line that fits and a slider whose handle overhangs (not caught)
    long_line = "a printed line far wider than the column: " + "0.123 " * 60
    html_page = f"""<html><body style="margin:0"><article style="width:688px">
      <div class="cell_output"><div class="output"><pre style="overflow:auto;font-size:12px">{long_line}</pre></div></div>
      <div class="cell_output"><div class="output"><pre style="overflow:auto;font-size:12px">short line</pre></div></div>
      <div class="cell_output"><div class="output" style="overflow:auto"><table><tr>
        {"".join(f"<td style='white-space:nowrap'>column {i} 123.45 (6.78)</td>" for i in range(12))}</tr></table></div></div>
      <div class="cell_output"><div class="widget-slider"><div class="noUi-target" style="width:100px">
        <div class="noUi-origin" style="width:10px"><div style="width:30px">handle</div></div></div></div></div>
    </article></body></html>"""
    page = browser_context.new_page()
    try:
        page.set_content(html_page)
        clipped = page.evaluate(CLIPPED_OUTPUTS)
    finally:
        page.close()
    assert [c["tag"] for c in clipped] == ["pre", "div"], clipped
    assert clipped[0]["text"].startswith("a printed line far wider") and clipped[0]["client"] == 688, clipped
    assert clipped[1]["text"].startswith("column 0 123.45"), clipped
    assert "a printed line far wider" in _clipped_message("book/x.html", clipped)


def _has_widgets(html_path: Path) -> bool:
    return "application/vnd.jupyter.widget-state+json" in html_path.read_text()


@pytest.mark.parametrize("page_path", PAGES)
def test_page_offline(server, browser_context, built_book, page_path):
    page, log = _open(browser_context, server, page_path)
    try:
        widgets = _has_widgets(built_book / page_path)
        if widgets:
            # the static widget manager renders every saved widget; a slider or dropdown must appear
            page.wait_for_selector(".widget-slider, .widget-dropdown, .widget-play, .jupyter-widgets",
                                   timeout=30000)
        page.wait_for_timeout(500)
        sizes = page.eval_on_selector_all(".cell_output img", "els => els.map(e => [e.src, e.naturalWidth])")
        broken = [src for src, w in sizes if not w]
        assert not broken, f"{page_path}: images that did not load: {broken[:5]}"
        if widgets:
            n = page.eval_on_selector_all(".widget-slider, .widget-dropdown, .widget-play", "els => els.length")
            assert n >= 1, f"{page_path}: widget state saved but no control rendered"
        if page.evaluate("() => !!document.querySelector('.math')"):
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30000)
            page.evaluate("() => MathJax.startup.promise")
        # a control that needs a kernel (the live box of a frame widget) must not show in the static page
        live = page.eval_on_selector_all(".plive", "els => els.filter(e => e.checkVisibility()).length")
        assert live == 0, f"{page_path}: {live} kernel-only control box(es) visible without a kernel"
        math_errors = page.evaluate(MATH_ERRORS)
        assert not math_errors, f"{page_path}: MathJax errors {math_errors}"
        clipped = page.evaluate(CLIPPED_OUTPUTS)
        height = page.evaluate("() => document.documentElement.scrollHeight")
        no_alt = page.eval_on_selector_all(
            "article img", "els => els.filter(e => !(e.getAttribute('alt') || '').trim()).map(e => e.className || e.src.slice(-40))")
        page.screenshot(path=str(SHOTS / (page_path.replace("/", "__") + ".png")), full_page=True)
    finally:
        page.close()
    errors = [(t, text, url) for t, text, url in log["console"] if t == "error"]
    errors = [e for e in errors if not any(a.search(e[1] + " " + e[2]) for a in ALLOWED_CONSOLE)]
    assert not errors, f"{page_path}: console errors {errors}"
    page_errors = [e for e in log["page"] if not any(a.search(e) for a in ALLOWED_PAGE_ERRORS)]
    assert not page_errors, f"{page_path}: page errors {page_errors}"
    assert height <= MAX_PAGE_HEIGHT, (f"{page_path}: {height} px tall at 1280 px, over {MAX_PAGE_HEIGHT}: "
                                       f"split the page or fold its details")
    assert not no_alt, f"{page_path}: {len(no_alt)} image(s) without alt text: {no_alt[:5]}"
    if page_path in CLIPPED_PENDING:
        if clipped:
            pytest.xfail("clipped output not fixed yet (issue #26, item 4): " + _clipped_message(page_path, clipped))
        warnings.warn(f"{page_path} has no clipped output any more: remove it from CLIPPED_PENDING")
        return
    assert not clipped, _clipped_message(page_path, clipped)


# ---------------------------------------------------------------------------------------------------
# Kernel-free widgets: every control really flips the frame, offline, with no kernel.
FRAME_PAGES = [str(p.relative_to(ROOT).with_suffix(".html")) for p in toc_notebooks(ROOT)
               if '"pwidget' in p.read_text()]

VISIBLE_FRAMES = """w => Array.from(w.querySelectorAll('img.pframe'))
    .filter(e => e.checkVisibility() && e.naturalWidth > 0)
    .map(e => Array.from(e.classList).find(c => /^pframe-\\d/.test(c)))"""


FRAME_ALT = """w => [(w.querySelector('.pcaption') || {getAttribute: () => ''}).getAttribute('data-alt'),
    Array.from(w.querySelectorAll('img.pframe')).filter(e => e.checkVisibility()).map(e => e.alt)]"""


def _visible_index(widget) -> tuple[int, ...]:
    shown = widget.evaluate(VISIBLE_FRAMES)
    assert len(shown) == 1, f"expected exactly one visible frame, got {shown}"
    return tuple(int(x) for x in shown[0].split("-")[1:])


@pytest.mark.parametrize("page_path", FRAME_PAGES)
def test_kernel_free_controls_flip_frames(server, browser_context, page_path):
    page, log = _open(browser_context, server, page_path)
    try:
        page.wait_for_selector(".pwidget img.pframe", timeout=30000)
        page.wait_for_timeout(300)
        widgets = page.query_selector_all(".pwidget")
        assert widgets, f"{page_path}: no kernel-free widget rendered"
        for w in widgets:
            # the caption shows under the frames, and the visible frame carries the widget's alt text
            # plus its own control values (set from the caption's data by _vendor/widgets/widget-fixes.js)
            caption = w.query_selector(".pcaption")
            assert caption is not None and caption.is_visible(), f"{page_path}: a widget without a caption"
            alt, shown = w.evaluate(FRAME_ALT)
            assert alt and len(shown) == 1 and shown[0].startswith(alt + " Shown: "), (
                f"{page_path}: frame alt text {shown} does not start with the widget's alt {alt!r}")
            controls = w.query_selector_all(".pcontrol")
            start = _visible_index(w)
            assert len(start) == len(controls), f"{page_path}: frame index {start} vs {len(controls)} controls"
            for d, control in enumerate(controls):
                before = _visible_index(w)
                select = control.query_selector("select")
                if select is not None:
                    n = select.evaluate("s => s.options.length")
                    target = (before[d] + 1) % n
                    select.select_option(index=target)
                else:
                    handle = control.query_selector(".noUi-handle")
                    handle.focus()
                    page.keyboard.press("ArrowRight")
                    page.wait_for_timeout(150)
                    if _visible_index(w)[d] == before[d]:  # already at the last value: go left instead
                        page.keyboard.press("ArrowLeft")
                        target = before[d] - 1
                    else:
                        target = before[d] + 1
                page.wait_for_timeout(150)
                after = _visible_index(w)
                expected = before[:d] + (target,) + before[d + 1:]
                assert after == expected, f"{page_path}: control {d}: frame {after}, expected {expected}"
            play = w.query_selector(".pplay button")
            if play is not None:
                before = _visible_index(w)
                play.click()
                page.wait_for_timeout(1500)
                assert _visible_index(w) != before, f"{page_path}: Play did not advance the frame"
        page.screenshot(path=str(SHOTS / (page_path.replace("/", "__") + ".moved.png")), full_page=True)
    finally:
        page.close()
    page_errors = [e for e in log["page"] if not any(a.search(e) for a in ALLOWED_PAGE_ERRORS)]
    assert not page_errors, f"{page_path}: page errors {page_errors}"
