"""What a reader meets on a page, checked on the committed chapters (issue #26, items 6-9).

- Plumbing stays out of the reading path: a code cell that calls ``glue``, builds a frame widget or
  reports page weight has its input hidden (one click away) or removed; no output prints frame counts,
  embedded kilobytes or a "+dirty" commit.
- Every kernel-free widget carries a caption and real alt text (``frame_widget(caption=, alt=)``), in
  the widget state the static page renders.
- Bold is for the one claim a paragraph makes: at most one ``**...**`` span per paragraph or list item.
- Each book part opens with one setting box (``{admonition}`` with class ``setting``) that names the
  optimizer, learning rate, seeds, data and why they differ from the paper and the other parts.

The browser-side counterparts (alt text on the rendered frames, page height at 1280 px) are in
tests/test_site.py.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
import yaml

from tools.book import toc_notebooks, toc_pages

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = toc_notebooks(ROOT)
IDS = [str(p.relative_to(ROOT / "book")) for p in CHAPTERS]
HIDDEN = {"hide-input", "remove-input", "remove-cell", "hide-cell"}
PLUMBING = re.compile(r"\bglue\(|\bframe_widget\(|\bframe_report\(")
PLUMBING_OUTPUT = re.compile(r"\d+ frames?, [\d.]+ ?kB|kB embedded|\+dirty")
MIN_ALT_WORDS = 8   # "Line plot of ..." and what it shows; a label like "figure" is not alt text


def _cells(nb: Path) -> list[dict]:
    return json.loads(nb.read_text())["cells"]


def _output_text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append("".join(out.get("text", "")))
        for mime in ("text/plain", "text/html", "text/markdown"):
            parts.append("".join(out.get("data", {}).get(mime, "")))
    return "\n".join(parts)


def plumbing_problems(cells: list[dict]) -> list[str]:
    """Cells that show plumbing: visible glue/widget-building input, or page-weight/dirty output."""
    found = []
    for i, c in enumerate(cells):
        if c["cell_type"] != "code":
            continue
        tags = set(c.get("metadata", {}).get("tags", []))
        src = "".join(c["source"])
        if PLUMBING.search(src) and not tags & HIDDEN:
            found.append(f"cell {i}: visible input calls {PLUMBING.findall(src)}; tag it hide-input")
        m = PLUMBING_OUTPUT.search(_output_text(c))
        if m and "remove-output" not in tags and "remove-cell" not in tags:
            found.append(f"cell {i}: output shows {m.group(0)!r}")
    return found


def test_plumbing_detector_can_fail():
    cells = [{"cell_type": "code", "source": ["glue('x', 1)"], "metadata": {}, "outputs": []},
             {"cell_type": "code", "source": ["w = frame_widget(f, c)"], "metadata": {"tags": ["hide-input"]},
              "outputs": [{"output_type": "stream", "text": ["36 frames, 491 kB embedded\n"]}]},
             {"cell_type": "code", "source": ["glue('y', 2)"], "metadata": {"tags": ["remove-cell"]}, "outputs": []},
             {"cell_type": "code", "source": ["print(commit)"], "metadata": {},
              "outputs": [{"output_type": "stream", "text": ["abc123+dirty\n"]}]}]
    found = plumbing_problems(cells)
    assert len(found) == 3 and found[0].startswith("cell 0") and "kB" in found[1] and "+dirty" in found[2], found


@pytest.mark.parametrize("nb", CHAPTERS, ids=IDS)
def test_no_plumbing_in_the_reading_path(nb):
    found = plumbing_problems(_cells(nb))
    assert not found, f"{nb.name}: " + "; ".join(found)


# ---------------------------------------------------------------------------------------------------
# widget captions and alt text

def widget_captions(nb_json: dict) -> tuple[int, list[tuple[str, str]]]:
    """(number of frame widgets, [(caption text, alt text)]) in a notebook's saved widget state."""
    state = nb_json.get("metadata", {}).get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {})
    n_widgets, captions = 0, []
    for model in state.values():
        st = model.get("state", {})
        if "pwidget" in (st.get("_dom_classes") or []):
            n_widgets += 1
        value = st.get("value")
        if isinstance(value, str) and 'class="pcaption"' in value:
            alt = html.unescape(re.search(r'data-alt="([^"]*)"', value).group(1))
            text = html.unescape(re.sub(r"<[^>]+>", "", value))
            captions.append((text, alt))
    return n_widgets, captions


