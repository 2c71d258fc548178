"""`jupyter-book build . -W -n --keep-going` succeeds (warnings are errors) and the pages are complete."""
from __future__ import annotations

import re
from pathlib import Path

from tools.book import toc_notebooks, toc_pages

ROOT = Path(__file__).resolve().parent.parent


def test_strict_build_produces_every_page(built_book):
    assert (built_book / "index.html").exists()
    pages = toc_pages(ROOT)
    assert {"intro.md", "start.md", "glossary.md", "appendix_arithmetic.md", "bibliography.md"} <= {p.name for p in pages}
    for src in pages:
        page = built_book / src.relative_to(ROOT).with_suffix(".html")
        assert page.exists(), f"missing page {page}"


def test_every_page_links_the_favicon(built_book):
    for src in toc_pages(ROOT):
        page = built_book / src.relative_to(ROOT).with_suffix(".html")
        m = re.search(r'<link rel="icon" href="([^"]+)"', page.read_text())
        assert m, f"{page.name}: no favicon link"
        assert (page.parent / m.group(1)).resolve().is_file(), f"{page.name}: favicon {m.group(1)} not built"


def test_glossary_terms_are_link_targets(built_book):
    glossary = (built_book / "book" / "glossary.html").read_text()
    start = (built_book / "book" / "start.html").read_text()
    anchors = set(re.findall(r'<dt id="([^"]+)"', glossary))
    assert {"term-warm-start", "term-S-P-Gaussian", "term-S-P-toward-init", "term-S-P-every-step"} <= anchors, anchors
    assert 'href="glossary.html#term-warm-start"' in start


def test_widget_js_is_vendored_not_cdn(built_book):
    for name in ("require.js", "embed-amd.js", "widget-fixes.js"):
        assert (built_book / "_static" / "widgets" / name).stat().st_size > 50, name
    for nb in toc_notebooks(ROOT):
        html = (built_book / nb.relative_to(ROOT).with_suffix(".html")).read_text()
        assert "cdnjs.cloudflare.com" not in html, f"{nb.name} loads require.js from a CDN"
    intro = (built_book / "book" / "intro.html").read_text()
    assert "_static/mathjax/tex-mml-chtml.js" in intro and "cdn.jsdelivr.net/npm/mathjax" not in intro
    assert len(list((built_book / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))) > 10


def test_bibliography_resolves(built_book):
    html = (built_book / "book" / "bibliography.html").read_text().lower()  # the style lower-cases titles
    for needle in ("dash", "hare and tortoise", "loss of plasticity", "warm-starting", "dormant neuron",
                   "regenerative regularization", "understanding plasticity", "sharpness-aware"):
        assert needle in html, needle
    # every entry links out: its arXiv abstract or DOI, and its url
    assert html.count('href="https://arxiv.org/abs/') >= 20 and 'href="https://doi.org/10.1038/' in html
