"""Fountain screenplays, the plain-text screenwriting standard (format name `fountain`).

Elements follow https://fountain.io/syntax: a title page (`Title:`, `Author:` ... up to the
first blank line) is skipped; boneyard `/* */`, notes `[[ ]]`, sections `#`, synopses `=` and
page breaks `===` are dropped; scene headings (`INT.`, `EXT.`, `EST.`, `INT./EXT.`, `I/E`, or
forced with a leading `.`; scene numbers `#12#` removed) start a new act and are kept as
narration; a character cue is an upper-case line after a blank line and before a non-blank
one (or forced with `@`), its extensions `(V.O.)`, `(CONT'D)` and the dual-dialogue `^`
dropped; parentheticals are not speech; lyrics `~` are speech; transitions (upper-case,
ending in `TO:`, or forced with `>`) are dropped; centered text `>THE END<` and action
(forced with `!` or not) are narration. Emphasis markers `*`, `**`, `_` are removed.
"""

from __future__ import annotations

import re

from dataset_builder.scripts.base import NARRATION, Line, LineBuilder
from dataset_builder.scripts.screenplay import TRANSITION, cue_name, dialogue_text

_BONEYARD = re.compile(r"/\*.*?\*/", re.DOTALL)
_NOTE = re.compile(r"\[\[.*?\]\]", re.DOTALL)
_TITLE_KEY = re.compile(r"^[A-Za-z][A-Za-z ]*:")
_HEADING = re.compile(r"^(?:INT|EXT|EST|INT\.?/EXT|EXT\.?/INT|I/E)[.\s]", re.IGNORECASE)
_FORCED_HEADING = re.compile(r"^\.(?=[A-Za-z0-9])")
_SCENE_NUMBER = re.compile(r"\s*#[\w.\-]+#\s*$")
_CENTERED = re.compile(r"^>\s*(.*?)\s*<$")
_DROPPED = re.compile(r"^(?:#|=(?!=)|={3,}\s*$)")
_EMPHASIS = re.compile(r"(\*{1,3}|_)(?=\S)(.+?)(?<=\S)\1")
_ESCAPE = re.compile(r"\\([*_\\])")


def _plain(text: str) -> str:
    return _ESCAPE.sub(r"\1", _EMPHASIS.sub(r"\2", text))


def _skip_title_page(rows: list[str]) -> list[str]:
    first = next((i for i, row in enumerate(rows) if row.strip()), len(rows))
    if first == len(rows) or not _TITLE_KEY.match(rows[first].strip()):
        return rows
    end = next((i for i in range(first, len(rows)) if not rows[i].strip()), len(rows))
    return rows[end:]


def _heading(line: str) -> str | None:
    if _FORCED_HEADING.match(line):
        line = line[1:]
    elif not _HEADING.match(line):
        return None
    return _SCENE_NUMBER.sub("", line)


def _character(line: str) -> str | None:
    line = line.rstrip("^ ").strip()
    if line.startswith("@"):
        return re.sub(r"\s*\([^)]*\)", "", line[1:]).strip() or None
    return cue_name(line)


def _is_transition(line: str, prev_blank: bool, next_blank: bool) -> bool:
    if line.startswith(">") and not line.endswith("<"):
        return True
    return prev_blank and next_blank and TRANSITION.match(line) is not None


class _Parser:
    def __init__(self, rows: list[str]) -> None:
        self.rows = [row.strip() for row in rows]
        self.out = LineBuilder()
        self.action: list[str] = []

    def flush(self) -> None:
        self.out.add(NARRATION, _plain(" ".join(self.action)))
        self.action = []

    def blank(self, i: int) -> bool:
        return i < 0 or i >= len(self.rows) or not self.rows[i]

    def run(self) -> list[Line]:
        i = 0
        while i < len(self.rows):
            i = self.step(i)
        self.flush()
        return self.out.lines

    def step(self, i: int) -> int:
        line, prev_blank, next_blank = self.rows[i], self.blank(i - 1), self.blank(i + 1)
        if not line or _DROPPED.match(line) or _is_transition(line, prev_blank, next_blank):
            self.flush()
        elif line.startswith("!"):
            self.action.append(line[1:])
        elif prev_blank and (heading := _heading(line)):
            self.flush()
            self.out.heading(_plain(heading))
        elif m := _CENTERED.match(line):
            self.action.append(m.group(1))
        elif prev_blank and not next_blank and (name := _character(line)):
            self.flush()
            return self.dialogue(name, i + 1)
        else:
            self.action.append(line)
        return i + 1

    def dialogue(self, name: str, start: int) -> int:
        end = start
        while not self.blank(end):
            end += 1
        lines = [row.removeprefix("~") for row in self.rows[start:end]]
        self.out.add(name, _plain(dialogue_text(lines)))
        return end


def parse_fountain(text: str, source: str = "<text>") -> list[Line]:
    """Parse a Fountain screenplay into line records (see the module docstring)."""
    text = _NOTE.sub("", _BONEYARD.sub("", text))
    return _Parser(_skip_title_page(text.splitlines())).run()
