"""Console tables that fit the terminal: the layout of ``kdtax list``, ``show``, ``vocab`` and ``registry``.

Layout rule (a :class:`Grid` is laid out at the width rich gives it: the console's, less any panel border):

* **wide** -- a rich table with every column -- when every column fits at its minimum width. A *kept*
  column (ids, ``id#configuration`` names, terms) is never wrapped and needs its longest line; any other
  column wraps at spaces only, never inside a word, and needs its longest word (so does its header).
  Borders and padding add ``3 * columns + 1`` with the heavy box; when that does not fit, the same table
  is drawn light (no box, a rule under the header, columns two spaces apart), which adds
  ``2 * columns - 2``. Columns get their whole text when it fits, else the widest give way first
  (:func:`allocate`), so short columns stay on one line. The switch points therefore follow the rows
  shown (:meth:`Grid.wide_width`). With the shipped catalog: ``kdtax list`` needs the longest
  ``id#configuration`` (52) plus the longest term of each column -- 194 columns boxed, 183 light;
  ``kdtax list --knowledge=MI`` 153 and 142; ``kdtax vocab`` 123 and 114; ``kdtax registry`` 142 and 134;
  the reported-results table of ``kdtax show ahn2019-vid`` 64 and 55 (``show`` draws the rest of its
  card as text and panels that wrap at words, their titles moved into the body when they do not fit).
* **stacked** below that width: one block per row, separated by a blank line -- the heading column
  (``id#configuration``, the term, the registry key) alone on its line, then one ``Field: value`` line
  per other column, values wrapped at spaces under the value column. When the value column would be
  narrower than :data:`MIN_VALUE` or a word does not fit in it, the value goes on the lines below the
  label, indented by :data:`INDENT` + 2.

Nothing is broken inside a word. A word longer than a whole stacked line (the width less the indent) is
shortened with an ellipsis (``…``), and :func:`print_fitted` then ends the output with one ``note:`` line
saying how many values were shortened. A heading (an id) is never cut: below the width of the longest id
its line is printed whole and longer than the width (the terminal wraps it), the only such lines.

Width: a terminal's own width; ``COLUMNS`` when set (piped or not); otherwise (output piped or redirected)
:data:`PIPE_WIDTH` columns rather than rich's 80: the same on every machine, readable in a pager or an
editor, wide enough for the ``vocab`` table; set ``COLUMNS`` (e.g. ``COLUMNS=200 kdtax list > list.txt``)
for wider tables.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

PIPE_WIDTH = 120
"""Output width when stdout is not a terminal and ``COLUMNS`` is not set."""

MIN_VALUE = 16
"""Narrowest value column of the stacked layout; below it values go under their label."""

INDENT = 2
"""Indent of the ``Field: value`` lines of the stacked layout."""

ELLIPSIS = "…"

Cell = str | Sequence[str]
"""A table cell: a text, or items (terms) joined by the column's ``join`` in the wide layout."""

_TALLY: ContextVar[dict[int, int] | None] = ContextVar("kdtax_shortened", default=None)


def fit_width(con: Console) -> Console:
    """Give ``con`` the output width of the module docstring (``PIPE_WIDTH`` when piped without COLUMNS)."""
    if not con.is_terminal and not os.environ.get("COLUMNS", "").strip().isdigit():
        con.width = PIPE_WIDTH
    return con


def notice(shortened: int, width: int) -> str:
    """The one line that ends an output in which ``shortened`` values were cut to ``width`` columns
    (its short form when the long one is wider than the output)."""
    short = f"note: {shortened} value(s) shortened ({ELLIPSIS})"
    for text in (f"{short} to fit {width} columns; see --format json", short):
        if cell_len(text) <= width:
            return text
    return f"note: {shortened} shortened ({ELLIPSIS})"


def print_fitted(con: Console, renderable: RenderableType) -> int:
    """Print ``renderable`` (give ``con`` its width first: :func:`fit_width`), then the :func:`notice`
    when any :class:`Grid` in it shortened a value; returns how many were shortened."""
    tally: dict[int, int] = {}
    token = _TALLY.set(tally)
    try:
        # crop=False: a heading longer than the width is printed whole (ids are never cut).
        con.print(renderable, crop=False)
    finally:
        _TALLY.reset(token)
    shortened = sum(tally.values())
    if shortened:
        con.print(Text(notice(shortened, con.width), no_wrap=True, overflow="ignore"), crop=False)
    return shortened


def _record(key: int, shortened: int) -> None:
    tally = _TALLY.get()
    if tally is not None:
        tally[key] = shortened


@dataclass(frozen=True)
class Column:
    """A column of a :class:`Grid`: ``keep`` ones are never wrapped (ids, terms); ``join`` joins a
    cell's items in the wide layout (``"\\n"``: one item a line; the stacked layout uses ``", "``)."""

    header: str
    keep: bool = False
    join: str = "\n"
    style: str | None = None


