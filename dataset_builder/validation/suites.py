"""Expectation suites of the quality gate, one per shard kind (kind, split, language).

Every expectation is a GX built-in; checks without a built-in run on a `chk_*` helper column
(see checks.py). Each carries `meta = {"family": ..., "check": ...}`, which the report and
the tests use to name a fault, and a `notes` line shown in Data Docs.

Families: schema, completeness, roster, length, language, uniqueness, references,
confidence, question_type, out_of_character, copy, split_hygiene.
"""

from __future__ import annotations

from dataclasses import dataclass

import great_expectations as gx
import great_expectations.expectations as gxe
from datasets import List, Value

from dataset_builder.schema import QUESTION_TYPES, ConfigSpec
from dataset_builder.validation.config import ValidateConfig
from rolellm.rules import RulesConfig

# Columns of the original release files (checked as they are, `type` must be a string).
RELEASE_COLUMNS: dict[str, str] = {"role": "str", "question": "str", "generated": "list"}


@dataclass(frozen=True)
class ShardKind:
    """What decides a shard's suite: general/role_specific, split, language, release file."""

    kind: str
    split: str
    lang: str
    release: bool = False

    @classmethod
    def of(cls, spec: ConfigSpec, split: str, release: bool = False) -> ShardKind:
        return cls(spec.kind, split, spec.lang, release)

    @property
    def name(self) -> str:
        base = f"{self.kind}.{self.split}.{self.lang}"
        return f"{base}.release" if self.release else base

    @property
    def ratio_column(self) -> str:
        return "chk_cjk_ratio" if self.lang == "zh" else "chk_latin_ratio"

    def data_columns(self, spec: ConfigSpec) -> dict[str, str]:
        """Expected data columns and their pandas type names."""
        if not self.release:
            return {name: _type_name(feature) for name, feature in spec.features.items()}
        columns = dict(RELEASE_COLUMNS)
        if self.kind == "role_specific" and self.split != "rolegpt_baseline":
            columns["type"] = "str"
        return columns

    def helper_columns(self) -> list[str]:
        names = ["chk_n_answers", "chk_blank_answers", "chk_answer_min_chars"]
        names += ["chk_answer_max_chars", self.ratio_column, "chk_ooc_marker", "chk_copied_from"]
        if self.split == "test":
            names.append("chk_in_train")
        if self.split == "train":
            names.append("chk_held_out_role")
        return names


def _type_name(feature: object) -> str:
    if isinstance(feature, Value):
        return "str" if feature.dtype == "string" else feature.dtype
    if isinstance(feature, List):
        return "list"
    raise TypeError(f"no pandas type for feature {feature!r}")


def _exp(cls: type, family: str, check: str, notes: str, **kwargs: object) -> gxe.Expectation:
    return cls(meta={"family": family, "check": check}, notes=f"{family}: {notes}", **kwargs)


def _mostly(max_fraction: float) -> float:
    return round(1.0 - max_fraction, 6)


def schema_expectations(kind: ShardKind, spec: ConfigSpec) -> list[gxe.Expectation]:
    columns = kind.data_columns(spec)
    every = sorted(columns) + kind.helper_columns()
    out = [
        _exp(
            gxe.ExpectTableColumnsToMatchSet,
            "schema",
            "columns",
            "exactly the schema's columns (plus the gate's chk_* helpers)",
            column_set=every,
            exact_match=True,
        )
    ]
    for column, type_name in columns.items():
        out.append(
            _exp(
                gxe.ExpectColumnValuesToBeOfType,
                "schema",
                f"{column}_is_{type_name}",
                f"`{column}` holds {type_name} values in every file",
                column=column,
                type_=type_name,
            )
        )
    return out


def completeness_expectations() -> list[gxe.Expectation]:
    family = "completeness"
    out = [
        _exp(
            gxe.ExpectTableRowCountToBeBetween,
            family,
            "rows_present",
            "the shard has rows",
            min_value=1,
        )
    ]
    out += [
        _exp(gxe.ExpectColumnValuesToNotBeNull, family, f"{c}_not_null", f"{c} is set", column=c)
        for c in ("role", "question", "generated")
    ]
    out.append(
        _exp(
            gxe.ExpectColumnValuesToMatchRegex,
            family,
            "question_not_blank",
            "a question has a non-space character",
            column="question",
            regex=r"\S",
        )
    )
    out.append(
        _exp(
            gxe.ExpectColumnValuesToBeBetween,
            family,
            "answers_present",
            "at least one answer",
            column="chk_n_answers",
            min_value=1,
        )
    )
    out.append(
        _exp(
            gxe.ExpectColumnValuesToBeBetween,
            family,
            "answers_not_blank",
            "no empty or whitespace-only answer",
            column="chk_blank_answers",
            min_value=0,
            max_value=0,
        )
    )
    return out


def roster_expectations(roster: list[str]) -> list[gxe.Expectation]:
    return [
        _exp(
            gxe.ExpectColumnValuesToBeInSet,
            "roster",
            "role_in_roster",
            "every role is in roles.json (same language)",
            column="role",
            value_set=sorted(roster),
        )
    ]


