"""What every verb shares: the --params and --set options, params loading with path aliases,
the stage's engine, metrics writing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rolellm.config import Params, load_params, parse_params

GENERATED = Path("data/generated")

ParamsOpt = Annotated[Path, typer.Option("--params", "-p", help="params file")]
RoleBenchOpt = Annotated[Path, typer.Option(help="RoleBench folder")]
GateReportOpt = Annotated[Path, typer.Option(help="quality gate report; must say success: true")]
ProfilesOpt = Annotated[Path, typer.Option(help="profiles folder")]
OutJsonlOpt = Annotated[Path, typer.Option(help="output JSONL")]
MetricsOpt = Annotated[Path, typer.Option(help="metrics file")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="override a params key, as `dvc exp run -S` does (rolegpt.n=2); value is YAML;"
        " repeatable",
    ),
]


def cli_params(
    path: Path | None, sets: list[str] | None = None, aliases: dict[str, object] | None = None
) -> Params:
    """params.yaml (None: the defaults) with alias options, then every --set, applied.

    `aliases` maps a dotted key to an option's value (None: not given): path options such as
    `profiles --out` are thin aliases of the params key they set, so a stage's paths can be
    named in dvc.yaml's cmd and still live in one place.
    """
    given = [f"{key}={json.dumps(str(value))}" for key, value in (aliases or {}).items() if value]
    overrides = [*given, *(sets or [])]
    if path is None:
        return parse_params({}, "defaults", overrides)
    return load_params(path, overrides=overrides)


def default_params(path: Path | None) -> Path | None:
    """An explicit --params, else ./params.yaml when there is one, else None (the defaults)."""
    if path is None and Path("params.yaml").is_file():
        return Path("params.yaml")
    return path


def optional_file(path: Path) -> Path | None:
    return path if path.is_file() else None


class StageEngine:
    """The stage's engine; its cache statistics are printed when the stage ends."""

    def __init__(self, cfg: Params, stage: str):
        from rolellm.engine.engine import build_engine

        self.engine = build_engine(cfg.engine, stage)

    def __enter__(self):
        return self.engine

    def __exit__(self, exc_type, *rest) -> None:
        if exc_type is None:
            self.engine.cache.create()  # a declared DVC output, even when no call was made
        self.engine.close()
        if exc_type is None:
            stats = self.engine.stats
            typer.echo(f"cache: {stats.cache_hits} hit(s), {stats.cache_misses} miss(es)", err=True)


def write_metrics(path: Path, metrics: dict) -> None:
    from rolellm.atomic import write_json

    write_json(path, metrics)
