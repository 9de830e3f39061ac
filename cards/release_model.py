"""The model part of a release: the trained adapter, roles, chat settings, training summary,
evaluation report and plots, and the model card in release/model, and the check that PEFT
loads every adapter tensor on the base model and generates a reply.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cards.config import ReleaseConfig, ReleasePaths, VerifyError
from cards.provenance import dvc_outputs, git_commit
from rolellm.errors import InputError
from rolellm.records import ROLES_FILE, Role, read_json, write_roster

ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
# Files of the training output that do not belong in the release.
_SKIP_ADAPTER_FILES = {"README.md", "training_args.bin"}


def _eval_results(paths: ReleasePaths) -> dict[str, Any]:
    from cards.card_data import eval_results

    metrics = read_json(paths.eval_metrics, "evaluation metrics", "run `rolellm evaluate` first")
    if not isinstance(metrics, dict):
        raise InputError(f"{paths.eval_metrics}: expected a JSON object")
    details = None
    if paths.eval_details.is_file():
        details = read_json(paths.eval_details, "evaluation details")
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


def example_role(roles: Sequence[Role]) -> Role:
    """The role shown in examples: the first one trained on."""
    fallback = roles[0] if roles else Role(name="Hamlet", slug="hamlet")
    return next((r for r in roles if not r.held_out), fallback)


def example_prompt(roles: Sequence[Role], template: str | None) -> dict[str, str]:
    from training.prompts import DEFAULT_SYSTEM_PROMPT_TEMPLATE, render_system_prompt

    card = example_role(roles)
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
    roles: Sequence[Role],
) -> dict[str, Any]:
    from cards.render import render_model_card

    adapter = paths.adapter
    if not (adapter / "adapter_config.json").is_file() or not any(
        (adapter / name).is_file() for name in ADAPTER_WEIGHTS
    ):
        raise InputError(f"{adapter}: no trained adapter yet (run `rolellm train` first)")
    summary = read_json(paths.training_summary, "training summary", "run `rolellm train` first")
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

    write_roster(target / ROLES_FILE, roles)
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


def verify_model(folder: Path, base: str, roles: Sequence[Role], max_new_tokens: int = 8) -> str:
    """Load base + adapter with PEFT, check every adapter tensor arrived, generate one reply."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.prompts import DEFAULT_SYSTEM_PROMPT_TEMPLATE, build_messages

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
    chat = read_json(folder / "rolellm.json", "chat settings")
    template = chat.get("system_prompt_template") or DEFAULT_SYSTEM_PROMPT_TEMPLATE
    messages = build_messages(example_role(roles), "Who are you?", template)
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
