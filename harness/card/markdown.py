"""Untrusted text in Markdown: model and dataset names, data notes and reviewer notes.

`inline` makes text one inert line: HTML is entity-escaped (no tags, so no `<script>` or
`<img onerror>`), Markdown punctuation is backslash-escaped (no links, images, emphasis, code,
table cells, headings), and URLs are broken so no renderer turns them into links. `fence`
wraps text in a code block whose fence no line of the text can close.
"""

from __future__ import annotations

import re

# CommonMark lets any ASCII punctuation be backslash-escaped; these start or end syntax.
_SPECIAL = re.compile(r"([\\`*_\[\]#|~$])")  # "(" and "!" are inert once "[" and "]" are
_URL = re.compile(r"(?i)\b(https?|ftp|file|javascript|data|mailto):")
_WWW = re.compile(r"(?i)\bwww\.")


def inline(text: object) -> str:
    s = " ".join(str(text).split())  # one line: no block syntax can start
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _SPECIAL.sub(r"\\\1", s)
    s = _URL.sub(lambda m: m.group(1) + "\\:", s)  # GFM autolinks need the bare scheme
    s = _WWW.sub(lambda m: m.group(0)[:3] + "\\.", s)
    if s[:1] in ("-", "+", "="):
        s = "\\" + s  # a list item, setext underline or quote if it ever starts a line
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", s)  # "1." would start an ordered list


def fence(text: str, info: str = "") -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    bar = "`" * max(3, longest + 1)
    return f"{bar}{info}\n{text.rstrip()}\n{bar}"
