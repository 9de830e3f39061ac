"""The RoleBench quality gate (Great Expectations Core 1.x).

from dataset_builder.validation import ValidateConfig, validate_folder
report = validate_folder("data/rolebench", ValidateConfig(), "reports/validation.json",
                         "reports/data_docs", profiles_dir="data/profiles")
"""

from dataset_builder.validation.config import ValidateConfig
from dataset_builder.validation.report import Failure, Report, ShardResult
from dataset_builder.validation.runner import validate_folder

__all__ = ["Failure", "Report", "ShardResult", "ValidateConfig", "validate_folder"]
