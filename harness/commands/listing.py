"""`harness list`: the built-in suites and model presets, a line each."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from harness.resources import list_models, list_suites


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def main(args: argparse.Namespace) -> int:
    console = Console()
    suites = Table("suite", "kind", "description", title="Suites", title_justify="left")
    for s in list_suites():
        suites.add_row(s.name, s.kind, s.description.splitlines()[0] if s.description else "")
    models = Table("model", "adapter", "description", title="Models", title_justify="left")
    for m in list_models():
        models.add_row(m.name, m.adapter, m.description.splitlines()[0] if m.description else "")
    console.print(suites)
    console.print(models)
    return 0
