"""Stage `release`: the folders that `rolellm push` publishes, byte for byte, and their checks.

    release/dataset/   README.md (dataset card), roles.json, data/<config>/<split>.parquet
    release/model/     README.md (model card), adapter_config.json, adapter_model.safetensors,
                       tokenizer files and chat template, roles.json, rolellm.json (the system
                       prompt template chat uses), training_summary.json, plots/*.png, eval.md

Both folders are built in temporary folders beside their targets, verified, and only then
renamed into place, so a failed check leaves the previous release untouched:

- dataset: `datasets.load_dataset(folder, config, split=split)` for every config and split,
  row counts equal to the shards' and Features equal to schema.py's;
- model: the base model with the adapter loaded by PEFT (every adapter tensor present)
  generates one reply to a role-conditioned prompt.

No network: the base model for the check is the local folder training used (or `--base`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cards.config import ReleaseConfig
from cards.push import check_validation_report
from cards.secrets import scan_paths
from rolellm.atomic import atomic_path
from rolellm.errors import InputError, RolellmError

PARTS: tuple[str, ...] = ("dataset", "model")
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
# Files of the training output that do not belong in the release.
_SKIP_ADAPTER_FILES = {"README.md", "training_args.bin"}

GENERATION_PARTS: tuple[tuple[str, str, str], ...] = (
    (
        "rolegpt",
        "RoleGPT: in-character answers to general instructions (speaking style)",
        "rolegpt.json",
    ),
    (
        "context_instruct",
        "Context-Instruct: role-specific questions and answers (role knowledge)",
        "context_instruct.json",
    ),
    ("assemble", "Assembly: splits, de-duplication and leakage check", "assemble.json"),
)


class VerifyError(RolellmError):
    """A built release folder failed its check; nothing was published."""


@dataclass(frozen=True)
class ReleasePaths:
    """Inputs and the output folder of the release stage (defaults: the pipeline's paths)."""

    rolebench: Path = Path("data/rolebench")
    validation: Path = Path("reports/validation.json")
    model_dir: Path = Path("models/rocit")  # adapter/ and training_summary.json
    eval_metrics: Path = Path("metrics/eval.json")
    eval_report: Path = Path("reports/eval.md")
    eval_details: Path = Path("reports/eval_details.json")  # optional: per-role scores
    eval_per_role: Path = Path("reports/eval_per_role.csv")  # optional: copied as is
    plots: Path = Path("reports/plots")
    metrics_dir: Path = Path("metrics")
    dvc_lock: Path = Path("dvc.lock")
    out: Path = Path("release")
    base_model: Path | None = None  # local base model for the model check

    @property
    def adapter(self) -> Path:
        return self.model_dir / "adapter"

    @property
    def training_summary(self) -> Path:
        return self.model_dir / "training_summary.json"


@dataclass
class ReleaseResult:
    folders: dict[str, Path] = field(default_factory=dict)
    files: dict[str, dict[str, int]] = field(default_factory=dict)  # part -> {path: bytes}
    checks: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        for part, folder in self.folders.items():
            files = self.files.get(part, {})
            size = sum(files.values())
            out.append(f"{part}: {folder} ({len(files)} files, {size:,} bytes)")
        return out + self.checks


# --- small readers -------------------------------------------------------------------------


def _read_json(path: Path, what: str, hint: str = "") -> Any:
    if not path.is_file():
        raise InputError(f"{path}: {what} not found{f' ({hint})' if hint else ''}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: {what} is not valid JSON ({err})") from None


def dvc_outputs(dvc_lock: Path) -> dict[str, str]:
    """{out path: md5} of every stage output recorded in dvc.lock ({} when absent)."""
    if not dvc_lock.is_file():
        return {}
    try:
        lock = yaml.safe_load(dvc_lock.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return {}
    outputs = {}
    for stage in (lock.get("stages") or {}).values():
        for out in (stage or {}).get("outs") or []:
            if isinstance(out, Mapping) and out.get("path") and out.get("md5"):
                outputs[str(out["path"])] = str(out["md5"])
    return outputs


def git_commit(where: Path) -> str | None:
    """HEAD of the repository at ``where`` (read only); "+ uncommitted changes" when dirty."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=20
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    return f"{commit} (+ uncommitted changes)" if dirty.stdout.strip() else commit


def _sha256_json(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


# --- generation provenance -----------------------------------------------------------------


def generation_settings(
    params: Any, dvc_lock: Path = Path("dvc.lock")
) -> dict[str, dict[str, Any]]:
    """What params.yaml says about each generating stage: generator, seed, prompt hash.

    Read defensively (a section that does not exist yet is simply not described); the CLI
    passes the result to `run_release`.
    """
    settings: dict[str, dict[str, Any]] = {}
    engine = getattr(params, "engine", None)
    generator = _generator(engine, dvc_outputs(dvc_lock)) if engine else None
    rolegpt = getattr(params, "rolegpt", None)
    if rolegpt is not None:
        templates = None
        try:
            templates = {
                lang: {
                    n: rolegpt.template(lang, n)
                    for n in ("system", "catchphrases", "user", "demos")
                }
                for lang in ("en", "zh")
            }
        except Exception:  # noqa: BLE001 (the other stage's API may change)
            templates = None
        settings["rolegpt"] = {
            "generator": generator,
            "seed": getattr(rolegpt, "seed", None),
            "sampling": _dump(getattr(rolegpt, "sampling", None)),
            "prompt_templates_sha256": _sha256_json(templates) if templates else None,
            "settings": {k: getattr(rolegpt, k) for k in ("mode", "k", "n") if hasattr(rolegpt, k)},
        }
    context = getattr(params, "context_instruct", None)
    if context is not None:
        prompts = None
        try:
            from dataset_builder import context_instruct as ci

            prompts = {str(k): v for k, v in ci.PROMPTS.items()}
            prompts["__format__"] = getattr(ci, "FORMAT", None)
        except Exception:  # noqa: BLE001
            prompts = None
        settings["context_instruct"] = {
            "generator": generator,
            "seed": getattr(context, "seed", None),
            "sampling": _dump(getattr(context, "sampling", None)),
            "prompt_templates_sha256": _sha256_json(prompts) if prompts else None,
        }
    assemble = getattr(params, "assemble", None)
    if assemble is not None:
        settings["assemble"] = {"seed": getattr(assemble, "seed", None), "generator": "none"}
    return settings


def _dump(section: Any) -> Any:
    return section.model_dump(mode="json") if hasattr(section, "model_dump") else section


def _generator(engine: Any, outputs: Mapping[str, str]) -> str:
    backend = getattr(engine, "backend", "local")
    if backend == "openai":
        return f"{engine.openai.model} (OpenAI-compatible server)"
    local = engine.local
    text = f"{local.model} (local transformers"
    if local.revision:
        text += f", revision {local.revision}"
    if local.model in outputs:
        text += f", DVC md5 {outputs[local.model]}"
    if local.adapter:
        text += f", adapter {local.adapter}"
    return text + ")"


def generation_provenance(
    metrics_dir: Path, settings: Mapping[str, Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """One entry per generating part: what its metrics file and the params recorded."""
    settings = settings or {}
    parts = []
    for key, title, filename in GENERATION_PARTS:
        path = metrics_dir / filename
        metrics: dict[str, Any] = {}
        if path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                metrics = loaded if isinstance(loaded, dict) else {}
            except (json.JSONDecodeError, UnicodeDecodeError):
                metrics = {}
        given = settings.get(key) or {}
        filters: dict[str, int] = {}
        for name in ("dropped", "dropped_duplicates"):
            value = metrics.get(name)
            if isinstance(value, Mapping):
                filters.update({str(k): v for k, v in value.items() if isinstance(v, int)})
        stats = {
            k: v
            for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and k not in ("seed",)
        }
        parts.append(
            {
                "key": key,
                "title": title,
                "generator": metrics.get("generator")
                or metrics.get("model")
                or given.get("generator"),
                "seed": metrics.get("seed", given.get("seed")),
                "sampling": metrics.get("sampling") or given.get("sampling"),
                "prompt_templates_sha256": metrics.get("prompt_templates_sha256")
                or given.get("prompt_templates_sha256"),
                "settings": metrics.get("settings") or given.get("settings"),
                "filters": filters or None,
                "stats": stats or None,
                "source": str(path) if metrics else None,
            }
        )
    return parts


# --- dataset -------------------------------------------------------------------------------


def build_dataset(
    cfg: ReleaseConfig,
    paths: ReleasePaths,
    target: Path,
    provenance: Sequence[Mapping[str, Any]],
    validation: Mapping[str, Any],
) -> None:
    from cards.render import render_dataset_card
    from dataset_builder.rolebench_io import ROLES_FILE, list_shards, read_roles, spec_for

    source = paths.rolebench
    if not source.is_dir():
        raise InputError(f"{source}: RoleBench folder not found (run the pipeline first)")
    shards = list_shards(source)
    if not shards:
        raise InputError(f"{source}: no shards (data/<config>/<split>.parquet) to release")
    roles = read_roles(source)
    target.mkdir(parents=True)
    for config, split in shards:
        rel = spec_for(config).shard_path(split)
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target / rel)
    shutil.copyfile(source / ROLES_FILE, target / ROLES_FILE)
    card = render_dataset_card(cfg, target, roles, validation, provenance)
    (target / "README.md").write_text(card, encoding="utf-8")


def check_card_configs(folder: Path) -> None:
    """The card's `configs:` must name the shards present with their content hashes: users'
    shared datasets cache is keyed on them (docs/datasets_configs_cache.md)."""
    from dataset_builder.rolebench_io import CARD_FILE, configs_metadata, list_shards

    text = (folder / CARD_FILE).read_text(encoding="utf-8")
    front = yaml.safe_load(text.split("---\n", 2)[1]) if text.startswith("---\n") else None
    card = front.get("configs") if isinstance(front, dict) else None
    if card != configs_metadata(folder, list_shards(folder)):
        raise VerifyError(f"{folder}: README.md configs do not match the shards on disk")


def verify_dataset(folder: Path) -> list[str]:
    """Load every config/split with `datasets.load_dataset`; rows and Features must match."""
    import datasets
    import pyarrow.parquet as pq

    from dataset_builder.rolebench_io import list_shards, spec_for

    check_card_configs(folder)
    checked = []
    progress = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with tempfile.TemporaryDirectory(prefix="rolellm-verify-") as cache:
            for config, split in list_shards(folder):
                spec = spec_for(config)
                expected = pq.ParquetFile(folder / spec.shard_path(split)).metadata.num_rows
                try:
                    loaded = datasets.load_dataset(
                        str(folder), config, split=split, cache_dir=cache
                    )
                except Exception as err:  # noqa: BLE001 (any failure is the finding)
                    message = str(err).splitlines()[0] if str(err) else type(err).__name__
                    raise VerifyError(
                        f"{folder}: load_dataset({config!r}, split={split!r}) failed: {message}"
                    ) from None
                if loaded.num_rows != expected:
                    raise VerifyError(
                        f"{folder}: {config}/{split}: load_dataset gave {loaded.num_rows} rows, "
                        f"the shard has {expected}"
                    )
                if loaded.features != spec.features:
                    raise VerifyError(f"{folder}: {config}/{split}: Features differ from schema.py")
                checked.append(f"{config}/{split}")
    finally:
        if progress:
            datasets.enable_progress_bars()
    return checked


# --- model ---------------------------------------------------------------------------------


def _eval_results(paths: ReleasePaths) -> dict[str, Any]:
    from cards.render import eval_results

    metrics = _read_json(paths.eval_metrics, "evaluation metrics", "run `rolellm evaluate` first")
    if not isinstance(metrics, dict):
        raise InputError(f"{paths.eval_metrics}: expected a JSON object")
    details = None
    if paths.eval_details.is_file():
        details = _read_json(paths.eval_details, "evaluation details")
    results = eval_results(metrics, details if isinstance(details, dict) else None)
    if results["system"] is None:
        raise InputError(
            f"{paths.eval_metrics}: no scores of the trained model (system rocit) to publish"
        )
    return results


def base_model_id(cfg: ReleaseConfig, summary: Mapping[str, Any]) -> str:
    """The Hub id written into the card and adapter_config.json."""
    ref = str((summary.get("base_model") or {}).get("ref") or "")
    local = (summary.get("base_model") or {}).get("local")
    if ref and not local and not Path(ref).exists() and ref.count("/") == 1:
        return ref
    return cfg.base_model


def local_base(paths: ReleasePaths, summary: Mapping[str, Any]) -> str:
    """The base model the check loads: --base, else the folder training used."""
    if paths.base_model is not None:
        if not Path(paths.base_model).is_dir():
            raise InputError(f"{paths.base_model}: base model folder not found")
        return str(paths.base_model)
    ref = str((summary.get("base_model") or {}).get("ref") or "")
    if ref and Path(ref).is_dir():
        return ref
    if ref and (paths.model_dir.parent.parent / ref).is_dir():
        return str(paths.model_dir.parent.parent / ref)
    raise InputError(
        f"{paths.training_summary}: base model {ref or '?'!r} is not a local folder; "
        "pass --base <folder> for the model check (or --no-verify)"
    )


def example_prompt(roles: Sequence[Mapping[str, Any]], template: str | None) -> dict[str, str]:
    from training.prompts import DEFAULT_SYSTEM_PROMPT_TEMPLATE, RoleCard, render_system_prompt

    entry = next((r for r in roles if not r.get("held_out")), roles[0] if roles else None)
    card = RoleCard.from_entry(entry) if entry else RoleCard(name="Hamlet")
    question = "What do you think of the court?" if card.lang != "zh" else "你怎么看待你的处境？"
    return {
        "role": card.name,
        "system": render_system_prompt(card, template or DEFAULT_SYSTEM_PROMPT_TEMPLATE),
        "question": question,
    }


def build_model(
    cfg: ReleaseConfig,
    paths: ReleasePaths,
    target: Path,
    roles: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    from cards.render import render_model_card

    adapter = paths.adapter
    if not (adapter / "adapter_config.json").is_file() or not any(
        (adapter / name).is_file() for name in ADAPTER_WEIGHTS
    ):
        raise InputError(f"{adapter}: no trained adapter yet (run `rolellm train` first)")
    summary = _read_json(paths.training_summary, "training summary", "run `rolellm train` first")
    results = _eval_results(paths)
    base_id = base_model_id(cfg, summary)
    template = (summary.get("hyperparameters") or {}).get("system_prompt_template")

    target.mkdir(parents=True)
    for path in sorted(adapter.iterdir()):
        if path.is_file() and path.name not in _SKIP_ADAPTER_FILES:
            shutil.copyfile(path, target / path.name)
    config_path = target / "adapter_config.json"
    adapter_config = json.loads(config_path.read_text(encoding="utf-8"))
    adapter_config["base_model_name_or_path"] = base_id
    config_path.write_text(json.dumps(adapter_config, indent=2, sort_keys=True) + "\n")

    (target / "roles.json").write_text(
        json.dumps(list(roles), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    chat_config = {
        "base_model": base_id,
        "dataset": cfg.dataset_repo,
        "roles": "roles.json",
        "system_prompt_template": template,
    }
    (target / "rolellm.json").write_text(
        json.dumps(chat_config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    shutil.copyfile(paths.training_summary, target / "training_summary.json")
    plots = []
    if paths.plots.is_dir():
        for png in sorted(paths.plots.glob("*.png")):
            (target / "plots").mkdir(exist_ok=True)
            shutil.copyfile(png, target / "plots" / png.name)
            plots.append(f"plots/{png.name}")
    eval_report = None
    if paths.eval_report.is_file():
        shutil.copyfile(paths.eval_report, target / "eval.md")
        eval_report = "eval.md"
    if paths.eval_per_role.is_file():
        shutil.copyfile(paths.eval_per_role, target / paths.eval_per_role.name)
    lineage = {
        "git_commit": git_commit(paths.dvc_lock.resolve().parent),
        "outputs": dvc_outputs(paths.dvc_lock),
    }
    card = render_model_card(
        cfg,
        summary=summary,
        results=results,
        roles=roles,
        plots=plots,
        lineage=lineage,
        example=example_prompt(roles, template),
        eval_report=eval_report,
        base_model=base_id,
    )
    (target / "README.md").write_text(card, encoding="utf-8")
    return summary


def verify_model(
    folder: Path, base: str, roles: Sequence[Mapping[str, Any]], max_new_tokens: int = 8
) -> str:
    """Load base + adapter with PEFT, check every adapter tensor arrived, generate one reply."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.prompts import DEFAULT_SYSTEM_PROMPT_TEMPLATE, RoleCard, build_messages

    try:
        model = AutoModelForCausalLM.from_pretrained(base)
        model = PeftModel.from_pretrained(model, str(folder))
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    except Exception as err:  # noqa: BLE001
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VerifyError(f"{folder}: PEFT could not load the adapter on {base}: {first}") from None
    weights = folder / "adapter_model.safetensors"
    if weights.is_file():
        from safetensors.torch import load_file

        state = {k.replace(".default.", "."): v for k, v in model.state_dict().items()}
        for key, tensor in load_file(str(weights)).items():
            loaded = state.get(key)
            if loaded is None or not torch.equal(loaded.to(tensor.dtype).cpu(), tensor):
                raise VerifyError(f"{folder}: adapter tensor {key} was not loaded by PEFT")
    chat = json.loads((folder / "rolellm.json").read_text(encoding="utf-8"))
    template = chat.get("system_prompt_template") or DEFAULT_SYSTEM_PROMPT_TEMPLATE
    entry = next((r for r in roles if not r.get("held_out")), roles[0] if roles else {"name": "x"})
    role = RoleCard.from_entry(entry)
    messages = build_messages(role, "Who are you?", template)
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    model.eval()
    with torch.no_grad():
        output = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
        )
    new = output[0][inputs["input_ids"].shape[1] :]
    if len(new) == 0:
        raise VerifyError(f"{folder}: the model generated nothing")
    return tokenizer.decode(new, skip_special_tokens=True)


# --- the stage -----------------------------------------------------------------------------


def _file_sizes(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_release(
    cfg: ReleaseConfig,
    paths: ReleasePaths = ReleasePaths(),
    parts: Sequence[str] = PARTS,
    generation: Mapping[str, Mapping[str, Any]] | None = None,
    verify: bool | None = None,
) -> ReleaseResult:
    """Build (and verify) release/dataset and/or release/model; see the module docstring.

    ``generation``: what params say about the generating stages (`generation_settings`).
    ``verify``: None follows ``cfg.verify``.
    """
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise InputError(f"release: unknown part(s) {unknown or parts!r}; known: dataset, model")
    verify = cfg.verify if verify is None else verify
    validation = check_validation_report(paths.validation)
    from dataset_builder.rolebench_io import read_roles

    if not paths.rolebench.is_dir():
        raise InputError(f"{paths.rolebench}: RoleBench folder not found (run the pipeline first)")
    roles = read_roles(paths.rolebench)
    provenance = generation_provenance(paths.metrics_dir, generation)
    result = ReleaseResult()
    with ExitStack() as stack:
        staged = {part: stack.enter_context(atomic_path(paths.out / part)) for part in parts}
        if "dataset" in staged:
            build_dataset(cfg, paths, staged["dataset"], provenance, validation)
        if "model" in staged:
            summary = build_model(cfg, paths, staged["model"], roles)
        if verify and "dataset" in staged:
            checked = verify_dataset(staged["dataset"])
            result.checks.append(
                f"dataset check: load_dataset loaded {len(checked)} config/split(s), "
                "rows and Features equal to the shards"
            )
        if verify and "model" in staged:
            base = local_base(paths, summary)
            reply = verify_model(staged["model"], base, roles, cfg.verify_max_new_tokens)
            result.checks.append(
                f"model check: PEFT adapter on {base} answered {json.dumps(reply[:60])}"
            )
        findings = [
            (part, finding)
            for part, folder in staged.items()
            for finding in scan_paths([folder], folder)
        ]
        if findings:
            part, first = findings[0]
            more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
            where = paths.out / part / first.line()
            raise VerifyError(f"release: {where}{more}; nothing released")
        for part, folder in staged.items():
            result.files[part] = _file_sizes(folder)
            result.folders[part] = paths.out / part
    return result
