"""Dialogue segmentation of a parsed script for one target role, as in RoleLLM.

For every act (scene), in order:

1. merge consecutive lines of the same speaker (narration included) into one line;
2. drop everything after the target's last line (an act where the target never speaks is
   dropped whole);
3. cut the rest into dialogues, each ending with a line of the target, numbered
   `diag_id` 0, 1, ... within the act; `act_id` keeps the script's act number;
4. cap each dialogue at `max_exchange_lines` lines, keeping the lines nearest the target's
   line (the end of the dialogue).

The output is the released profile format: records `{act_id, diag_id, role, content}` in
which every `(act_id, diag_id)` group ends with the target speaking. `exchanges()` turns
such a profile into (context lines, target line) pairs, the unit of BM25 few-shot
demonstrations (RoleGPT) and of script-based Context-Instruct segments.

The target is compared by exact name: merge aliases first (roles.role_lines).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import groupby

from dataset_builder.scripts.base import Line


def _join(left: str, right: str) -> str:
    """Join two utterances: no space between two CJK characters, one space otherwise."""
    wide = left and right and ord(left[-1]) >= 0x2E80 and ord(right[0]) >= 0x2E80
    return left + right if wide else f"{left} {right}"


def _acts(lines: Iterable[Line]) -> Iterator[list[Line]]:
    for _, act in groupby(lines, key=lambda line: line.act_id):
        yield list(act)


def merge_consecutive(act: Sequence[Line]) -> list[Line]:
    """Merge runs of lines by one speaker into one line (contents joined)."""
    merged: list[Line] = []
    for line in act:
        if merged and merged[-1].role == line.role:
            merged[-1] = replace(merged[-1], content=_join(merged[-1].content, line.content))
        else:
            merged.append(line)
    return merged


def _dialogues(act: Sequence[Line], target: str) -> list[list[Line]]:
    dialogues: list[list[Line]] = []
    current: list[Line] = []
    for line in act:
        current.append(line)
        if line.role == target:
            dialogues.append(current)
            current = []
    return dialogues  # what follows the target's last line is left in `current`, dropped


def segment_profile(
    lines: Iterable[Line], target: str, max_exchange_lines: int | None = None
) -> list[Line]:
    """The target's profile: dialogues ending with the target (see the module docstring)."""
    if max_exchange_lines is not None and max_exchange_lines < 1:
        raise ValueError("max_exchange_lines must be at least 1")
    profile: list[Line] = []
    for act in _acts(lines):
        for diag_id, dialogue in enumerate(_dialogues(merge_consecutive(act), target)):
            kept = dialogue[-max_exchange_lines:] if max_exchange_lines else dialogue
            profile.extend(replace(line, diag_id=diag_id) for line in kept)
    return profile


@dataclass(frozen=True)
class Exchange:
    """One dialogue of a profile: the lines before the target's line, and that line."""

    context: tuple[Line, ...]
    target: Line


def exchanges(profile: Iterable[Line], target: str) -> list[Exchange]:
    """Split a profile into exchanges, one per (act_id, diag_id) group, ending at the
    group's last line by `target`; a group where the target does not speak is skipped
    (possible in imported profiles, never in segment_profile output)."""
    result = []
    for _, group in groupby(profile, key=lambda line: (line.act_id, line.diag_id)):
        rows = list(group)
        spoken = [i for i, line in enumerate(rows) if line.role == target]
        if spoken:
            result.append(Exchange(tuple(rows[: spoken[-1]]), rows[spoken[-1]]))
    return result
