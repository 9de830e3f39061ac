"""Verbs that publish: build the release folders, push them to the Hub, pull a pinned revision."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rolellm.commands.options import GateReportOpt, ParamsOpt, RoleBenchOpt, SetOpt, cli_params

app = typer.Typer()


@app.command("release")
def release(
    params: ParamsOpt = Path("params.yaml"),
    data: RoleBenchOpt = Path("data/rolebench"),
    validation_report: GateReportOpt = Path("reports/validation.json"),
    model_dir: Annotated[
        Path, typer.Option(help="training output (adapter/, training_summary.json)")
    ] = Path("models/rocit"),
    eval_metrics: Annotated[Path, typer.Option(help="evaluation metrics JSON")] = Path(
        "metrics/eval.json"
    ),
    reports: Annotated[
        Path, typer.Option(help="evaluation reports (eval.md, eval_details.json, plots/)")
    ] = Path("reports"),
    metrics_dir: Annotated[Path, typer.Option(help="generation metrics folder")] = Path("metrics"),
    out: Annotated[Path, typer.Option(help="release folder")] = Path("release"),
    base: Annotated[Path | None, typer.Option(help="local base model for the model check")] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="dataset or model (repeatable)")
    ] = None,
    verify: Annotated[
        bool | None, typer.Option("--verify/--no-verify", help="load what was built")
    ] = None,
    set_: SetOpt = None,
) -> None:
    """Build release/dataset and release/model (cards, shards, adapter) and verify them."""
    from cards.config import ReleasePaths
    from cards.provenance import generation_settings
    from cards.release import PARTS, run_release

    loaded = cli_params(params, set_) if params.is_file() else None
    cfg = (loaded or cli_params(None, set_)).release
    dvc_lock = params.parent / "dvc.lock"
    settings = generation_settings(loaded, dvc_lock) if loaded else {}
    paths = ReleasePaths(
        rolebench=data,
        validation=validation_report,
        model_dir=model_dir,
        eval_metrics=eval_metrics,
        eval_report=reports / "eval.md",
        eval_details=reports / "eval_details.json",
        eval_per_role=reports / "eval_per_role.csv",
        plots=reports / "plots",
        metrics_dir=metrics_dir,
        dvc_lock=dvc_lock,
        out=out,
        base_model=base,
    )
    result = run_release(cfg, paths, tuple(only or PARTS), settings, verify)
    typer.echo("\n".join(result.lines()))


@app.command("push")
def push(
    params: ParamsOpt = Path("params.yaml"),
    dataset_repo: Annotated[
        str | None, typer.Option(help="dataset repo id (default: params release.org/name)")
    ] = None,
    model_repo: Annotated[
        str | None, typer.Option(help="model repo id (default: params release.org/name)")
    ] = None,
    release_dir: Annotated[Path, typer.Option(help="release folder")] = Path("release"),
    private: Annotated[bool, typer.Option("--private", help="create the repos private")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the plan (files, sizes, tag); send nothing")
    ] = False,
    validation_report: GateReportOpt = Path("reports/validation.json"),
    dvc_lock: Annotated[Path, typer.Option(help="pipeline state named by the tag")] = Path(
        "dvc.lock"
    ),
    set_: SetOpt = None,
) -> None:
    """Publish the release folders to the Hub: one commit and one state tag per repo.

    The token comes from HF_TOKEN or `hf auth login`; HF_ENDPOINT selects another Hub.
    Without --dataset-repo/--model-repo both parts go to the repos named in params.yaml.
    """
    from cards.push import run_push, targets_from_options

    cfg = cli_params(params if params.is_file() else None, set_).release
    defaults = {"dataset": cfg.dataset_repo, "model": cfg.model_repo}
    targets = targets_from_options(release_dir, dataset_repo, model_repo, defaults)
    run_push(
        targets,
        validation=validation_report,
        dvc_lock=dvc_lock,
        private=private,
        dry_run=dry_run,
        echo=typer.echo,
    )


@app.command("pull")
def pull(
    repo: Annotated[str, typer.Argument(help="Hub repo id (namespace/name)")],
    type_: Annotated[str, typer.Option("--type", help="dataset or model")] = "dataset",
    revision: Annotated[
        str | None, typer.Option(help="branch, tag (e.g. state-<hash>) or commit")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="folder (default: the HF cache)")] = None,
) -> None:
    """Download a released repo at one pinned revision."""
    from cards.pull import pull as run_pull

    typer.echo(run_pull(repo, type_, revision, out).line())
