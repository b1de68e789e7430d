"""The one exception type that reaches the user as a one-line message and exit status 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HarnessError(Exception):
    """A problem with the user's input or configuration.

    The message is a single line saying what is wrong, where (file:line, column, name) and how to
    fix it. The CLI prints it without a traceback and exits with status 2.
    """


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean ...?)' suffix listing close matches of a misspelled name, or ''."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def where(path: object, line: int | None = None) -> str:
    """'path:line' or 'path', for error messages."""
    return f"{path}:{line}" if line is not None else str(path)
