"""The RoleBench quality gate (Great Expectations Core 1.x).

    from dataset_builder.validation import ValidateConfig, validate_folder
    report = validate_folder("data/rolebench", ValidateConfig(), "reports/validation.json",
                             "reports/data_docs", profiles_dir="data/profiles")

Exports load lazily: `dataset_builder.validation.config` (the params section) imports
neither Great Expectations nor pandas.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ValidateConfig": "dataset_builder.validation.config",
    "Failure": "dataset_builder.validation.report",
    "Report": "dataset_builder.validation.report",
    "ShardResult": "dataset_builder.validation.report",
    "GateFailed": "dataset_builder.validation.runner",
    "validate_folder": "dataset_builder.validation.runner",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
