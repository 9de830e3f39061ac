"""Readers of the `instructions` stage: one source (a JSONL / JSON / CSV / TSV / Parquet file,
a local dataset folder, a Hub dataset id, or a `seed:` file) read into raw records and mapped
through its column map to Instructions; see dataset_builder.instructions for the stage.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataset_builder.instructions_config import SEED_PREFIX, ColumnMap, InstructionSource
from rolellm.errors import ConfigError, InputError
from rolellm.records import read_jsonl_objects

KINDS: tuple[str, ...] = ("open_ended", "commonsense", "knowledge")  # the seed files' kinds
SEED_DIR = Path(__file__).resolve().parent / "seed"

_SUFFIX_FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_MAX_LISTED_COLUMNS = 20

# ----------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Instruction:
    id: str
    lang: str
    kind: str
    instruction: str
    answer: str


def normalise_text(text: str) -> str:
    """The form instructions are compared in: NFKC, case folded, punctuation and runs of
    whitespace collapsed to one space."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\W_]+", " ", text).strip()


def generated_id(lang: str, instruction: str) -> str:
    digest = hashlib.sha256(normalise_text(instruction).encode("utf-8")).hexdigest()
    return f"{lang}-{digest[:12]}"


# ----------------------------------------------------------------------------- reading


def resolve_path(path: str) -> Path:
    """`seed:<file>` -> the packaged seed file; anything else as given."""
    if path.startswith(SEED_PREFIX):
        name = path[len(SEED_PREFIX) :]
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ConfigError(f"{path}: a seed source names one file in {SEED_DIR}")
        return SEED_DIR / name
    return Path(path)


def source_format(source: InstructionSource) -> str:
    """The reader a source needs (`source.format` unless `auto`)."""
    if source.format != "auto":
        return source.format
    path = resolve_path(source.path)
    fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if path.is_dir():
        return "hub"  # a local dataset folder: datasets.load_dataset reads it
    if path.exists():
        if fmt is None:
            raise InputError(
                f"{path}: unknown file type {path.suffix!r}; use .jsonl, .json, .csv, .tsv or "
                ".parquet, or set format"
            )
        return fmt
    if fmt is None and not source.path.startswith(SEED_PREFIX) and _HUB_ID.match(source.path):
        return "hub"
    raise InputError(f"{path}: instruction file not found")


def source_label(source: InstructionSource) -> str:
    """How messages and stats name a source: the file path (seed files relative to the
    repository, so metrics do not change between machines), or `hub:<id>[<split>]`."""
    if source_format(source) == "hub":
        subset = f"/{source.subset}" if source.subset else ""
        return f"hub:{source.path}{subset}[{source.split}]"
    if source.path.startswith(SEED_PREFIX):
        return f"dataset_builder/seed/{source.path[len(SEED_PREFIX) :]}"  # stable across hosts
    return str(resolve_path(source.path))