def length_expectations(cfg: ValidateConfig) -> list[gxe.Expectation]:
    q, a = cfg.question_chars, cfg.answer_chars
    return [
        _exp(
            gxe.ExpectColumnValueLengthsToBeBetween,
            "length",
            "question_length",
            f"question has {q.min}..{q.max} characters",
            column="question",
            min_value=q.min,
            max_value=q.max,
        ),
        _exp(
            gxe.ExpectColumnValuesToBeBetween,
            "length",
            "answer_min_length",
            f"every answer has at least {a.min} characters",
            column="chk_answer_min_chars",
            min_value=a.min,
        ),
        _exp(
            gxe.ExpectColumnValuesToBeBetween,
            "length",
            "answer_max_length",
            f"every answer has at most {a.max} characters",
            column="chk_answer_max_chars",
            max_value=a.max,
        ),
    ]


def language_expectations(kind: ShardKind, cfg: ValidateConfig) -> list[gxe.Expectation]:
    zh = kind.lang == "zh"
    floor = cfg.zh_min_cjk_ratio if zh else cfg.en_min_latin_ratio
    script = "CJK" if zh else "Latin"
    return [
        _exp(
            gxe.ExpectColumnValuesToBeBetween,
            "language",
            "script_ratio",
            f"{script} letters are >= {floor:.0%} of letters in {cfg.language_mostly:.0%} of rows",
            column=kind.ratio_column,
            min_value=floor,
            max_value=1.0,
            mostly=cfg.language_mostly,
        )
    ]


def uniqueness_expectations(kind: ShardKind, cfg: ValidateConfig) -> list[gxe.Expectation]:
    out = [
        _exp(
            gxe.ExpectCompoundColumnsToBeUnique,
            "uniqueness",
            "role_question_unique",
            "(role, question) is unique within the split",
            column_list=["role", "question"],
            mostly=_mostly(cfg.max_duplicate_fraction),
        )
    ]
    if kind.kind == "general":
        bounds = cfg.references.for_split(kind.split)
        out.append(
            _exp(
                gxe.ExpectColumnValuesToBeBetween,
                "references",
                "references_per_sample",
                f"{bounds.min}..{bounds.max} references per general sample",
                column="chk_n_answers",
                min_value=bounds.min,
                max_value=bounds.max,
            )
        )
    return out


def role_specific_expectations(columns: dict[str, str], cfg: ValidateConfig) -> list:
    out = []
    if "confidence" in columns:
        out.append(
            _exp(
                gxe.ExpectColumnValuesToBeBetween,
                "confidence",
                "confidence_floor",
                f"confidence >= {cfg.min_confidence} (null: imported, skipped)",
                column="confidence",
                min_value=cfg.min_confidence,
            )
        )
    if "type" in columns:
        out.append(
            _exp(
                gxe.ExpectColumnValuesToBeInSet,
                "question_type",
                "type_value",
                "type is script_based or script_agnostic",
                column="type",
                value_set=list(QUESTION_TYPES),
            )
        )
    return out


def content_expectations(
    kind: ShardKind, cfg: ValidateConfig, rules: RulesConfig
) -> list[gxe.Expectation]:
    tolerance = cfg.ooc_max_fraction.for_split(kind.split)
    return [
        _exp(
            gxe.ExpectColumnValuesToBeNull,
            "out_of_character",
            "no_ooc_marker",
            f"no answer says it is an AI (at most {tolerance:.1%} of rows)",
            column="chk_ooc_marker",
            mostly=_mostly(tolerance),
        ),
        _exp(
            gxe.ExpectColumnValuesToBeNull,
            "copy",
            "no_copied_answer",
            f"no answer copies the reference or a profile line (ratio >= {rules.copy_ratio})",
            column="chk_copied_from",
        ),
    ]


def hygiene_expectations(kind: ShardKind, cfg: ValidateConfig) -> list[gxe.Expectation]:
    if kind.split == "test":
        return [
            _exp(
                gxe.ExpectColumnValuesToBeInSet,
                "split_hygiene",
                "test_not_in_train",
                f"(role, question) of test absent from train (at most {cfg.max_leak_fraction:.1%})",
                column="chk_in_train",
                value_set=[False],
                mostly=_mostly(cfg.max_leak_fraction),
            )
        ]
    if kind.split == "train":
        return [
            _exp(
                gxe.ExpectColumnValuesToBeInSet,
                "split_hygiene",
                "held_out_not_in_train",
                "held-out roles (roles.json) are absent from train",
                column="chk_held_out_role",
                value_set=[False],
            )
        ]
    return []


def build_suite(
    kind: ShardKind,
    spec: ConfigSpec,
    cfg: ValidateConfig,
    roster: list[str],
    rules: RulesConfig | None = None,
) -> gx.ExpectationSuite:
    """The suite of one shard kind; `roster` holds the role names of the shard's language."""
    columns = kind.data_columns(spec)
    expectations = (
        schema_expectations(kind, spec)
        + completeness_expectations()
        + roster_expectations(roster)
        + length_expectations(cfg)
        + language_expectations(kind, cfg)
        + uniqueness_expectations(kind, cfg)
        + (role_specific_expectations(columns, cfg) if kind.kind == "role_specific" else [])
        + content_expectations(kind, cfg, rules or RulesConfig())
        + hygiene_expectations(kind, cfg)
    )
    return gx.ExpectationSuite(name=kind.name, expectations=expectations)
