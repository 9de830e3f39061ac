"""validate_folder: the quality gate over a RoleBench folder (or a raw release folder).

Steps: load shards and roster -> add `chk_*` helper columns per shard -> one GX context,
one suite per shard kind, a ValidationDefinition + Checkpoint per shard -> Data Docs (built
in a temporary folder, renamed onto `docs_dir`) -> validation.json (atomic) -> Report.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path

import pandas as pd

from dataset_builder.validation import checks
from dataset_builder.validation.config import ValidateConfig
from dataset_builder.validation.gx_run import Gate
from dataset_builder.validation.report import Report, failures_of, shard_result
from dataset_builder.validation.shards import Shard, ShardSet, load_profiles, load_shards
from dataset_builder.validation.suites import ShardKind, build_suite
from rolellm.atomic import atomic_path
from rolellm.errors import InputError, RolellmError
from rolellm.rules import RulesConfig


class GateFailed(RolellmError):
    """The quality gate found faults; the message is one line, the report has the rest."""

    exit_code = 1

    def __init__(self, report: Report, report_path: str | Path | None = None) -> None:
        failed = len(report.failures)
        shards = len({f.shard for f in report.failures})
        where = f" (see {report_path})" if report_path else ""
        super().__init__(
            f"quality gate failed: {failed} expectation(s) on {shards} shard(s){where}"
        )
        self.report = report


def with_helpers(
    shard: Shard,
    shards: ShardSet,
    cfg: ValidateConfig,
    profiles: Mapping[str, Sequence[str]],
    rules: RulesConfig,
) -> pd.DataFrame:
    """The shard's frame plus the `chk_*` columns its suite expects (see checks.py)."""
    kind = ShardKind.of(shard.spec, shard.split, shards.release)
    frame = shard.frame.copy()
    answers = checks.answers_of(frame)
    text = checks.joined_answers(answers)
    checks.add_answer_columns(frame, answers)
    frame[kind.ratio_column] = checks.script_ratio(frame, text, kind.lang)
    frame["chk_ooc_marker"] = checks.ooc_markers(frame, text, rules.ooc(kind.lang))
    frame["chk_copied_from"] = checks.copied_from(frame, answers, rules, profiles)
    if shard.split == "test":
        train = shards.find(shard.config, "train")
        frame["chk_in_train"] = checks.in_train(frame, train.frame if train else None)
    if shard.split == "train":
        frame["chk_held_out_role"] = checks.held_out_role(frame, _held_out_for(shard, shards))
    return frame


def _held_out_for(shard: Shard, shards: ShardSet) -> set[str]:
    """Instruction generalization trains on every role by design; elsewhere none held out."""
    if shard.spec.setting == "instruction_generalization":
        return set()
    return shards.held_out()


def run_gate(
    shards: ShardSet,
    cfg: ValidateConfig,
    docs_dir: Path | None,
    profiles: Mapping[str, Sequence[str]],
    rules: RulesConfig,
) -> Report:
    gate = Gate(docs_dir, examples=cfg.examples)
    report = Report(folder="", notes=list(shards.notes))
    for shard in shards.shards:
        kind = ShardKind.of(shard.spec, shard.split, shards.release)
        suite = build_suite(kind, shard.spec, cfg, shards.roster_names(kind.lang), rules)
        frame = with_helpers(shard, shards, cfg, profiles, rules)
        result = gate.validate(shard.asset_name, frame, suite)
        report.shards.append(shard_result(shard.name, shard.source, len(frame), result))
        report.failures += failures_of(shard.name, shard.source, frame, result)
    gate.build_docs()
    return report


def validate_folder(
    folder: str | Path,
    config: ValidateConfig | None = None,
    report_path: str | Path | None = "reports/validation.json",
    docs_dir: str | Path | None = "reports/data_docs",
    profiles_dir: str | Path | None = None,
    *,
    configs: Collection[str] | None = None,
    rules: RulesConfig | None = None,
) -> Report:
    """Run the quality gate on `folder`; write `report_path` and Data Docs at `docs_dir`.

    `folder` is a RoleBench folder (data/<config>/<split>.parquet + roles.json) or a raw
    release folder (rolebench-eng/, rolebench-zh/ jsonl files, checked as they are).
    `profiles_dir` holds `<slug>.jsonl` profiles for the copy check. None skips an output.
    `configs` limits the run to those configs (all their splits). `rules`: the copy and
    out-of-character rules (the `rules:` section; default RulesConfig()).
    """
    cfg = config or ValidateConfig()
    shards = load_shards(folder)
    if configs is not None:
        shards.shards = [shard for shard in shards.shards if shard.config in set(configs)]
        if not shards.shards:
            raise InputError(f"{folder}: none of the configs {sorted(configs)} is present")
    profiles = load_profiles(profiles_dir, shards.roster)
    docs = atomic_path(docs_dir) if docs_dir is not None else nullcontext(None)
    with docs as docs_tmp:
        report = run_gate(shards, cfg, docs_tmp, profiles, rules or RulesConfig())
    report.folder = str(folder)
    if docs_dir is not None:
        report.docs_index = str(Path(docs_dir) / "index.html")
    if report_path is not None:
        report.write(report_path)
    return report
