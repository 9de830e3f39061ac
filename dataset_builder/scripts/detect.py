"""Choose a parser for a script file by extension and content, and run it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from dataset_builder.scripts import chinese, imsdb, markdown_play
from dataset_builder.scripts.base import Line, is_narration, read_script_text
from dataset_builder.scripts.fountain import parse_fountain
from dataset_builder.scripts.profile import parse_profile
from dataset_builder.scripts.screenplay import cue_name
from rolellm.errors import InputError

Parser = Callable[[str, str], list[Line]]
PARSERS: dict[str, Parser] = {
    "markdown": markdown_play.parse_markdown,
    "imsdb": imsdb.parse_imsdb,
    "fountain": parse_fountain,
    "zh": chinese.parse_chinese,
    "profile": parse_profile,
}
FORMATS: tuple[str, ...] = tuple(PARSERS)
SCRIPT_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".fountain", ".spmd", ".jsonl"})
_BY_SUFFIX = {".jsonl": "profile", ".fountain": "fountain", ".spmd": "fountain"}
_CJK = re.compile(r"[\u3400-\u9fff]")
HOW_TO_PICK = (
    f"set the format to one of {', '.join(FORMATS)} in params.yaml "
    "(profiles.format for all scripts, or profiles.formats.<file name> for this one)"
)


def _fountain_cues(rows: list[str]) -> int:
    count = 0
    for i in range(1, len(rows) - 1):
        row, nxt = rows[i], rows[i + 1]
        if rows[i - 1].strip() or not row.strip() or not nxt.strip():
            continue
        if row[0].isspace() or nxt[0].isspace():
            continue
        count += bool(row.startswith("@") or cue_name(row.rstrip("^ ")))
    return count


def _imsdb_cues(rows: list[str]) -> int:
    base = min((len(r) - len(r.lstrip()) for r in rows if r.strip()), default=0)
    return sum(bool(r.strip() and imsdb.is_cue(rows, i, base)) for i, r in enumerate(rows))


def _zh_speakers(rows: list[str]) -> int:
    matches = (chinese.SPEAKER.match(r.strip()) for r in rows)
    return sum(bool(m and _CJK.search(m["name"])) for m in matches)


def _looks_like_profile(rows: list[str]) -> int:
    first = next((row for row in rows if row.strip()), "")
    try:
        row = json.loads(first)
    except json.JSONDecodeError:
        return 0
    return len(rows) if isinstance(row, dict) and "role" in row else 0


def format_scores(text: str) -> dict[str, int]:
    """How many lines of `text` look like a speaker cue of each format."""
    rows = text.expandtabs(8).splitlines()
    return {
        "markdown": sum(bool(markdown_play.CUE.match(r.strip())) for r in rows),
        "imsdb": _imsdb_cues(rows),
        "fountain": _fountain_cues([""] + rows + [""]),
        "zh": _zh_speakers(rows),
        "profile": _looks_like_profile(rows),
    }


def _detect(text: str, path: Path) -> str:
    if path.suffix.lower() in _BY_SUFFIX:
        return _BY_SUFFIX[path.suffix.lower()]
    scores = format_scores(text)
    top = max(scores.values())
    plausible = [name for name, score in scores.items() if score and score * 2 >= top]
    if len(plausible) == 1:
        return plausible[0]
    why = f"plausible: {', '.join(plausible)}" if plausible else "no known speaker layout found"
    raise InputError(f"{path}: cannot tell the script format ({why}); {HOW_TO_PICK}")


def detect_format(path: str | Path) -> str:
    """The format name of a script: `.jsonl` is `profile`, `.fountain`/`.spmd` `fountain`;
    otherwise the one format whose speaker cues are found in the text (a format counts as
    plausible with at least half the cues of the best one). InputError when none or several
    are plausible, listing them and saying how to set the format in params."""
    return _detect(read_script_text(path), Path(path))


def parse_script(path: str | Path, fmt: str = "auto") -> list[Line]:
    """Parse one script file into line records with the named parser (or `auto`).

    InputError (one line naming the file) when the format name is unknown, the file is
    missing, not UTF-8, empty, of an undetectable format, malformed (profile rows), or has
    no speech at all.
    """
    path = Path(path)
    if fmt != "auto" and fmt not in PARSERS:
        raise InputError(
            f"{path}: unknown script format '{fmt}' (choose auto, {', '.join(FORMATS)})"
        )
    text = read_script_text(path)
    name = _detect(text, path) if fmt == "auto" else fmt
    lines = PARSERS[name](text, str(path))
    if not any(not is_narration(line.role) for line in lines):
        raise InputError(f"{path}: no speech found when read as '{name}'; {HOW_TO_PICK}")
    return lines


def script_files(folder: str | Path) -> list[Path]:
    """The scripts in `folder`, in name order: files ending in .md, .markdown, .txt,
    .fountain, .spmd or .jsonl, hidden files skipped (a README without one of those endings
    may sit beside them). InputError when the folder does not exist."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: scripts folder not found")
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SCRIPT_SUFFIXES
    )


def parse_folder(
    folder: str | Path, fmt: str = "auto", formats: Mapping[str, str] | None = None
) -> dict[str, list[Line]]:
    """Parse every script in `folder` (see script_files), keyed by file name, in name order.
    `formats` overrides `fmt` for single files, by file name. InputError when there is none."""
    files = script_files(folder)
    if not files:
        raise InputError(f"{folder}: no script files ({', '.join(sorted(SCRIPT_SUFFIXES))})")
    formats = formats or {}
    return {p.name: parse_script(p, formats.get(p.name, fmt)) for p in files}
