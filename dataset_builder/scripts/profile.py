"""The released RoleBench profile format (format name `profile`): JSON Lines, one record a
line, `{"act_id": int, "diag_id": int, "role": str, "content": str}`, imported as is.

Every row is checked: invalid JSON, a row that is not an object, a missing field or a field
of the wrong type is an InputError naming the file and the line number. Extra fields are
ignored. Blank lines are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from dataset_builder.scripts.base import Line
from rolellm.atomic import write_jsonl
from rolellm.errors import InputError

FIELDS: dict[str, type] = {"act_id": int, "diag_id": int, "role": str, "content": str}


def _row_to_line(row: object, where: str) -> Line:
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a JSON object with {', '.join(FIELDS)}")
    for name, kind in FIELDS.items():
        if name not in row:
            raise InputError(f"{where}: missing field '{name}'")
        value = row[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InputError(
                f"{where}: field '{name}' must be {'an integer' if kind is int else 'a string'}"
                f" (got {json.dumps(value, ensure_ascii=False)[:40]})"
            )
    return Line(row["act_id"], row["diag_id"], row["role"], row["content"])


def parse_profile(text: str, source: str = "<text>") -> list[Line]:
    """Parse profile JSONL text; errors name `source` and the 1-based line number."""
    lines: list[Line] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{source}: line {number}"
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as err:
            raise InputError(f"{where}: invalid JSON ({err.msg})") from None
        lines.append(_row_to_line(row, where))
    return lines


def write_profile(path: str | Path, lines: Iterable[Line]) -> int:
    """Write records in the profile format, atomically; returns the number of rows."""
    return write_jsonl(path, (line.to_dict() for line in lines))
