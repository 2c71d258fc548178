"""Link each glossary term from its first use in every chapter (issue #26: a reader meets a term and
can look it up in one click).

    python tools/glossary_links.py check [CHAPTER ...]   # list first uses that are not linked; exit 1 if any
    python tools/glossary_links.py link  [CHAPTER ...]   # turn each first use into {term}`text <term>`

Only the markdown cells' prose is read or changed: headings, code, math, roles (``{glue:text}`...```,
an existing ``{term}``), links, directive lines and HTML are left alone, so a chapter's outputs and its
strict nbval stay as they are. ``TERMS`` maps a glossary entry (its name in book/glossary.md) to the
pattern of the words that name it in prose; a term counts as linked in a chapter when its first
matching use sits inside a ``{term}`` role for that entry.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.book import toc_notebooks  # noqa: E402

# glossary entry -> the words that name it in prose (case-sensitive where the name is an acronym).
# Order matters where names overlap: longer names first ("loss of plasticity" before "plasticity",
# the S&P variants before S&P, "L2 (every step)" before "L2").
TERMS: dict[str, str] = {
    "loss of plasticity": r"loss of plasticity",
    "warm start": r"\b[Ww]arm[- ]start(?:ed|ing|s)?\b",
    "cold start": r"\b[Cc]old[- ]start(?:ed|ing|s)?\b",
    "discrete learning process": r"\bdiscrete learning process\b",
    "ideal learner": r"\bideal learner\b",
    "memorisation": r"\bmemoris(?:ation|ed|es|e|ing)\b",
    "S&P (Gaussian)": r"S&P \(Gaussian\)",
    "S&P (toward init)": r"S&P \(toward init\)",
    "S&P (every step)": r"S&P \(every step\)",
    "S&P (fresh init)": r"S&P \(fresh init\)",
    "Shrink & Perturb": r"\bShrink (?:&|and) Perturb\b",
    "DASH": r"\bDASH\b(?! \(row\))",
    "kernel granularity": r"\bkernel granularity\b",
    "row granularity": r"\bDASH \(row\)|\brow granularity\b",
    "Hare & Tortoise": r"\bHare (?:&|and) Tortoise\b",
    "ReDo": r"\bReDo\b",
    "CBP": r"\bCBP\b|\b[Cc]ontinual [Bb]ackprop(?:agation)?\b",
    "FIRE": r"\bFIRE\b",
    "CReLU": r"\bCReLU\b",
    "EMA": r"\bEMA\b",
    "Parseval regularisation": r"\bParseval(?: regularisation)?\b",
    "weight clipping": r"\b[Ww]eight clipping\b",
    "head reset": r"\bhead reset\b",
    "L2-init": r"\bL2[- ]init\b",
    "L2 (every step)": r"\bL2 \(every step\)",
    "L2": r"\bL2\b(?![- ]init| \(every step\))",
    "spectral decoupling": r"\bspectral decoupling\b",
    "self-distillation": r"\bself-distillation\b",
    "effective rank": r"\beffective rank\b",
    "stable rank": r"\bstable rank\b",
    "dormant unit": r"\bdormant (?:units?|neurons?)\b",
    "trainability": r"\btrainability\b",
    "Holm correction": r"\bHolm(?:-corrected| correction)?\b",
    "paired difference": r"\bpaired differences?\b",
    "no measurable difference": r"\bno measurable difference\b",
    "layer norm + WD": r"\blayer norm \+ (?:WD|weight decay)\b",
}

# Parts of a markdown cell that are not prose: inline code and roles (`...`, {role}`...`), display and
# inline math, links and images, HTML tags and entities, bold markers are kept (a term may sit in bold).
_INLINE_PROTECT = re.compile(r"(\{[\w:-]+\}`[^`]*`|``.*?``|`[^`]*`|\$\$.*?\$\$|\$[^$\n]+\$|!?\[[^\]]*\]\([^)]*\)"
                             r"|\[[^\]]*\]\[[^\]]*\]|<[^>\n]+>|https?://\S+)", re.S)
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
# Fenced blocks whose body is markdown prose (directives); any other fence is code or math.
_PROSE_DIRECTIVES = re.compile(r"^\{(admonition|note|tip|important|warning|caution|hint|seealso|dropdown|"
                               r"exercise|solution|figure|margin|epigraph|attention|topic)\}")


def prose_lines(text: str) -> list[bool]:
    """For each line of a markdown cell: may it be linked (prose), or is it structure/code?"""
    flags, stack = [], []   # stack of (fence marker, is_prose)
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if m:
            marker, info = m.group(2), m.group(3).strip()
            if stack and marker.startswith(stack[-1][0][0]) and len(marker) >= len(stack[-1][0]) and not info:
                stack.pop()
            else:
                stack.append((marker, bool(_PROSE_DIRECTIVES.match(info))))
            flags.append(False)
            continue
        in_code = any(not prose for _, prose in stack)
        structural = line.lstrip().startswith(("#", ":", "|", "(")) and not line.lstrip().startswith("(e.g")
        flags.append(not in_code and not structural)
    return flags


def _segments(line: str):
    """(text, is_prose) pieces of one prose line."""
    pos = 0
    for m in _INLINE_PROTECT.finditer(line):
        if m.start() > pos:
            yield line[pos:m.start()], True
        yield m.group(0), False
        pos = m.end()
    if pos < len(line):
        yield line[pos:], True


def _term_roles(text: str) -> set[str]:
    """Glossary entries a text already links: {term}`X` or {term}`text <X>`."""
    out = set()
    for m in re.finditer(r"\{term\}`([^`]*)`", text):
        inner = m.group(1)
        target = re.search(r"<([^<>]+)>\s*$", inner)
        out.add((target.group(1) if target else inner).strip())
    return out


def glossary_entries(root: Path = ROOT) -> set[str]:
    """The terms of book/glossary.md: the lines at column 0 of its glossary block (not options)."""
    text = (root / "book" / "glossary.md").read_text()
    body = re.search(r"```\{glossary\}\n(.*?)\n```", text, re.S).group(1)
    return {line.strip() for line in body.split("\n") if line and not line[0].isspace() and not line.startswith(":")}


def first_uses(cells: list[str]) -> dict[str, tuple[int, bool]]:
    """term -> (cell index of its first use in prose, whether that use is a {term} role)."""
    found: dict[str, tuple[int, bool]] = {}
    for ci, text in enumerate(cells):
        for line, ok in zip(text.split("\n"), prose_lines(text)):
            if not ok:
                continue
            for piece, prose in _segments(line):
                linked = _term_roles(piece) if not prose else set()
                for term, pattern in TERMS.items():
                    if term in found:
                        continue
                    if term in linked:
                        found[term] = (ci, True)
                    elif prose and re.search(pattern, piece):
                        found[term] = (ci, False)
    return found


def _link_piece(piece: str, todo: set[str]) -> str:
    """Wrap the first match of each term still to do in a {term} role, left to right, never inside
    a role just made."""
    out, rest = [], piece
    while True:
        hits = [(m.start(), -len(m.group(0)), term, m) for term in TERMS if term in todo
                for m in [re.search(TERMS[term], rest)] if m]
        if not hits:
            return "".join(out) + rest
        _, _, term, m = min(hits)
        word = m.group(0)
        role = f"{{term}}`{word}`" if word == term else f"{{term}}`{word} <{term}>`"
        out.append(rest[:m.start()] + role)
        rest = rest[m.end():]
        todo.discard(term)


def link_cells(cells: list[str]) -> list[str]:
    """The cells with each term's first use (if not linked) wrapped in a {term} role."""
    todo = {t for t, (_, linked) in first_uses(cells).items() if not linked}
    out = []
    for text in cells:
        lines = text.split("\n")
        for li, ok in enumerate(prose_lines(text)):
            if ok and todo:
                lines[li] = "".join(_link_piece(piece, todo) if prose else piece
                                    for piece, prose in _segments(lines[li]))
        out.append("\n".join(lines))
    return out