def _text(cell: Cell, joiner: str) -> str:
    return cell if isinstance(cell, str) else joiner.join(cell)


def _items(cell: Cell) -> list[str]:
    return [cell] if isinstance(cell, str) else [str(item) for item in cell]


def _truncate(word: str, width: int) -> str:
    return set_cell_size(word, max(width - 1, 0)) + ELLIPSIS if width > 0 else ""


def wrap_items(items: Sequence[str], width: int, keep: bool = False) -> tuple[list[str], int]:
    """Lines of at most ``width`` cells holding ``items`` joined by ``", "``, and how many words had to
    be shortened with an ellipsis. An item goes whole onto the line, or onto the next; only an item
    longer than a line is broken, between its words (``keep``: never -- it is one word); a word longer
    than a line is shortened."""
    lines: list[str] = []
    current = ""
    shortened = 0

    def put(piece: str) -> None:
        nonlocal current
        if current and cell_len(current) + 1 + cell_len(piece) <= width:
            current += " " + piece
        else:
            if current:
                lines.append(current)
            current = piece

    for n, item in enumerate(items):
        piece = " ".join(item.split()) + ("," if n < len(items) - 1 else "")
        words = [piece] if keep or cell_len(piece) <= width else piece.split()
        for word in words:
            if cell_len(word) > width:
                word = _truncate(word, width)
                shortened += 1
            put(word)
    if current:
        lines.append(current)
    return lines, shortened


def allocate(minimum: Sequence[int], maximum: Sequence[int], available: int) -> list[int] | None:
    """Column widths within ``available`` cells, at least ``minimum`` and at most ``maximum``: the widest
    columns give way first (every column is capped at the largest width that fits, the remainder going to
    the capped ones, left to right), so short columns stay on one line; None when the minimums do not fit.
    """
    if sum(minimum) > available:
        return None
    pairs = list(zip(minimum, maximum, strict=True))

    def capped(cap: int) -> list[int]:
        return [max(lo, min(hi, cap)) for lo, hi in pairs]

    low, high = 0, max(maximum, default=0)
    while low < high:  # the largest cap that fits
        mid = (low + high + 1) // 2
        low, high = (mid, high) if sum(capped(mid)) <= available else (low, mid - 1)
    widths = capped(low)
    left = available - sum(widths)
    for i, (_, hi) in enumerate(pairs):
        if left <= 0:
            break
        if widths[i] == low and hi > low:
            widths[i] += 1
            left -= 1
    return widths


