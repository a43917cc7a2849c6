"""Provides the CLI's tables: rows under headers, aligned by display width, on stdout.

Every listing of the command line prints through here, so they all look alike: no borders, bold
headers, one space between columns, no cell cut. rich measures each cell by its display width
(a Chinese character takes two cells), so columns of Chinese names line up; :func:`pad` and
:func:`echo_fields` do the same for text aligned by hand.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import click
from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.table import Column, Table


def out() -> Console:
    """stdout; when piped, wide enough that no column is cut (rich assumes 80 otherwise)."""
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=False, width=160)
    return console


def table(
    headers: Sequence[str | Column],
    rows: Iterable[Sequence[RenderableType]] = (),
    *,
    title: str | None = None,
    no_wrap: bool = True,
    wrap: Collection[int] = (),
    right: Collection[int] = (),
    edge: bool = False,
) -> Table:
    """A table of ``rows`` under ``headers``, each column as wide as its widest cell.

    Args:
        headers: the columns' headers (already translated), or a :class:`rich.table.Column`
            for a column that needs more (e.g. one that takes the width left over).
        title: a title line above the table, on the left.
        no_wrap: keep every cell on one line (listings); ``False`` lets long cells wrap.
        wrap: indexes of columns that may wrap even so (a free-text last column).
        right: indexes of columns aligned to the right (numbers).
        edge: a space before the first column and after the last.
    """
    columns = [
        header
        if isinstance(header, Column)
        else Column(
            header,
            no_wrap=no_wrap and index not in wrap,
            justify="right" if index in right else "left",
        )
        for index, header in enumerate(headers)
    ]
    grid = Table(
        *columns,
        title=title,
        title_justify="left",
        box=None,
        header_style="bold",
        pad_edge=edge,
    )
    for row in rows:
        grid.add_row(*row)
    return grid


def print_table(headers: Sequence[str | Column], rows: Iterable[Sequence[RenderableType]]) -> None:
    """Print a listing: :func:`table` of ``rows`` under ``headers`` on stdout."""
    out().print(table(headers, rows))


def pad(text: str, width: int, *, right: bool = False) -> str:
    """``text`` filled with spaces to ``width`` display cells (a Chinese character takes two);
    ``right`` aligns it to the right. Text wider than ``width`` is returned as it is."""
    fill = " " * max(0, width - cell_len(text))
    return fill + text if right else text + fill


def echo_fields(rows: Sequence[tuple[str, str]]) -> None:
    """Print ``label: value`` lines with the values aligned (labels may be double-width)."""
    width = max((cell_len(label) for label, _value in rows), default=0)
    for label, value in rows:
        click.echo(f"{label}:{' ' * (width - cell_len(label) + 1)}{value}")
