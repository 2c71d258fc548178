"""Output that fits the book's column: printed lines of at most :data:`WIDTH` characters, and tables.

The book shows printed output in a 12 px monospace (``_vendor/outputs.css``) in an article column of
688 px at a 1280 px window: about 90 characters fit, and ``tests/test_site.py`` fails on any output
block wider than its column. Chapters therefore wrap prose-like lines with :func:`wrap` and show the
tables their text discusses as a :class:`Table`: an HTML table in the book (and in Jupyter), aligned
text where only text is shown (``print(table)``, a terminal).

Explained in: book/theory/03_warm_cold_ideal.ipynb
"""
from __future__ import annotations

import html
import textwrap

WIDTH = 88   # characters of printed output per line that fit the book's column (see the module doc)


def wrap(text: str, width: int = WIDTH, indent: str = "    ") -> str:
    """``text`` with each line longer than ``width`` broken at spaces, its continuation lines indented
    by the line's own indentation plus ``indent``. Words are never split; shorter lines are unchanged.

    Explained in: book/00_headline_results.ipynb
    """
    if width < 10:
        raise ValueError(f"width must be at least 10 characters, got {width}")
    out = []
    for line in str(text).split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        lead = line[:len(line) - len(line.lstrip())]
        out.append(textwrap.fill(line, width, subsequent_indent=lead + indent, break_long_words=False,
                                 break_on_hyphens=False))
    return "\n".join(out)


class Table:
    """A small table of already formatted cells, for a chapter to display.

    ``header``: one title per column (a ``"\\n"`` in a title breaks it onto two lines); ``rows``: one
    sequence of cells per row, each shown with ``str``; ``align``: one ``"l"`` or ``"r"`` per column
    (default: the first column left, the others right, as for a label followed by numbers);
    ``caption``: an optional line above the table.

    In the book and in Jupyter it renders as an HTML table (``_repr_html_``; class ``ptable``, styled
    by ``_vendor/outputs.css``), narrower than the same table as text: a proportional font, and a
    left-aligned cell (a label) wraps where the table would otherwise be wider than the column (a
    right-aligned one, a number, never does). ``str(table)`` is the same table as aligned text.

    Explained in: book/theory/03_warm_cold_ideal.ipynb
    """

    def __init__(self, header, rows, *, align: str | None = None, caption: str = ""):
        self.header = [str(h) for h in header]
        self.rows = [[str(c) for c in row] for row in rows]
        n = len(self.header)
        if n == 0:
            raise ValueError("a table needs at least one column")
        bad = [i for i, row in enumerate(self.rows) if len(row) != n]
        if bad:
            raise ValueError(f"rows {bad} do not have {n} cells (one per column of {self.header})")
        self.align = align if align is not None else "l" + "r" * (n - 1)
        if len(self.align) != n or set(self.align) - {"l", "r"}:
            raise ValueError(f"align must be one 'l' or 'r' per column ({n}), got {self.align!r}")
        self.caption = caption

    def _repr_html_(self) -> str:
        def cell(tag: str, text: str, a: str) -> str:
            body = "<br>".join(html.escape(part, quote=False) for part in text.split("\n"))
            return f'<{tag} class="{a}">{body}</{tag}>'

        head = "".join(cell("th", h, a) for h, a in zip(self.header, self.align))
        body = "".join("<tr>" + "".join(cell("td", c, a) for c, a in zip(row, self.align)) + "</tr>"
                       for row in self.rows)
        caption = f"<caption>{html.escape(self.caption, quote=False)}</caption>" if self.caption else ""
        return (f'<table class="ptable">{caption}<thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>")

    def __str__(self) -> str:
        header = [h.replace("\n", " ") for h in self.header]
        cells = [header] + [[c.replace("\n", " ") for c in row] for row in self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
        lines = [self.caption] if self.caption else []
        for r in cells:
            lines.append("  ".join(c.ljust(w) if a == "l" else c.rjust(w)
                                   for c, w, a in zip(r, widths, self.align)).rstrip())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)