@dataclass(eq=False)
class Grid:
    """A table that fits its width, wide or stacked (module docstring).

    ``boxed=False`` draws it like a list (no box, no header; stacked blocks then carry no labels).
    ``sections=True`` (only with ``boxed=False``): when it does not fit, column 0 becomes a line of its
    own above the rows it starts (a non-empty cell starts a section) and the other columns a grid below.
    """

    columns: Sequence[Column]
    rows: Sequence[Sequence[Cell]]
    title: str | None = None
    title_justify: str = "center"
    caption: str | None = None
    heading: int = 0
    show_lines: bool = False
    boxed: bool = True
    sections: bool = False

    def overhead(self, compact: bool = False) -> int:
        """Cells taken by borders and padding (``compact``: columns two spaces apart, no box)."""
        n = len(self.columns)
        return 3 * n + 1 if self.boxed and not compact else max(2 * n - 2, 0)

    def _measure(self) -> tuple[list[int], list[int]]:
        minimum: list[int] = []
        maximum: list[int] = []
        for i, col in enumerate(self.columns):
            lines = [line for row in self.rows for line in _text(row[i], col.join).split("\n")]
            longest = max((cell_len(line) for line in lines), default=0)
            if col.keep:
                least = longest
            else:  # the longest word (its comma included)
                least = max((cell_len(w) for line in lines for w in line.split()), default=0)
            head = max((cell_len(w) for w in col.header.split()), default=0) if self.boxed else 0
            minimum.append(max(least, head, 1))
            maximum.append(max(longest, cell_len(col.header) if self.boxed else 0, 1))
        return minimum, maximum

    def wide_width(self, compact: bool = False) -> int:
        """The narrowest width at which the wide layout is used (``compact``: its light form)."""
        return sum(self._measure()[0]) + self.overhead(compact)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        parts, shortened = self.layout(options.max_width)
        _record(id(self), shortened)
        yield from parts

    def layout(self, width: int) -> tuple[list[RenderableType], int]:
        """What to print at ``width``, and how many values it shortened."""
        minimum, maximum = self._measure()
        widths = allocate(minimum, maximum, width - self.overhead())
        if widths is not None:
            return [self._wide(widths)], 0
        if self.boxed:
            widths = allocate(minimum, maximum, width - self.overhead(compact=True))
            if widths is not None:
                return [self._wide(widths, compact=True)], 0
        if self.sections:
            return self._sectioned(width)
        return self._stacked(width, sum(minimum) + self.overhead(compact=self.boxed))

    def _wide(self, widths: list[int], compact: bool = False) -> Table:
        if self.boxed:
            table = Table(
                title=self.title,
                title_justify="left" if self.title_justify == "left" else "center",
                caption=self.caption,
                caption_justify="left",
                show_lines=self.show_lines,
                box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD,
                show_edge=not compact,
                pad_edge=not compact,
                collapse_padding=compact,
            )
        else:
            table = Table(show_header=False, box=None, pad_edge=False)
        for col, w in zip(self.columns, widths, strict=True):
            table.add_column(col.header, width=w, no_wrap=col.keep, overflow="ellipsis", style=col.style)
        for row in self.rows:
            table.add_row(
                *(self._cell(cell, col, w) for cell, col, w in zip(row, self.columns, widths, strict=True))
            )
        return table

    @staticmethod
    def _cell(cell: Cell, col: Column, width: int) -> str:
        """A wide cell, wrapped here (between items first, then words) so rich never re-wraps it."""
        if col.keep:
            return _text(cell, col.join)
        items = _items(cell)
        groups = [[item] for item in items] if col.join == "\n" else [items]
        return "\n".join(line for group in groups for line in wrap_items(group, width)[0])

    def _sectioned(self, width: int) -> tuple[list[RenderableType], int]:
        parts: list[RenderableType] = []
        shortened = 0
        sections: list[tuple[str, list[Sequence[Cell]]]] = []
        for row in self.rows:
            head = _text(row[0], ", ")
            if head or not sections:
                sections.append((head, []))
            sections[-1][1].append(row[1:])
        style = self.columns[0].style
        rest = Grid(self.columns[1:], [row for _, rows in sections for row in rows], boxed=False)
        widths = allocate(*rest._measure(), width - rest.overhead())  # the same widths in every section
        for head, rows in sections:
            if head:
                parts.append(Text(head, style=style or "", no_wrap=True, overflow="ignore"))
            sub = Grid(self.columns[1:], rows, boxed=False)
            if widths is not None:
                parts.append(sub._wide(widths))
            else:
                sub_parts, sub_short = sub.layout(width)
                parts += sub_parts
                shortened += sub_short
        return parts, shortened

    def _stacked(self, width: int, wide: int) -> tuple[list[RenderableType], int]:
        lines: list[Text] = []
        shortened = 0
        intro: list[RenderableType] = []  # these wrap like any text
        if self.title:
            intro.append(Text(self.title, style="bold"))
            intro.append(Text(f"(one block per row: the table needs {wide} columns)", style="dim"))
            intro.append(Text(""))
        fields = [(i, col) for i, col in enumerate(self.columns) if i != self.heading]
        label_width = max((cell_len(col.header) + 2 for _, col in fields), default=0) if self.boxed else 0
        for n, row in enumerate(self.rows):
            if n:
                lines.append(Text(""))
            head_col = self.columns[self.heading]
            lines.append(Text(_text(row[self.heading], ", "), style=head_col.style or "bold"))
            for i, col in fields:
                items = [item for item in _items(row[i]) if item.strip()] or ["-"]
                label = f"{col.header}:".ljust(label_width) if self.boxed else ""
                room = width - INDENT - label_width
                body, cut = wrap_items(items, room, col.keep) if room >= MIN_VALUE else ([], 1)
                if not cut:
                    pad = " " * (INDENT + label_width)
                    lines.append(Text(" " * INDENT + label + body[0], style=col.style or ""))
                    lines += [Text(pad + line, style=col.style or "") for line in body[1:]]
                else:
                    indent = INDENT + 2 if self.boxed else INDENT
                    body, cut = wrap_items(items, max(width - indent, 1), col.keep)
                    if self.boxed:
                        lines.append(Text(" " * INDENT + label.rstrip()))
                    lines += [Text(" " * indent + line, style=col.style or "") for line in body]
                shortened += cut
        for line in lines:
            line.no_wrap = True
            line.overflow = "ignore"
        outro: list[RenderableType] = [Text(""), Text(self.caption)] if self.caption else []
        return [*intro, *lines, *outro], shortened


@dataclass(eq=False)
class FitPanel:
    """A panel whose title stays whole: when ``title`` does not fit the border it moves, whole, to the
    first line of the body (bold) and the border shows ``short`` (itself moved when too long)."""

    body: RenderableType
    title: str
    short: str

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        room = options.max_width - 6  # corners, one rule each side, a space each side
        if cell_len(self.title) <= room:
            yield Panel(self.body, title=self.title, title_align="left")
            return
        rest = self.title[len(self.short) :].lstrip(" :—-") if self.title.startswith(self.short) else ""
        if cell_len(self.short) <= room:
            moved = Text(rest, style="bold") if rest else None
            title: str | None = self.short
        else:
            moved, title = Text(self.title, style="bold"), None
        body = Group(moved, self.body) if moved is not None else self.body
        yield Panel(body, title=title, title_align="left")