def test_widget_caption_reader_can_fail():
    nb = {"metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {
        "a": {"state": {"_dom_classes": ["pwidget"]}},
        "b": {"state": {"_dom_classes": ["pwidget", "pwidget-x"]}},
        "c": {"state": {"value": '<p class="pcaption" data-alt="Two lines &amp; a dot" data-frames="{}">'
                                 '<strong>Interactive figure.</strong> Move it.</p>'}}}}}}}
    assert widget_captions(nb) == (2, [("Interactive figure. Move it.", "Two lines & a dot")])


WIDGET_CHAPTERS = [nb for nb in CHAPTERS if widget_captions(json.loads(nb.read_text()))[0]]


@pytest.mark.parametrize("nb", WIDGET_CHAPTERS, ids=[str(p.relative_to(ROOT / "book")) for p in WIDGET_CHAPTERS])
def test_every_widget_has_a_caption_and_real_alt_text(nb):
    n, captions = widget_captions(json.loads(nb.read_text()))
    assert len(captions) == n, (f"{nb.name}: {n} frame widgets but {len(captions)} captions; pass "
                                f"caption= and alt= to frame_widget")
    for text, alt in captions:
        assert len(text.split()) >= 6, f"{nb.name}: caption too short to say what the figure shows: {text!r}"
        assert len(alt.split()) >= MIN_ALT_WORDS, f"{nb.name}: alt text is a label, not a description: {alt!r}"
        assert alt.strip().rstrip(".") not in text, f"{nb.name}: alt text only repeats the caption: {alt!r}"


# ---------------------------------------------------------------------------------------------------
# bold: one claim per paragraph

def _is_claim(span: str) -> bool:
    """A bold claim: a measured number (a decimal, a percentage, a signed effect, a glued value) or a phrase of four words or more. A bold term
    being defined ("**features**", "**memorised**") or a label ("**Optimizer:**") is not a claim."""
    return bool(re.search(r"\d[.,]\d|\d\s*%|[+\u2212-]\d|\{glue", span)) or len(span.split()) >= 4


