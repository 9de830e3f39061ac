"""The gate's report: per-shard counts (the DVC metric file) and one line per failure.

validation.json:
    {"success": bool, "evaluated": int, "passed": int, "failed": int,
     "shards": {"<config>/<split>": {"rows", "evaluated", "passed", "success"}}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from great_expectations.core.expectation_validation_result import (
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)

from rolellm.atomic import write_json

_WIDTH = 60


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python values; NaN as None."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def clip(value: Any, width: int = _WIDTH) -> str:
    value = _plain(value)
    text = repr(value) if not isinstance(value, str) else value
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class Failure:
    """One failing expectation on one shard."""

    shard: str
    source: str
    family: str
    check: str
    expectation: str
    unexpected: int | None
    rows: int
    examples: list[str] = field(default_factory=list)
    detail: str = ""

    def line(self) -> str:
        where = self.shard if self.source.endswith(".parquet") else f"{self.shard} ({self.source})"
        count = f"{self.unexpected:,} of {self.rows:,} rows" if self.unexpected is not None else ""
        head = f"FAIL {where} [{self.family}/{self.check}] {self.expectation}"
        parts = [p for p in (count, self.detail) if p]
        text = f"{head}: {'; '.join(parts)}" if parts else head
        return "\n".join([text] + [f"    e.g. {example}" for example in self.examples])


@dataclass
class ShardResult:
    shard: str
    suite: str
    source: str
    rows: int
    evaluated: int
    passed: int

    @property
    def success(self) -> bool:
        return self.passed == self.evaluated

    def metrics(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "evaluated": self.evaluated,
            "passed": self.passed,
            "success": self.success,
        }


@dataclass
class Report:
    folder: str
    shards: list[ShardResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    docs_index: str | None = None

    @property
    def success(self) -> bool:
        return bool(self.shards) and all(shard.success for shard in self.shards)

    @property
    def checks(self) -> set[tuple[str, str, str]]:
        """(shard, family, check) of every failure, for tests and scripts."""
        return {(f.shard, f.family, f.check) for f in self.failures}

    def metrics(self) -> dict[str, Any]:
        evaluated = sum(s.evaluated for s in self.shards)
        passed = sum(s.passed for s in self.shards)
        return {
            "success": self.success,
            "evaluated": evaluated,
            "passed": passed,
            "failed": evaluated - passed,
            "shards": {s.shard: s.metrics() for s in self.shards},
        }

    def write(self, path: str | Path) -> None:
        write_json(path, self.metrics())

    def lines(self) -> list[str]:
        rows = sum(s.rows for s in self.shards)
        m = self.metrics()
        verdict = "PASS" if self.success else "FAIL"
        out = [
            f"{verdict}: {len(self.shards)} shards, {rows:,} rows, "
            f"{m['passed']}/{m['evaluated']} expectations passed ({self.folder})"
        ]
        out += [f"note: {note}" for note in self.notes]
        out += [failure.line() for failure in self.failures]
        if self.docs_index:
            out.append(f"data docs: {self.docs_index}")
        return out


def shard_result(
    shard: str, source: str, rows: int, result: ExpectationSuiteValidationResult
) -> ShardResult:
    passed = sum(1 for r in result.results if r.success)
    return ShardResult(shard, result.suite_name, source, rows, len(result.results), passed)


def failures_of(
    shard: str, source: str, frame: pd.DataFrame, result: ExpectationSuiteValidationResult
) -> list[Failure]:
    return [_failure(shard, source, frame, r) for r in result.results if not r.success]


def _describe(config: Any) -> str:
    kwargs = config.kwargs
    target = kwargs.get("column") or ",".join(kwargs.get("column_list") or [])
    extra = {k: v for k, v in kwargs.items() if k in ("type_", "min_value", "max_value", "mostly")}
    inner = ", ".join([target] * bool(target) + [f"{k}={v}" for k, v in extra.items()])
    return f"{config.type}({inner})"


def _failure(
    shard: str, source: str, frame: pd.DataFrame, r: ExpectationValidationResult
) -> Failure:
    config = r.expectation_config
    meta = config.meta or {}
    result = r.result or {}
    failure = Failure(
        shard=shard,
        source=source,
        family=str(meta.get("family", "unknown")),
        check=str(meta.get("check", config.type)),
        expectation=_describe(config),
        unexpected=result.get("unexpected_count"),
        rows=len(frame),
    )
    info = r.exception_info or {}
    if info.get("raised_exception"):
        failure.detail = "error: " + clip(info.get("exception_message", ""), 120)
    elif "details" in result or "observed_value" in result:
        failure.detail = _observed(result)
    failure.examples = _examples(frame, config, result.get("partial_unexpected_index_list") or [])
    return failure


def _observed(result: dict) -> str:
    mismatched = (result.get("details") or {}).get("mismatched")
    if mismatched:
        return "columns " + ", ".join(f"{k}: {v}" for k, v in mismatched.items())
    return f"observed {clip(result.get('observed_value'))}"


def _examples(frame: pd.DataFrame, config: Any, indices: list) -> list[str]:
    columns = [config.kwargs.get("column")] if config.kwargs.get("column") else []
    columns += list(config.kwargs.get("column_list") or [])
    out = []
    for index in indices:
        if index not in frame.index:
            continue
        row = frame.loc[index]
        parts = [f"role={clip(row.get('role'), 24)}", f"question={clip(row.get('question'), 48)}"]
        parts += [f"{c}={clip(row.get(c), 48)}" for c in columns if c not in ("role", "question")]
        out.append(" ".join(parts))
    return out
