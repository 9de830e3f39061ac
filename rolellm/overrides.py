"""`-s/--set KEY=VALUE`: one override syntax for every verb, the keys of `dvc exp run -S`.

A key is a dotted path into params.yaml (`rolegpt.n`, `engine.local.batch_size`); a value is
YAML (`2`, `true`, `null`, `[hamlet, macbeth]`, `{temperature: 0.2}`). Overrides are applied
to the raw params mapping before validation, so a typo or a bad value stops the run with the
same one line as in params.yaml, naming the `--set` it came from:

    error: --set rolegpt.nn=2: rolegpt.nn: unknown key
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from rolellm.errors import ConfigError
from rolellm.sections import describe_error


def parse_override(item: str) -> tuple[tuple[str, ...], Any]:
    """`a.b=VALUE` -> (("a", "b"), VALUE parsed as YAML); ConfigError when malformed."""
    key, sep, raw = item.partition("=")
    path = tuple(part.strip() for part in key.split("."))
    if not sep or not all(path):
        raise ConfigError(f"--set {item}: expected KEY=VALUE (KEY dotted, e.g. rolegpt.n=2)")
    try:
        value = yaml.safe_load(raw)  # an empty value is null, as in params.yaml
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"--set {item}: value is not YAML ({problem})") from None
    return path, value


def apply_overrides(
    data: dict,
    sets: Sequence[str],
    source: str,
    schema: type[BaseModel],
) -> dict:
    """A copy of `data` (a params mapping read from `source`) with every `--set` applied.

    Later sets win. Missing sections are created. When `schema` (the params model) rejects
    the result and its first problem lies under an overridden key, the error names that
    `--set`; other problems are left to the caller, who reports them against `source`.
    `data` itself is never changed.
    """
    result = copy.deepcopy(data) if data else {}
    if not isinstance(result, dict):
        raise ConfigError(f"{source}: top level must be a mapping of sections")
    applied: list[tuple[tuple[str, ...], str]] = []
    for item in sets:
        path, value = parse_override(item)
        node = result
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise ConfigError(f"--set {item}: {where} is a value, not a section")
            node = child
        node[path[-1]] = value
        applied.append((path, item))
    if applied:
        _blame(result, applied, schema)
    return result


def _blame(data: dict, applied: list[tuple[tuple[str, ...], str]], schema: type[BaseModel]) -> None:
    """Raise the schema's first problem as a `--set` error when an override caused it."""
    try:
        schema.model_validate(data)
    except ValidationError as err:
        loc = tuple(str(part) for part in err.errors()[0]["loc"])
        for path, item in reversed(applied):  # the last set of a key is the one that counts
            common = min(len(loc), len(path))
            if common and loc[:common] == path[:common]:
                raise ConfigError(describe_error(err, f"--set {item}")) from None
