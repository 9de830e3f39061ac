"""Provenance of a release: what dvc.lock, git and the generating stages' metrics and params
say about how the data was made (generator, seed, sampling, prompt hashes, filters).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

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
        templates = {
            lang: {
                n: rolegpt.template(lang, n) for n in ("system", "catchphrases", "user", "demos")
            }
            for lang in ("en", "zh")
        }
        settings["rolegpt"] = {
            "generator": generator,
            "seed": getattr(rolegpt, "seed", None),
            "sampling": _dump(getattr(rolegpt, "sampling", None)),
            "prompt_templates_sha256": _sha256_json(templates),
            "settings": {k: getattr(rolegpt, k) for k in ("mode", "k", "n") if hasattr(rolegpt, k)},
        }
    context = getattr(params, "context_instruct", None)
    if context is not None:
        from dataset_builder.context_instruct_prompts import FORMAT, PROMPTS

        prompts = {str(k): v for k, v in PROMPTS.items()} | {"__format__": FORMAT}
        settings["context_instruct"] = {
            "generator": generator,
            "seed": getattr(context, "seed", None),
            "sampling": _dump(getattr(context, "sampling", None)),
            "prompt_templates_sha256": _sha256_json(prompts),
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
