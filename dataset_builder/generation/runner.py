"""The one runner of every generation task: engine call, reply conversion, filters, files.

    run = generate(task, engine)          # requests -> engine.generate once -> rows, drops
    metrics = run_task(task, engine, out)  # the same, then the output JSONL, the exclusion
                                           # file (<out stem>_excluded.jsonl) and metrics

Also the inputs every role-based task starts from: the chosen roles of a profiles folder's
roster and each one's profile lines (`load_role_profiles`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dataset_builder.generation.task import GenerationTask, TaskRun
from dataset_builder.scripts import Line, parse_profile
from rolellm.atomic import atomic_path, write_jsonl
from rolellm.engine.engine import Engine
from rolellm.errors import InputError
from rolellm.records import Role, read_roster, select_roles

# ----------------------------------------------------------------------------- inputs


def load_profile(profiles_dir: str | Path, role: Role) -> list[Line]:
    """The profile lines of one role (`<profiles_dir>/<slug>.jsonl`)."""
    path = Path(profiles_dir) / f"{role.slug}.jsonl"
    if not path.is_file():
        raise InputError(f"{path}: profile of {role.name!r} not found")
    return parse_profile(path.read_text(encoding="utf-8"), str(path))


def load_role_profiles(
    profiles_dir: str | Path, wanted: Sequence[str] | None
) -> tuple[list[Role], dict[str, list[Line]]]:
    """The chosen roles of the roster (all when `wanted` is None) and each one's profile
    lines, by slug."""
    chosen = select_roles(read_roster(profiles_dir), wanted)
    return chosen, {role.slug: load_profile(profiles_dir, role) for role in chosen}


def profile_texts(roles: Sequence[Role], profiles: Mapping[str, list[Line]]) -> dict[str, list]:
    """Each role's profile lines as text, by role name: what CopiesProfile compares with."""
    return {role.name: [line.content for line in profiles[role.slug]] for role in roles}


# ----------------------------------------------------------------------------- running


def default_excluded_path(out_path: str | Path) -> Path:
    out_path = Path(out_path)
    return out_path.with_name(f"{out_path.stem}_excluded.jsonl")


def generate(task: GenerationTask, engine: Engine) -> TaskRun:
    """Send every request of `task` in one engine call and read the replies into rows."""
    planned = task.requests()
    filters = task.filters()
    results = engine.generate([request for request, _ in planned])
    contexts = [context for _, context in planned]
    rows = [
        row
        for context, result in zip(contexts, results, strict=True)
        for row in task.rows(context, result, filters)
    ]
    return TaskRun(contexts, results, rows, filters)


def run_task(
    task: GenerationTask,
    engine: Engine,
    out_path: str | Path,
    excluded_path: str | Path | None = None,
) -> dict[str, Any]:
    """Run `task`, write its rows to `out_path` and its drops (with their reasons) to
    `excluded_path` (default `<out stem>_excluded.jsonl`); returns the task's metrics with
    the engine's statistics under "engine".

    Both files are renamed into place only once both are written: a crash leaves the
    previous outputs (or none), never a half-written file."""
    run = generate(task, engine)
    excluded_path = excluded_path or default_excluded_path(out_path)
    with atomic_path(out_path) as out_tmp, atomic_path(excluded_path) as excluded_tmp:
        write_jsonl(out_tmp, run.rows)
        run.filters.write_excluded(excluded_tmp)
    return {**task.metrics(run), "engine": engine.stats.as_dict()}
