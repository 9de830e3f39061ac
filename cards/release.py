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

The jobs: cards.release_dataset and cards.release_model build and check each folder,
cards.provenance reads how the data was made; this module stages, scans and publishes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cards.config import ReleaseConfig, ReleasePaths, VerifyError
from cards.provenance import generation_provenance
from cards.release_dataset import build_dataset, verify_dataset
from cards.release_model import build_model, local_base, verify_model
from cards.secrets import scan_paths
from rolellm.atomic import atomic_path
from rolellm.errors import InputError
from rolellm.records import check_validation_report, read_roster

PARTS: tuple[str, ...] = ("dataset", "model")


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
    if not paths.rolebench.is_dir():
        raise InputError(f"{paths.rolebench}: RoleBench folder not found (run the pipeline first)")
    roles = read_roster(paths.rolebench)
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