def _markdown_cells(nb: Path) -> tuple[dict, list[int]]:
    doc = json.loads(nb.read_text())
    idx = [i for i, c in enumerate(doc["cells"]) if c["cell_type"] == "markdown"]
    return doc, idx


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("check", "link"):
        print("usage: python tools/glossary_links.py check|link [CHAPTER ...]", file=sys.stderr)
        return 2
    entries = glossary_entries()
    missing = sorted(set(TERMS) - entries)
    if missing:
        print(f"TERMS names entries that book/glossary.md lacks: {missing}; fix TERMS or the glossary", file=sys.stderr)
        return 2
    chapters = [Path(a) for a in argv[1:]] or toc_notebooks(ROOT)
    bad = [str(c) for c in chapters if not c.is_file()]
    if bad:
        print(f"no such chapter: {bad[0]}; give .ipynb paths listed in _toc.yml", file=sys.stderr)
        return 2
    problems = 0
    for nb in chapters:
        doc, idx = _markdown_cells(nb)
        cells = ["".join(doc["cells"][i]["source"]) for i in idx]
        if argv[0] == "check":
            for term, (ci, linked) in first_uses(cells).items():
                if not linked:
                    problems += 1
                    print(f"{nb}: first use of {term!r} (markdown cell {idx[ci]}) is not a {{term}} link")
        else:
            new = link_cells(cells)
            for i, text in zip(idx, new):
                lines = text.split("\n")
                doc["cells"][i]["source"] = [ln + "\n" for ln in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
            nb.write_text(json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
