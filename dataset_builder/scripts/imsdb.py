"""Plain-text screenplays in the IMSDb style (format name `imsdb`).

    INT. MONK'S CAFE - DAY                    scene heading: new act, kept as narration
              Jerry stirs his coffee.         action: narration (one record per paragraph)
                             JERRY            cue: capitals, indented deeper than the
                   (sipping)                  dialogue below it; extensions such as (V.O.)
                   You know what I like?      are dropped, parentheticals are not speech
                                   CUT TO:    transition: dropped

A cue is recognised by layout: an upper-case line indented more than the next line, which
itself is indented more than the least-indented text of the file (headings, action).
Page furniture (`(MORE)`, `CONTINUED:`, bare page numbers) is dropped.
"""

from __future__ import annotations

import re

from dataset_builder.scripts.base import NARRATION, Line, LineBuilder
from dataset_builder.scripts.screenplay import TRANSITION, cue_name, dialogue_text

HEADING = re.compile(
    r"^(?:\d+[A-Z]?\s+)?((?:INT|EXT|EST|I/E)(?:\.?/(?:INT|EXT))?[.\s].*?)(?:\s+\d+[A-Z]?\.?)?$"
)
_FURNITURE = re.compile(r"^(?:\(MORE\)|\(?CONTINUED\)?:?(?:\s*\(\d+\))?|\d+\.?)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def is_cue(rows: list[str], i: int, base: int) -> str | None:
    if i + 1 >= len(rows) or not rows[i + 1].strip():
        return None
    if not _indent(rows[i]) > _indent(rows[i + 1]) > base:
        return None
    return cue_name(rows[i])


def _block_end(rows: list[str], start: int) -> int:
    end = start
    while end < len(rows) and rows[end].strip():
        end += 1
    return end


def parse_imsdb(text: str, source: str = "<text>") -> list[Line]:
    """Parse an IMSDb-style screenplay into line records (see the module docstring)."""
    rows = text.expandtabs(8).splitlines()
    base = min((_indent(r) for r in rows if r.strip()), default=0)
    out = LineBuilder()
    action: list[str] = []

    def flush() -> None:
        out.add(NARRATION, " ".join(action))
        action.clear()

    i = 0
    while i < len(rows):
        line = rows[i].strip()
        if not line or _FURNITURE.match(line) or TRANSITION.match(line):
            flush()
        elif m := HEADING.match(line):
            flush()
            out.heading(m.group(1))
        elif name := is_cue(rows, i, base):
            flush()
            end = _block_end(rows, i + 1)
            out.add(name, dialogue_text(rows[i + 1 : end], _FURNITURE.match))
            i = end
            continue
        else:
            action.append(line)
        i += 1
    flush()
    return out.lines
