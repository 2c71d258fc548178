"""`jupyter-book build . -W -n --keep-going` succeeds (warnings are errors) and the pages are complete."""
from __future__ import annotations

from pathlib import Path

from tools.book import toc_notebooks

ROOT = Path(__file__).resolve().parent.parent


def test_strict_build_produces_every_page(built_book):
    assert (built_book / "index.html").exists()
    for nb in toc_notebooks(ROOT):
        page = built_book / nb.relative_to(ROOT).with_suffix(".html")
        assert page.exists(), f"missing page {page}"
    assert (built_book / "book" / "intro.html").exists()


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
