"""Helper columns computed in pandas where GX has no built-in expectation.

Each helper is named `chk_*` and gets a plain built-in expectation in suites.py, so every
check appears in GX results and Data Docs. Helpers tolerate broken input (a missing
column, a non-list `generated`): they then hold nulls or zeros, and the schema checks fail.

Columns added (all shards):
    chk_n_answers         int    number of answers in `generated`
    chk_blank_answers     int    answers that are empty or whitespace only
    chk_answer_min_chars  float  shortest answer in characters (null without answers)
    chk_answer_max_chars  float  longest answer in characters (null without answers)
    chk_latin_ratio (en) / chk_cjk_ratio (zh)  float  script share of question + answers
    chk_ooc_marker        str    first out-of-character marker found in an answer, else null
    chk_copied_from       str    "reference" / "profile" when an answer copies it, else null
    chk_in_train (test)   bool   (role, question) also in the config's train split
    chk_held_out_role (train)  bool  the role is held out in roles.json

Script counts work on UTF-8 bytes: Latin = ASCII letters + U+00C0..U+027F, CJK = U+3400..U+9FFF.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rolellm.rules import OocRule, RulesConfig

_CHUNK_ROWS = 16384


def answers_of(df: pd.DataFrame) -> pd.Series:
    """`generated` as lists of strings; anything else (null, a bare string) becomes []."""
    if "generated" not in df.columns:
        return pd.Series([[] for _ in range(len(df))], index=df.index, dtype=object)

    def as_list(value: object) -> list[str]:
        if isinstance(value, list | tuple | np.ndarray):
            return [v if isinstance(v, str) else "" for v in value]
        return []

    return df["generated"].map(as_list)


def text_of(df: pd.DataFrame, column: str) -> pd.Series:
    """A column as plain strings ("" for nulls and non-strings); "" when the column is absent."""
    if column not in df.columns:
        return pd.Series([""] * len(df), index=df.index, dtype="str")
    values = df[column]
    if values.dtype == "str":
        return values.fillna("")
    return values.map(lambda v: v if isinstance(v, str) else "").astype("str")


def add_answer_columns(df: pd.DataFrame, answers: pd.Series) -> None:
    lengths = answers.map(lambda items: [len(a.strip()) for a in items])
    df["chk_n_answers"] = answers.map(len).astype("int64")
    df["chk_blank_answers"] = lengths.map(lambda ls: sum(n == 0 for n in ls)).astype("int64")
    df["chk_answer_min_chars"] = lengths.map(lambda ls: min(ls) if ls else np.nan).astype(float)
    df["chk_answer_max_chars"] = lengths.map(lambda ls: max(ls) if ls else np.nan).astype(float)


def _byte_counts(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Per string: (Latin letters, CJK ideographs), counted on the UTF-8 bytes in chunks."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.cast(arr.fill_null(""), pa.large_string())
    latin, cjk = np.zeros(len(arr), np.int64), np.zeros(len(arr), np.int64)
    for start in range(0, len(arr), _CHUNK_ROWS):
        part = arr.slice(start, _CHUNK_ROWS)
        stop = start + len(part)
        latin[start:stop], cjk[start:stop] = _chunk_counts(part)
    return latin, cjk


def _chunk_counts(part: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    _, offset_buf, data_buf = part.buffers()
    offsets = np.frombuffer(offset_buf, np.int64)[part.offset : part.offset + len(part) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf else np.zeros(0, np.uint8)
    data = data[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    low = data | 0x20
    latin_mask = ((low >= 0x61) & (low <= 0x7A)) | ((data >= 0xC3) & (data <= 0xC9))
    second = np.zeros_like(data)
    second[:-1] = data[1:]
    cjk_mask = ((data >= 0xE4) & (data <= 0xE9)) | ((data == 0xE3) & (second >= 0x90))
    return _segment_sums(latin_mask, offsets), _segment_sums(cjk_mask, offsets)


def _segment_sums(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    starts, ends = offsets[:-1], offsets[1:]
    sums = np.zeros(len(starts), np.int64)
    nonempty = ends > starts
    if nonempty.any():
        sums[nonempty] = np.add.reduceat(mask, starts[nonempty], dtype=np.int64)
    return sums


def script_ratio(df: pd.DataFrame, answers_text: pa.Array, lang: str) -> pd.Series:
    """Share of CJK (zh) or Latin (en) letters among both; null when a row has neither."""
    q_latin, q_cjk = _byte_counts(pa.array(text_of(df, "question"), pa.large_string()))
    a_latin, a_cjk = _byte_counts(answers_text)
    latin, cjk = (q_latin + a_latin).astype(float), (q_cjk + a_cjk).astype(float)
    total = latin + cjk
    share = cjk if lang == "zh" else latin
    ratio = np.divide(share, total, out=np.full(len(total), np.nan), where=total > 0)
    return pd.Series(ratio, index=df.index)


def joined_answers(answers: pd.Series) -> pa.Array:
    return pa.array(answers.map("\n".join).tolist(), pa.large_string())


def ooc_markers(df: pd.DataFrame, answers_text: pa.Array, rule: OocRule) -> pd.Series:
    """First out-of-character marker of `rule` found in a row's answers, or null."""
    out = pd.Series([None] * len(df), index=df.index, dtype=object)
    if rule.pattern is None:
        return out
    hits = pc.match_substring_regex(answers_text, rule.pattern, ignore_case=True).to_numpy(False)
    hits &= ~text_of(df, "role").isin(list(rule.exempt)).to_numpy()
    for position in np.flatnonzero(hits):
        out.iloc[position] = rule.marker(answers_text[int(position)].as_py())
    return out


