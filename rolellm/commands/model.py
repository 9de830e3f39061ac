"""Verbs of the model: RoCIT training, evaluation, Rouge-L scoring of any files, terminal chat."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rolellm.commands.options import (
    GateReportOpt,
    ParamsOpt,
    RoleBenchOpt,
    SetOpt,
    cli_params,
    default_params,
)

app = typer.Typer()


@app.command("train")
def train(
    params: ParamsOpt = Path("params.yaml"),
    data: RoleBenchOpt = Path("data/rolebench"),
    validation_report: GateReportOpt = Path("reports/validation.json"),
    out: Annotated[Path, typer.Option(help="adapter, summary, checkpoints")] = Path("models/rocit"),
    metrics: Annotated[Path, typer.Option(help="final metrics JSON")] = Path("metrics/train.json"),
    live_dir: Annotated[Path, typer.Option(help="DVCLive folder")] = Path("dvclive/train"),
    base_model: Annotated[
        Path | None, typer.Option(help="model to adapt (alias of train.base_model)")
    ] = None,
    set_: SetOpt = None,
) -> None:
    """RoCIT: fine-tune a LoRA adapter on RoleBench (also under `accelerate launch`)."""
    from training.rocit import TrainPaths
    from training.rocit import train as run_training

    cfg = cli_params(params, set_, {"train.base_model": base_model}).train
    paths = TrainPaths(
        data_dir=data,
        out_dir=out,
        validation_report=validation_report,
        metrics=metrics,
        live_dir=live_dir,
        dvc_lock=params.parent / "dvc.lock",
    )
    result = run_training(cfg, paths)
    if result.is_main:
        steps = result.summary["training"]["global_steps"]
        typer.echo(f"adapter written: {result.adapter_dir} ({steps} steps)")


@app.command("evaluate")
def evaluate(
    params: Annotated[
        Path | None, typer.Option("--params", "-p", help="params file (default: ./params.yaml)")
    ] = None,
    data: RoleBenchOpt = Path("data/rolebench"),
    model: Annotated[
        str | None,
        typer.Option(
            help="model folder, Hub id, or served name (alias of evaluate.model; without"
            " --adapter it is evaluated alone: evaluate.adapter=null)"
        ),
    ] = None,
    adapter: Annotated[
        str | None, typer.Option(help="PEFT adapter folder (alias of evaluate.adapter)")
    ] = None,
    metrics: Annotated[Path, typer.Option(help="metrics JSON")] = Path("metrics/eval.json"),
    reports: Annotated[Path, typer.Option(help="report folder")] = Path("reports"),
    set_: SetOpt = None,
) -> None:
    """Rouge-L RAW / CUS / SPE (and an optional LLM judge) of RoCIT, its base and RoleGPT.

    Any other setting is a params key: `-s engine.backend=openai -s evaluate.max_per_role=5
    -s evaluate.judge.enabled=true`.
    """
    from training.evaluate import EvalPaths, run_evaluate

    aliases: dict[str, object] = {"evaluate.model": model, "evaluate.adapter": adapter}
    sets = list(set_ or [])
    if model and not adapter:  # the pipeline's adapter is not applied to someone else's model
        sets.insert(0, "evaluate.adapter=null")
    cfg = cli_params(default_params(params), sets, aliases)
    result = run_evaluate(
        cfg.evaluate,
        cfg.engine,
        EvalPaths(data=data, metrics=metrics, reports=reports),
        train_template=cfg.train.system_prompt_template,
    )
    typer.echo("\n".join(result.lines()))
    typer.echo(f"report: {result.paths.report}")


@app.command("score")
def score(
    predictions: Annotated[
        Path, typer.Argument(help="predictions .jsonl (role, question, generated)")
    ],
    references: Annotated[
        Path, typer.Argument(help="references .jsonl (role, question, generated)")
    ],
    lang: Annotated[
        str, typer.Option("--lang", help="en (rouge-score tokens) or zh (jieba)")
    ] = "en",
    multi_ref: Annotated[
        str, typer.Option("--multi-ref", help="max: best reference; first: first reference only")
    ] = "max",
    stem: Annotated[bool, typer.Option("--stem", help="Porter stemming (English only)")] = False,
    zh_tokens: Annotated[
        str, typer.Option("--zh-tokens", help="zh only: words (jieba) or chars")
    ] = "words",
) -> None:
    """Rouge-L F1 of predictions against references, matched by role + question; prints JSON."""
    import json

    from training.score import score_files

    report = score_files(
        predictions,
        references,
        lang=lang,  # validated by score_files
        multi_ref=multi_ref,
        use_stemmer=stem,
        zh_tokens=zh_tokens,
    )
    typer.echo(json.dumps(report, ensure_ascii=False))


@app.command("chat")
def chat(
    model: Annotated[str, typer.Option(help="model folder or Hub id (adapter or full model)")],
    role: Annotated[str, typer.Option(help="role name or slug")],
    base: Annotated[str | None, typer.Option(help="base model of an adapter")] = None,
    roles: Annotated[
        Path | None, typer.Option(help="roles.json (default: the model's own)")
    ] = None,
    revision: Annotated[str | None, typer.Option(help="Hub revision of --model")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, mps")] = "auto",
    max_new_tokens: Annotated[int, typer.Option(min=1, help="reply length limit")] = 256,
    temperature: Annotated[float, typer.Option(min=0.0, help="0 = greedy")] = 0.7,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    transcript: Annotated[
        Path | None, typer.Option(help="append each turn (prompt messages, reply) as JSON")
    ] = None,
) -> None:
    """Chat in the terminal as a role (streams tokens, keeps the history, /exit quits)."""
    from cards.chat import start_chat

    start_chat(
        model,
        role,
        base=base,
        roles=roles,
        revision=revision,
        device=device,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        seed=seed,
        transcript=transcript,
    )
