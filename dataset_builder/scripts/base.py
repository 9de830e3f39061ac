"""The line record every script parser yields, and the helpers parsers share.

A parsed script is a flat list of `Line(act_id, diag_id, role, content)`:

- `act_id` numbers the script's scenes from 0 in reading order: a new act starts at each
  scene heading (a Markdown `#` heading of a play, `INT.`/`EXT.` in a screenplay, `第一幕` or
  `场景` in a Chinese script). Consecutive headings with nothing between them (`## ACT II`
  followed by `### SCENE I`) open one act, so an act is a scene: the unit within which
  RoleLLM segments dialogues.
- `diag_id` numbers the records inside their act from 0.
- `role` is the speaker exactly as written (aliases are merged later, in roles.py), or
  `narration` for stage directions, action lines, scene headings and other speaker-less text.
- `content` is the text with runs of whitespace collapsed to one space.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from rolellm.errors import InputError

NARRATION = "narration"
_NARRATION_NAMES = frozenset({NARRATION, "旁白"})
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Line:
    act_id: int
    diag_id: int
    role: str
    content: str

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)


def is_narration(role: str) -> bool:
    """True for the narration pseudo-role (`narration`, any case, or `旁白` in imports)."""
    return role.strip().casefold() in _NARRATION_NAMES


def squash(text: str) -> str:
    """Collapse runs of whitespace to one space and strip the ends."""
    return _SPACES.sub(" ", text).strip()


def read_script_text(path: str | Path) -> str:
    """Read a script as UTF-8 (a BOM is dropped); InputError if missing, not UTF-8 or empty."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: script file not found")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (bad byte at offset {err.start})") from None
    if not text.strip():
        raise InputError(f"{path}: empty file")
    return text


class LineBuilder:
    """Collects records, numbering acts and lines; a parser calls heading(), add() and done()."""

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self._act = -1
        self._diag = 0
        self._act_has_body = False
        self._break = True

    def heading(self, text: str) -> None:
        """Start a new act (unless the current one holds only headings); keep the heading
        text as narration."""
        if self._act_has_body:
            self._break = True
        self._append(NARRATION, text)

    def add(self, role: str, content: str) -> None:
        """Append one record; empty content is ignored."""
        if self._append(role, content):
            self._act_has_body = True

    def _append(self, role: str, content: str) -> bool:
        content = squash(content)
        if not content:
            return False
        if self._break:
            self._act, self._diag, self._break = self._act + 1, 0, False
            self._act_has_body = False
        self.lines.append(Line(self._act, self._diag, squash(role), content))
        self._diag += 1
        return True
