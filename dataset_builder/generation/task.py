"""A generation task, in the spirit of distilabel's tasks.

A task turns its inputs into chat requests, each paired with a *context* (whatever the
task needs to read the replies: the role, the instruction, the segment, ...), and turns
each request's replies back into output rows. It never calls the engine and never writes
a file: `dataset_builder.generation.runner` does that, the same way for every stage.

Drops go through the `FilterRunner` the task builds (`filters`): a filter's drop, or a
`reject(row, reason)` for a reply that never reaches the filters (engine error, invalid
JSON, too few responses). The runner writes the dropped rows to the exclusion file and
puts the counts in the metrics.

A task's docstring lists its input and output columns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from dataset_builder.filters import FilterRunner
from rolellm.engine.types import ChatRequest, ChatResult

Row = dict[str, Any]
Context = TypeVar("Context")


@dataclass
class TaskRun(Generic[Context]):
    """What one run of a task produced: per request its context and result, the output
    rows (in request order) and the filters that counted and kept the drops."""

    contexts: list[Context]
    results: list[ChatResult]
    rows: list[Row]
    filters: FilterRunner


class GenerationTask(ABC, Generic[Context]):
    """Builds requests from its inputs and turns replies into rows and drops."""

    @abstractmethod
    def requests(self) -> list[tuple[ChatRequest, Context]]:
        """Every request to send, in order, each with the context its replies are read in."""

    def filters(self) -> FilterRunner:
        """The drop rules applied to the rows (default: none; rejects are still counted)."""
        return FilterRunner()

    @abstractmethod
    def rows(self, context: Context, result: ChatResult, filters: FilterRunner) -> list[Row]:
        """The kept output rows of one request's replies; drops are recorded in `filters`."""

    def metrics(self, run: TaskRun[Context]) -> dict[str, Any]:
        """The task's metrics (the runner adds the engine's statistics last)."""
        return {"written": len(run.rows), **run.filters.metrics()}
