"""One ephemeral GX context per gate run: pandas data source, a ValidationDefinition and a
Checkpoint per shard, suites shared by shard kind, and our own Data Docs site.

The ephemeral context already owns a site named `local_site`; ours is `SITE_NAME`.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import great_expectations as gx
import pandas as pd
from great_expectations.core.expectation_validation_result import (
    ExpectationSuiteValidationResult,
)
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig

SITE_NAME = "rolebench_gate"
DATA_SOURCE = "rolebench"


def site_config(docs_dir: Path) -> dict:
    return {
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(Path(docs_dir).resolve()),
        },
    }


class Gate:
    """Runs suites on shards; `docs_dir` None skips Data Docs."""

    def __init__(self, docs_dir: Path | None, examples: int = 3) -> None:
        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.docs_dir = docs_dir
        if docs_dir is not None:
            self.context.add_data_docs_site(site_name=SITE_NAME, site_config=site_config(docs_dir))
        self.source = self.context.data_sources.add_pandas(DATA_SOURCE)
        self.run_id = RunIdentifier(run_name="rolebench_gate", run_time=dt.datetime.now(dt.UTC))
        self.result_format = {"result_format": "SUMMARY", "partial_unexpected_count": examples}
        self._suites: dict[str, gx.ExpectationSuite] = {}

    def suite(self, suite: gx.ExpectationSuite) -> gx.ExpectationSuite:
        """Register a suite once (by name) and return the stored one."""
        if suite.name not in self._suites:
            self._suites[suite.name] = self.context.suites.add(suite)
        return self._suites[suite.name]

    def validate(
        self, name: str, frame: pd.DataFrame, suite: gx.ExpectationSuite
    ) -> ExpectationSuiteValidationResult:
        """Validate one shard through its own ValidationDefinition and Checkpoint."""
        batch = self.source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=self.suite(suite))
        )
        checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                result_format=self.result_format,
            )
        )
        result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=self.run_id)
        return next(iter(result.run_results.values()))

    def build_docs(self) -> Path | None:
        if self.docs_dir is None:
            return None
        self.context.build_data_docs(site_names=[SITE_NAME])
        return self.docs_dir / "index.html"