def copied_from(
    df: pd.DataFrame,
    answers: pd.Series,
    rules: RulesConfig,
    profiles: Mapping[str, Sequence[str]] | None,
) -> pd.Series:
    """ "reference" / "profile" when an answer copies that source (the copy rule), else null."""
    out = pd.Series([None] * len(df), index=df.index, dtype=object)
    if "reference" in df.columns:
        out[_copies_reference(df, answers, rules).to_numpy()] = "reference"
    if profiles:
        hits = _copies_profile(df, answers, rules, profiles) & out.isna()
        out[hits.to_numpy()] = "profile"
    return out


def _copies_reference(df: pd.DataFrame, answers: pd.Series, rules: RulesConfig) -> pd.Series:
    hit = pd.Series(False, index=df.index)
    if df.empty:
        return hit
    pairs = pd.DataFrame({"answer": answers, "source": text_of(df, "reference").astype(object)})
    pairs = pairs.explode("answer").dropna()
    if pairs.empty:
        return hit
    copied = rules.copied_pairs(pairs["answer"].tolist(), pairs["source"].tolist())
    hit[pairs.index[copied].unique()] = True
    return hit


def _copies_profile(
    df: pd.DataFrame,
    answers: pd.Series,
    rules: RulesConfig,
    profiles: Mapping[str, Sequence[str]],
) -> pd.Series:
    indexes = {role: rules.copy_index(lines) for role, lines in profiles.items()}
    roles = text_of(df, "role").to_numpy()
    hits = np.zeros(len(df), bool)
    for position, (role, items) in enumerate(zip(roles, answers, strict=True)):
        index = indexes.get(role)
        hits[position] = index is not None and index.copies_any(items)
    return pd.Series(hits, index=df.index)


def _arrow_text(df: pd.DataFrame, column: str) -> pa.Array:
    return pa.array(text_of(df, column), pa.large_string())


def pair_keys(df: pd.DataFrame) -> pa.Array:
    """role + normalised question (lower case, whitespace collapsed), for leak checks."""
    space, sep = pa.scalar(" ", pa.large_string()), pa.scalar("\x1f", pa.large_string())
    words = pc.utf8_split_whitespace(_arrow_text(df, "question"))
    question = pc.utf8_lower(pc.binary_join(words, space))
    return pc.binary_join_element_wise(_arrow_text(df, "role"), question, sep)


def in_train(test: pd.DataFrame, train: pd.DataFrame | None) -> pd.Series:
    if train is None:
        return pd.Series(False, index=test.index)
    seen = pc.is_in(pair_keys(test), value_set=pc.unique(pair_keys(train)))
    return pd.Series(seen.to_numpy(zero_copy_only=False), index=test.index)


def held_out_role(df: pd.DataFrame, held_out: Collection[str]) -> pd.Series:
    return text_of(df, "role").isin(list(held_out))
