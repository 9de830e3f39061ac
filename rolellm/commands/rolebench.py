"""Verbs that build, import and check a RoleBench folder: assemble, import-rolebench, validate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rolellm.commands.options import (
    GENERATED,
    MetricsOpt,
    ParamsOpt,
    RoleBenchOpt,
    SetOpt,
    cli_params,
    default_params,
    optional_file,
    write_metrics,
)

app = typer.Typer()


@app.command("assemble")
def assemble(
    params: ParamsOpt = Path("params.yaml"),
    generated: Annotated[Path, typer.Option(help="generation outputs")] = GENERATED,
    roles: Annotated[Path, typer.Option(help="roster")] = Path("data/profiles/roles.json"),
    out: RoleBenchOpt = Path("data/rolebench"),
    metrics: MetricsOpt = Path("metrics/assemble.json"),
    set_: SetOpt = None,
) -> None:
    """Assemble RoleBench shards (parquet + card) that load_dataset reads."""
    from dataset_builder.assemble import run_assemble

    cfg = cli_params(params, set_)
    result = run_assemble(
        generated / "rolegpt.jsonl",
        generated / "context_instruct.jsonl",
        roles,
        out,
        cfg.assemble,
        rolegpt_specific_path=optional_file(generated / "rolegpt_specific.jsonl"),
    )
    write_metrics(metrics, result)
    for config in result["not_built"]:
        typer.echo(f"note: {config} not built: it has no train or no test rows", err=True)
    typer.echo(f"RoleBench written: {out}")


@app.command("import-rolebench")
def import_rolebench(
    release: Annotated[Path, typer.Argument(help="original release (rolebench-eng/, -zh/)")],
    out: Annotated[Path, typer.Option("--out", help="RoleBench folder to write")],
) -> None:
    """Convert the original RoleBench release into our layout (loads with load_dataset)."""
    from dataset_builder.importer import import_release

    report = import_release(release, out)
    typer.echo("\n".join(report.lines()))
    typer.echo(f"written: {out}")


@app.command("validate")
def validate(
    folder: Annotated[Path, typer.Argument(help="RoleBench folder, or a raw release folder")],
    report: Annotated[Path, typer.Option(help="metrics JSON")] = Path("reports/validation.json"),
    docs: Annotated[Path, typer.Option(help="Data Docs folder")] = Path("reports/data_docs"),
    profiles: Annotated[
        Path | None, typer.Option(help="profiles folder (<slug>.jsonl) for the copy check")
    ] = None,
    params: Annotated[
        Path | None, typer.Option("--params", "-p", help="params file (default: ./params.yaml)")
    ] = None,
    config: Annotated[
        list[str] | None, typer.Option("--config", help="only these configs (repeatable)")
    ] = None,
    set_: SetOpt = None,
) -> None:
    """Quality gate (Great Expectations): exits 1 with a short report when a check fails."""
    from dataset_builder.validation import GateFailed, validate_folder

    cfg = cli_params(default_params(params), set_)
    result = validate_folder(
        folder, cfg.validation, report, docs, profiles, configs=config or None, rules=cfg.rules
    )
    typer.echo("\n".join(result.lines()))
    if not result.success:
        raise GateFailed(result, report)
