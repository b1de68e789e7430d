"""`harness list`: the built-in suites and model presets, a line each."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from harness.resources import list_models, list_suites


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = text.find(". ")
    return text if end == -1 else text[: end + 1]


def table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    """One line per row: names in full, the description cut to the terminal's width."""
    t = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        if i < len(columns) - 1:
            t.add_column(name, no_wrap=True, min_width=max(len(name), *(len(r[i]) for r in rows)))
        else:
            t.add_column(name, no_wrap=True, overflow="ellipsis")
    for row in rows:
        t.add_row(*row)
    return t


def main(args: argparse.Namespace) -> int:
    console = Console()
    suites = table(
        "Suites", ("suite", "kind", "description"), [(s.name, s.kind, first_sentence(s.description)) for s in list_suites()]
    )
    models = table(
        "Models", ("model", "adapter", "description"), [(m.name, m.adapter, first_sentence(m.description)) for m in list_models()]
    )
    console.print(suites)
    console.print(models)
    return 0
