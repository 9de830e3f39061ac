"""Stage `instructions`: the pool of general instructions with reference answers.

RoleLLM answers general instructions in character (RoleGPT, RAW/CUS scores); this stage
picks which instructions, keeps their original answers as the RAW reference, and decides
which of them are test-only (instruction generalization: a test instruction never occurs
in train).

Sources (`instructions.sources`, read in order):
    path    a local JSONL / JSON / CSV / TSV / Parquet file, a local dataset folder, a Hub
            dataset id (`owner/name`, loaded with `datasets.load_dataset(id, split=...)`), or
            `seed:<file>` for a file shipped in dataset_builder/seed/ (the defaults:
            `seed:instructions_en.jsonl`, `seed:instructions_zh.jsonl`, written by the team:
            open_ended / commonsense / knowledge questions with short reference answers).
    columns which source column holds the instruction, the answer and, optionally, the kind
            and the id. A column named explicitly that the source lacks is an InputError
            listing the available columns; the default `kind` / `id` columns are optional.
Rows with an empty instruction or answer are dropped and counted; so are repeated
instructions (same text once case, punctuation and spacing are ignored; the first wins).
Rows without an id get `<lang>-<first 12 hex of sha256(normalised instruction)>`.

Sampling (per language, `n_en` / `n_zh` rows, 0 = none) is deterministic and independent
of the Python version and of the order of the source files: within each kind, rows are
ranked by sha256(seed, lang, kind, id), and kinds are taken in turn (round robin, kinds by
name) so the sample is balanced across kinds as far as the pool allows; a larger n yields
a superset of a smaller one. Within each (lang, kind) of the sample, k * test_fraction
(rounded half up) rows, ranked by a second hash, become `test`, the rest `train`.

Output (data/instructions/pool.jsonl, sorted by lang then id), one row per instruction:
    id, lang, kind, instruction, answer, split ("train" | "test")
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from dataset_builder.instructions_config import (
    LANGS,
    SEED_PREFIX,
    ColumnMap,
    InstructionsConfig,
    InstructionSource,
)
from rolellm.atomic import write_jsonl
from rolellm.errors import ConfigError, InputError

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class PoolRow:
    id: str
    lang: str
    kind: str
    instruction: str
    answer: str
    split: Literal["train", "test"]

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class SourceStats:
    source: str
    lang: str
    rows: int  # rows read
    kept: int
    dropped_empty: int  # empty instruction or answer
    dropped_duplicate: int  # instruction already seen (this source or an earlier one)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    path = Path(path)
    records = []
    for number, raw in enumerate(_read_text(path).splitlines(), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}: line {number}: not valid JSON ({err.msg})") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}: line {number}: expected a JSON object")
        records.append(record)
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


def load_instructions(
    sources: Sequence[InstructionSource], *, cache_dir: str | Path | None = None
) -> tuple[list[Instruction], list[SourceStats]]:
    """All sources, in order, with repeated instructions (per language) dropped and
    counted. Two different instructions under one id is an InputError."""
    seen_text: set[tuple[str, str]] = set()
    seen_id: dict[str, str] = {}
    rows: list[Instruction] = []
    stats = []
    for source in sources:
        label = source_label(source)
        items, dropped_empty = load_source(source, cache_dir=cache_dir)
        kept = duplicates = 0
        for item in items:
            key = (item.lang, normalise_text(item.instruction))
            if key in seen_text:
                duplicates += 1
                continue
            if item.id in seen_id:
                where = "this source" if seen_id[item.id] == label else seen_id[item.id]
                raise InputError(
                    f"{label}: id {item.id!r} is used by two different instructions "
                    f"(the other is in {where})"
                )
            seen_text.add(key)
            seen_id[item.id] = label
            rows.append(item)
            kept += 1
        if dropped_empty or duplicates:
            log.warning(
                "%s: dropped %d rows with an empty instruction or answer and %d repeated "
                "instructions",
                label,
                dropped_empty,
                duplicates,
            )
        stats.append(
            SourceStats(
                label,
                source.lang,
                kept + duplicates + dropped_empty,
                kept,
                dropped_empty,
                duplicates,
            )
        )
    return rows, stats


# ----------------------------------------------------------------------------- sampling


def _rank(seed: int, purpose: str, lang: str, kind: str, row_id: str) -> str:
    text = f"rolellm/instructions/{purpose}/{seed}/{lang}/{kind}/{row_id}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _by_kind(rows: Iterable[Instruction]) -> dict[str, list[Instruction]]:
    groups: dict[str, list[Instruction]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        groups.setdefault(row.kind, []).append(row)
    return {kind: groups[kind] for kind in sorted(groups)}


def sample_instructions(rows: Sequence[Instruction], n: int, seed: int) -> list[Instruction]:
    """`n` rows of one language, balanced across kinds where the pool allows (kinds take
    turns; an exhausted kind is skipped). All rows when n >= len(rows). Deterministic: a
    function of (rows as a set, n, seed) only."""
    langs = {row.lang for row in rows}
    if len(langs) > 1:
        raise ValueError(f"sample one language at a time, got {sorted(langs)}")
    if n <= 0 or not rows:
        return []
    queues = [
        sorted(group, key=lambda r: (_rank(seed, "sample", r.lang, kind, r.id), r.id))
        for kind, group in _by_kind(rows).items()
    ]
    chosen: list[Instruction] = []
    depth = 0
    while len(chosen) < n and any(depth < len(q) for q in queues):
        for queue in queues:
            if depth < len(queue) and len(chosen) < n:
                chosen.append(queue[depth])
        depth += 1
    return chosen


def split_train_test(rows: Sequence[Instruction], test_fraction: float, seed: int) -> list[PoolRow]:
    """Each row once, as train or test: within every (lang, kind), the round(k *
    test_fraction) rows (half up) ranked first by a seeded hash are test (stratified, exact)."""
    out = []
    groups: dict[tuple[str, str], list[Instruction]] = {}
    for row in rows:
        groups.setdefault((row.lang, row.kind), []).append(row)
    for (lang, kind), group in sorted(groups.items()):
        ranked = sorted(group, key=lambda r: (_rank(seed, "split", lang, kind, r.id), r.id))
        n_test = math.floor(len(ranked) * test_fraction + 0.5)
        for position, row in enumerate(ranked):
            split: Literal["train", "test"] = "test" if position < n_test else "train"
            out.append(PoolRow(row.id, row.lang, row.kind, row.instruction, row.answer, split))
    return sorted(out, key=lambda r: (r.lang, r.id))


def select_pool(rows: Sequence[Instruction], cfg: InstructionsConfig) -> list[PoolRow]:
    """The pool: per language, sample `n_<lang>` rows and split them into train / test."""
    chosen: list[Instruction] = []
    for lang in LANGS:
        candidates = [row for row in rows if row.lang == lang]
        n = cfg.requested(lang)
        if n > len(candidates):
            log.warning(
                "instructions: n_%s is %d but the sources hold %d; taking all of them",
                lang,
                n,
                len(candidates),
            )
        chosen.extend(sample_instructions(candidates, n, cfg.seed))
    return split_train_test(chosen, cfg.test_fraction, cfg.seed)


# ----------------------------------------------------------------------------- stage


def pool_counts(
    pool: Sequence[PoolRow],
    available: Mapping[str, int],
    cfg: InstructionsConfig,
    stats: Sequence[SourceStats] = (),
) -> dict[str, Any]:
    """Counts for a metrics file: totals, per language (and per kind) train / test."""
    splits = Counter(row.split for row in pool)
    by_lang: dict[str, Any] = {}
    for lang in LANGS:
        rows = [row for row in pool if row.lang == lang]
        if not rows and not available.get(lang) and not cfg.requested(lang):
            continue
        kinds: dict[str, dict[str, int]] = {}
        for row in sorted(rows, key=lambda r: r.kind):
            entry = kinds.setdefault(row.kind, {"train": 0, "test": 0})
            entry[row.split] += 1
        lang_splits = Counter(row.split for row in rows)
        by_lang[lang] = {
            "available": int(available.get(lang, 0)),
            "requested": cfg.requested(lang),
            "selected": len(rows),
            "train": lang_splits["train"],
            "test": lang_splits["test"],
            "by_kind": kinds,
        }
    return {
        "total": len(pool),
        "train": splits["train"],
        "test": splits["test"],
        "by_lang": by_lang,
        "dropped_empty": sum(s.dropped_empty for s in stats),
        "dropped_duplicate": sum(s.dropped_duplicate for s in stats),
        "sources": [s.to_dict() for s in stats],
    }


def build_instruction_pool(
    cfg: InstructionsConfig,
    out_path: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Read the sources, sample, split, and write the pool atomically to `out_path`
    (default `cfg.out`). Returns the counts (see pool_counts)."""
    rows, stats = load_instructions(cfg.sources, cache_dir=cache_dir)
    pool = select_pool(rows, cfg)
    target = Path(out_path) if out_path is not None else Path(cfg.out)
    write_jsonl(target, (row.to_dict() for row in pool))
    available = Counter(row.lang for row in rows)
    return pool_counts(pool, available, cfg, stats)
