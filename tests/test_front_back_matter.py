"""The pages around the chapters: the intro's map, the start page, the glossary, the bibliography.

No build needed: these check the sources against what they describe (the table of contents, the
README's commands, the shipped results, the method table, references.bib), so that the pages cannot
silently drift from the code. The strict build (tests/test_build.py) checks that they render.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from plasticity_sim import study
from plasticity_sim.methods import METHODS
from tools.book import toc_pages

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
INTRO, START, GLOSSARY = BOOK / "intro.md", BOOK / "start.md", BOOK / "glossary.md"
READER_PAGES = [INTRO, START, GLOSSARY, BOOK / "appendix_arithmetic.md"]

DOC = re.compile(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`")
TERM = re.compile(r"\{term\}`(?:[^`<]*<)?([^`>]+?)>?`")


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def _glossary_terms() -> set[str]:
    from tools.glossary_links import glossary_entries   # one reader of the glossary's terms

    return glossary_entries(ROOT)


def test_intro_map_lists_every_page_in_sidebar_order():
    listed = [(BOOK / d).resolve() for d in DOC.findall(_section(INTRO.read_text(), "Map of the book"))]
    pages = [p.with_suffix("").resolve() for p in toc_pages(ROOT) if p.resolve() != INTRO.resolve()]
    assert listed == pages, "the intro's map must list every page of _toc.yml, in its order"


@pytest.mark.parametrize("page", READER_PAGES, ids=lambda p: p.name)
def test_reader_pages_carry_no_plumbing_or_stale_status(page):
    banned = [r"being written", r"will appear", r"\+dirty", r"\d+\s+frames", r"\.\./shared", r"papers\.md",
              r"papers/\d", r"our notes", r"\bfindings\b", r"lecture notes", r"the text we could read",
              r"Running the book yourself"]
    text = page.read_text()
    found = [b for b in banned if re.search(b, text, re.IGNORECASE)]
    assert not found, f"{page.name}: {found}"


def test_start_page_has_the_readme_commands_verbatim():
    readme = (ROOT / "README.md").read_text()
    setup = _section(readme, "Set-up: two commands (fresh Linux machine, Python 3.11)")
    commands = re.findall(r"```bash\n(.*?)\n```", setup, re.S)
    assert len(commands) == 2
    start = START.read_text()
    for c in commands:
        assert f"```bash\n{c}\n```" in start, c


def test_start_page_costs_are_the_shipped_results():
    """Every study and part total quoted on the start page equals what `plasticity_sim study` reports."""
    table = _section(START.read_text(), "What each part costs to re-run")
    rows = [[c.strip() for c in r.strip("|").split("|")] for r in table.splitlines() if r.startswith("| ")]
    registry = study.registry()
    seconds = {name: study.measured_cost(s)[1] for name, s in registry.items()}
    quoted, parts = {}, []   # parts: [quoted total, [its studies]]
    for part, name, cost in rows[1:]:
        total = re.search(r"(\d+\.\d) min in all", part)
        if total:
            parts.append([float(total.group(1)), []])
        if name.startswith("`"):
            quoted[name.strip("`")] = float(cost.removesuffix(" min"))
            parts[-1][1].append(name.strip("`"))
    assert set(quoted) == set(registry), "the table must quote every study, and only studies"
    for name, minutes in quoted.items():
        assert minutes == round(seconds[name] / 60, 1), name
    for total, names in parts:
        assert total == round(sum(seconds[n] for n in names) / 60, 1), names


def test_every_linked_term_is_in_the_glossary():
    terms = _glossary_terms()
    used = {(p.name, t) for p in BOOK.rglob("*.md") for t in TERM.findall(p.read_text())}
    missing = sorted((page, t) for page, t in used if t not in terms)
    assert not missing, missing
    assert {"intro.md", "start.md"} <= {page for page, _ in used}


def test_glossary_names_every_method_and_one_name_per_sp_variant():
    text = GLOSSARY.read_text()
    unnamed = [m for m in METHODS if f"`{m}`" not in text]
    assert not unnamed, f"methods the glossary does not name: {unnamed}"
    sp = [m for m in METHODS.values() if m.intervention in ("shrink_perturb", "sp_continual")]
    terms = _glossary_terms()
    entry_of = {}
    for term in terms:
        body = " ".join(text.split(f"\n{term}\n", 1)[1].split("\n\n", 1)[0].split())
        for m in sp:
            if f"Method `{m.name}`" in body:
                entry_of.setdefault(m.name, []).append(term)
    assert {m.name for m in sp} == set(entry_of), entry_of
    assert all(len(v) == 1 for v in entry_of.values()), entry_of
    assert len({v[0] for v in entry_of.values()}) == len(sp), "each S&P variant needs a name of its own"


def _bib_entries() -> dict[str, dict[str, str]]:
    from pybtex.database import parse_file

    return {k: {f.lower(): v for f, v in e.fields.items()} for k, e in parse_file(ROOT / "references.bib").entries.items()}


def test_every_reference_has_an_id_and_a_link():
    for key, fields in _bib_entries().items():
        assert fields.get("url", "").startswith("https://"), key
        if "eprint" in fields:
            assert re.fullmatch(r"\d{4}\.\d{4,5}", fields["eprint"]) and fields.get("archiveprefix") == "arXiv", key
        if "doi" in fields:
            assert fields["doi"].startswith("10."), key
        assert "note" not in fields or "arxiv" not in fields["note"].lower(), f"{key}: the id belongs in eprint"


def test_favicon_is_configured_and_committed():
    favicon = yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["favicon"]
    path = ROOT / favicon
    assert path.suffix in (".svg", ".png") and path.is_file() and path.stat().st_size > 100