def read_source(
    source: InstructionSource, *, cache_dir: str | Path | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The raw records of a source and its column names (in first-seen order)."""
    fmt = source_format(source)
    path = resolve_path(source.path)
    if fmt == "hub":
        return read_hub(source, cache_dir=cache_dir)
    if not path.is_file():
        raise InputError(f"{path}: instruction file not found")
    if fmt == "jsonl":
        return read_jsonl_records(path)
    if fmt == "json":
        return read_json_records(path)
    if fmt in ("csv", "tsv"):
        return read_csv_records(path, sep="\t" if fmt == "tsv" else ",")
    return read_parquet_records(path)


def _columns_of(records: Iterable[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(str(key), None)
    return list(seen)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror or err})") from None


def read_jsonl_records(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    records = [record for _, record in read_jsonl_objects(path)]
    return records, _columns_of(records)


def read_json_records(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """A JSON array of objects (a file of JSON lines named .json is read as JSONL)."""
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        return [], []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        if err.msg == "Extra data":
            return read_jsonl_records(path)
        raise InputError(f"{path}: line {err.lineno}: not valid JSON ({err.msg})") from None
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
        data = next(iter(data.values()))  # {"data": [...]} style
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise InputError(f"{path}: expected a JSON array of objects")
    return data, _columns_of(data)


def read_csv_records(path: str | Path, sep: str = ",") -> tuple[list[dict[str, Any]], list[str]]:
    """Every cell as text; empty cells stay empty strings (no NaN)."""
    import pandas as pd

    path = Path(path)
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        return [], []
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except (pd.errors.ParserError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: not a readable CSV file ({first})") from None
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    return frame.to_dict("records"), columns


def read_parquet_records(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: not a readable Parquet file ({first})") from None
    return table.to_pylist(), [str(c) for c in table.column_names]


def read_hub(
    source: InstructionSource, *, cache_dir: str | Path | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """`datasets.load_dataset(path, name=subset, split=split, revision=revision)`: a Hub id
    or a local dataset folder (always read afresh). Any failure (unknown id, no network,
    unknown split) is one InputError line naming the dataset."""
    import datasets

    label = f"hub:{source.path}" + (f"/{source.subset}" if source.subset else "")
    label += f"[{source.split}]"
    kwargs: dict[str, Any] = {"split": source.split}
    if source.subset:
        kwargs["name"] = source.subset
    if source.revision:
        kwargs["revision"] = source.revision
    if cache_dir is not None:
        kwargs["cache_dir"] = str(cache_dir)
    path = resolve_path(source.path)
    if path.is_dir():
        # datasets' cache key for a local folder with a `configs:` card ignores the files
        # (docs/datasets_configs_cache.md): rebuild from what is on disk on every read.
        kwargs["download_mode"] = "force_redownload"
    try:
        dataset = datasets.load_dataset(str(path), **kwargs)
    except Exception as err:  # the datasets library raises many unrelated types here
        text = " ".join(str(err).split())
        if len(text) > 300:
            text = text[:297] + "..."
        raise InputError(f"{label}: cannot load ({type(err).__name__}: {text})") from None
    if not isinstance(dataset, datasets.Dataset):
        raise InputError(f"{label}: expected one split, got {type(dataset).__name__}")
    return dataset.to_list(), [str(c) for c in dataset.column_names]


# ----------------------------------------------------------------------------- mapping


def _listed(columns: Sequence[str]) -> str:
    if not columns:
        return "(none)"
    shown = ", ".join(repr(c) for c in columns[:_MAX_LISTED_COLUMNS])
    more = len(columns) - _MAX_LISTED_COLUMNS
    return shown + (f", ... ({more} more)" if more > 0 else "")


def check_columns(mapping: ColumnMap, columns: Sequence[str], label: str) -> dict[str, str]:
    """Pool field -> source column for the fields that will be read.

    InputError when the instruction or answer column is missing, or when an explicitly
    mapped kind / id column is missing; the default kind / id columns are optional."""
    explicit = mapping.model_fields_set
    available = set(columns)
    used: dict[str, str] = {}
    for field in ("instruction", "answer", "kind", "id"):
        name = getattr(mapping, field)
        if name is None:
            continue
        if name in available:
            used[field] = name
        elif field in explicit:
            raise InputError(
                f"{label}: columns.{field} names column {name!r}, which is not in the source; "
                f"available columns: {_listed(columns)}"
            )
        elif field in ("instruction", "answer"):
            raise InputError(
                f"{label}: required column {name!r} ({field}) is missing; set "
                f"columns.{field} to one of the available columns: {_listed(columns)}"
            )
    return used


def _cell_text(value: Any, label: str, row: int, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | int | float):
        return str(value)
    raise InputError(
        f"{label}: row {row}: column {column!r} holds a {type(value).__name__}, expected text"
    )


def normalise_kind(value: str) -> str:
    """`Open-Ended` / `open ended` -> `open_ended`."""
    return re.sub(r"[\s\-]+", "_", value.strip().casefold())


def map_records(
    records: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    source: InstructionSource,
    label: str,
) -> tuple[list[Instruction], int]:
    """Records -> Instructions through the column map; rows with an empty instruction or
    answer are dropped (their number is returned). No rows at all, or no usable row, is an
    InputError naming the source."""
    if not records:
        raise InputError(f"{label}: empty instruction file (no rows)")
    used = check_columns(source.columns, columns, label)
    out = []
    dropped = 0
    for number, record in enumerate(records, 1):
        text = {
            field: _cell_text(record.get(column), label, number, column)
            for field, column in used.items()
        }
        if not text["instruction"] or not text["answer"]:
            dropped += 1
            continue
        kind = normalise_kind(text.get("kind", "")) or source.kind_default
        row_id = text.get("id") or generated_id(source.lang, text["instruction"])
        out.append(Instruction(row_id, source.lang, kind, text["instruction"], text["answer"]))
    if not out:
        raise InputError(f"{label}: all {len(records)} rows have an empty instruction or answer")
    return out, dropped


def load_source(
    source: InstructionSource, *, cache_dir: str | Path | None = None
) -> tuple[list[Instruction], int]:
    """One source's instructions and how many rows were dropped as empty."""
    label = source_label(source)
    records, columns = read_source(source, cache_dir=cache_dir)
    return map_records(records, columns, source, label)
