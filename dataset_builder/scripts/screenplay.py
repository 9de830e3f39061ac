"""Pieces shared by the two screenplay formats (IMSDb plain text and Fountain)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_EXTENSION = re.compile(r"\s*\([^)]*\)")
_NAME = re.compile(r"^[A-Z0-9][A-Z0-9 .'&/\-]*$")
TRANSITION = re.compile(r"^[A-Z][A-Z0-9 .'\-]*(?:TO:|IN:|OUT[.:]|TO BLACK[.:]?)$")


def cue_name(line: str, max_len: int = 40) -> str | None:
    """The speaker of a character cue (`JERRY`, `GEORGE (V.O.)`, `MRS. ROSS (CONT'D)`), or
    None when the line cannot be one. Extensions in parentheses are dropped."""
    name = _EXTENSION.sub("", line.strip()).strip()
    if len(name) > max_len or not _NAME.match(name) or not re.search(r"[A-Z]", name):
        return None
    if TRANSITION.match(name):
        return None
    return name


def dialogue_text(lines: Sequence[str], skip: Callable[[str], object] = lambda s: False) -> str:
    """Join the dialogue lines under a cue, leaving out parentheticals such as `(beat)`,
    which may span several lines."""
    words: list[str] = []
    in_paren = False
    for raw in lines:
        line = raw.strip()
        if not in_paren and line.startswith("("):
            in_paren = True
        if in_paren:
            in_paren = not line.endswith(")")
            continue
        if not skip(line):
            words.append(line)
    return " ".join(words)