def bold_heavy_paragraphs(markdown: str, limit: int = 1) -> list[str]:
    """Paragraphs and list items (outside code fences and display math) with > limit bold claims."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.S)
    blocks = re.split(r"\n\s*\n|\n(?=\s*(?:[-*+]|\d+\.)\s)|\n(?=\|)", text)   # table rows count alone
    return [b.strip()[:80] for b in blocks
            if sum(map(_is_claim, re.findall(r"\*\*([^*\n]+?)\*\*", b))) > limit]


def test_bold_detector_can_fail():
    md = ("One **claim: +1.2 [0.3, 2.1]** here.\n\nTwo: **+1.0 [0.1, 2.0]** and **below cold at every J**.\n\n"
          "- item **x 1.5**\n- item **y 2.5** and **z 3 %**\n\nTerms **L2** and **noise**, one **claim of 4 words**.\n\n"
          "```python\nprint('**a 1** **b 2**')\n```\n")
    assert bold_heavy_paragraphs(md) == ["Two: **+1.0 [0.1, 2.0]** and **below cold at every J**.",
                                         "- item **y 2.5** and **z 3 %**"]


@pytest.mark.parametrize("nb", CHAPTERS, ids=IDS)
def test_at_most_one_bold_claim_per_paragraph(nb):
    found = [p for c in _cells(nb) if c["cell_type"] == "markdown"
             for p in bold_heavy_paragraphs("".join(c["source"]))]
    assert not found, f"{nb.name}: {len(found)} paragraph(s) with several bold spans: {found[:3]}"


# ---------------------------------------------------------------------------------------------------
# one setting box per part

SETTING_FIELDS = ("Optimizer", "Learning rate", "Seeds", "Data", "Why")
PARTS_WITHOUT_SETTINGS = {"Start here", "What to use, when", "Back matter"}   # no runs of their own


def _setting_boxes(source: str) -> list[str]:
    return re.findall(r"```\{admonition\}[^\n]*\n:class: setting\n(.*?)```", source, flags=re.S)


def test_setting_box_reader_can_fail():
    md = "Text\n\n```{admonition} The setting of this part\n:class: setting\n- **Optimizer:** SGD\n```\n"
    assert _setting_boxes(md) == ["- **Optimizer:** SGD\n"]
    assert _setting_boxes(md.replace("setting\n-", "note\n-")) == []


def _parts() -> list[tuple[str, list[Path]]]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = {p.relative_to(ROOT).with_suffix("").as_posix(): p for p in toc_pages(ROOT)}
    return [(part["caption"], [pages[c["file"]] for c in part["chapters"]]) for part in toc["parts"]
            if part["caption"] not in PARTS_WITHOUT_SETTINGS]


@pytest.mark.parametrize("caption,pages", _parts(), ids=[c for c, _ in _parts()])
def test_each_part_has_one_setting_box_in_its_first_chapter(caption, pages):
    def boxes(page):
        src = page.read_text()
        if page.suffix == ".ipynb":
            src = "\n".join("".join(c["source"]) for c in json.loads(src)["cells"] if c["cell_type"] == "markdown")
        return _setting_boxes(src)
    per_page = {p.name: len(boxes(p)) for p in pages}
    assert per_page[pages[0].name] == 1 and sum(per_page.values()) == 1, (
        f"part {caption!r}: want one setting box, in its first chapter; found {per_page}")
    body = boxes(pages[0])[0]
    missing = [f for f in SETTING_FIELDS if f"**{f}" not in body]
    assert not missing, f"part {caption!r}: the setting box lacks {missing}"


# ---------------------------------------------------------------------------------------------------
# glossary: each term linked from its first use in every chapter (tools/glossary_links.py link)

def test_glossary_linker_links_first_use_only_and_leaves_code_alone():
    from tools.glossary_links import first_uses, link_cells
    cells = ["# Warm start\n\nA warm-started net, `warm start`, $warm start$ and a warm start again.",
             "```python\nL2 = 1\n```\n\nL2 and L2 (every step), the {term}`DASH` rule, DASH again."]
    assert first_uses(cells)["warm start"] == (0, False) and first_uses(cells)["DASH"] == (1, True)
    out = link_cells(cells)
    assert out[0].startswith("# Warm start\n")                                  # headings untouched
    assert "A {term}`warm-started <warm start>` net, `warm start`, $warm start$ and a warm start again." in out[0]
    assert out[1].startswith("```python\nL2 = 1\n```")                          # code untouched
    assert "{term}`L2` and {term}`L2 (every step)`, the {term}`DASH` rule, DASH again." in out[1]
    assert all(linked for _, linked in first_uses(out).values())


@pytest.mark.parametrize("nb", CHAPTERS, ids=IDS)
def test_glossary_terms_linked_at_first_use(nb):
    from tools.glossary_links import first_uses
    cells = ["".join(c["source"]) for c in _cells(nb) if c["cell_type"] == "markdown"]
    unlinked = sorted(t for t, (_, linked) in first_uses(cells).items() if not linked)
    assert not unlinked, (f"{nb.name}: first use not linked to the glossary: {unlinked}; run "
                          f"python tools/glossary_links.py link {nb.relative_to(ROOT)}")


def test_glossary_linker_terms_are_glossary_entries():
    from tools.glossary_links import TERMS, glossary_entries
    assert set(TERMS) <= glossary_entries(), sorted(set(TERMS) - glossary_entries())
