"""Each content rule, tested once here: copy detection, out-of-character markers, secrets.

The filters, the gate and the secret scans only call rolellm.rules; their own tests check
that they do, not the rules again.
"""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from rapidfuzz import fuzz, utils

from rolellm import rules

LINE = "O that this too too solid flesh would melt, thaw and resolve itself into a dew"


# --- copy --------------------------------------------------------------------------------------


def test_copy_rule_exact_near_and_far():
    index = rules.CopyIndex([LINE, "Frailty, thy name is woman!"])
    assert index.copies(LINE.upper() + "!!")  # equal after processing
    assert index.copies(LINE.replace("melt", "malt"))  # one letter off: ratio > 95
    assert not index.copies("To be, or not to be, that is the question")
    assert not index.copies("Frailty, thy name is woman!"[:19])  # shorter than min_chars
    assert rules.CopyIndex([LINE], min_chars=100).copies(LINE) is False
    assert rules.CopyIndex([LINE], ratio=50.0).copies(LINE[: len(LINE) // 2 + 5])


def test_copy_rule_ignores_what_processes_to_nothing():
    assert len(rules.CopyIndex(["...", "  ", "?!"])) == 0
    assert not rules.CopyIndex(["?!"]).copies("!" * 30)
    assert not rules.copied_pairs(["!" * 30], ["?!"])[0]
    assert not rules.copied_pairs([LINE], ["   "])[0]


def _brute_force(text: str, sources: list[str], ratio: float, min_chars: int) -> bool:
    if len(text.strip()) < min_chars or not utils.default_process(text):
        return False
    processed = [p for p in map(utils.default_process, sources) if p]
    return any(fuzz.ratio(utils.default_process(text), p) >= ratio for p in processed)


@pytest.mark.parametrize("ratio", [60.0, 80.0, 95.0, 100.0])
def test_length_window_misses_no_copy(ratio):
    rng = random.Random(int(ratio))
    words = ["thou", "art", "a", "villain", "my", "lord", "good", "night", "sweet", "prince"]
    sources = [" ".join(rng.choices(words, k=rng.randint(1, 12))) for _ in range(60)]
    texts = [" ".join(rng.choices(words, k=rng.randint(1, 12))) for _ in range(200)]
    texts += [s + rng.choice(["", "!", " a", "s"]) for s in sources]
    index = rules.CopyIndex(sources, ratio, min_chars=5)
    expected = [_brute_force(t, sources, ratio, 5) for t in texts]
    assert [index.copies(t) for t in texts] == expected
    assert any(expected) and not all(expected)


def test_pairwise_copy_is_the_index_rule_per_pair():
    rng = random.Random(7)
    base = [LINE, "Something is rotten in the state of Denmark.", "Get thee to a nunnery, go."]
    texts, sources = [], []
    for _ in range(120):
        source = rng.choice(base + [""])
        text = rng.choice([source, source.lower() + ".", source[:-3], rng.choice(base), "Ay."])
        texts.append(text)
        sources.append(source)
    pairs = rules.copied_pairs(texts, sources)
    one_by_one = [rules.CopyIndex([s]).copies(t) for t, s in zip(texts, sources, strict=True)]
    assert pairs.tolist() == one_by_one
    assert pairs.any() and not pairs.all()
    assert rules.copied_pairs([], []).tolist() == []


# --- out of character -------------------------------------------------------------------------


def test_ooc_markers_are_case_insensitive_substrings_and_machines_are_exempt():
    rule = rules.OocRule()
    assert rule.marker("Well, AS AN AI language model, I cannot.") == "AS AN AI"
    assert rule.marker("作为一个AI，我不能。") == "作为一个AI"
    assert rule.marker("My lord, I am a man.") is None
    assert rule.marker("I am an AI.", role="HAL 9000") is None
    assert rule.marker("I am an AI.", role="Hamlet") == "I am an AI"
    assert rules.OocRule(markers=()).marker("as an AI") is None


def test_ooc_pattern_means_the_same_to_arrow():
    texts = ["As an AI, no.", "I can't assist with that", "人工智能助手在此", "Good night.", ""]
    rule = rules.OocRule()
    arrow = pc.match_substring_regex(pa.array(texts), rule.pattern, ignore_case=True)
    assert arrow.to_pylist() == [rule.marker(t) is not None for t in texts]


# --- secrets ----------------------------------------------------------------------------------

HUB = "hf_" + "abcdefghijklmnopqrstuvwxyzABCDEFGH"


@pytest.mark.parametrize(
    ("text", "shapes"),
    [
        (f"token = {HUB}", ["Hub token (hf_...)"]),
        ("hf_" + "a1" * 10, ["Hub token (hf_...)"]),  # 20 characters are enough
        ("key sk-proj-abcDEF1234567890abcdef1234", ["OpenAI key (sk-...)"]),
        ("sk-live-0123456789abcdefXYZ", ["OpenAI key (sk-...)"]),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nabc", ["private key"]),
        ("-----BEGIN PRIVATE KEY", ["private key"]),
        (f"{HUB} and -----BEGIN RSA PRIVATE KEY-----", ["Hub token (hf_...)", "private key"]),
        ("task-specific-instructions-for-everyone; hf_hub_download()", []),
        ("ask-me-anything-please-now-2024", []),  # sk- inside a word
        ("sk-something-long-and-hyphenated", []),  # no digit: prose
        ("hf_" + "a" * 19, []),
        ("my_hf_" + "a" * 30, []),
        ("OPENAI_API_KEY", []),
    ],
)
def test_secret_shapes(text, shapes):
    assert rules.secret_shapes(text) == shapes
    assert rules.secret_shapes(text.encode()) == shapes
    assert rules.looks_like_secret(text) is bool(shapes)


def test_looks_like_secret_reads_lists_and_skips_non_strings():
    assert rules.looks_like_secret(["role-playing", HUB])
    assert not rules.looks_like_secret(("role-playing", 3, None))
    assert not rules.looks_like_secret(42)


# --- params -----------------------------------------------------------------------------------


def test_one_params_block_sets_the_rules():
    from pydantic import ValidationError

    from rolellm.config import load_params

    params = load_params("params.yaml")
    assert params.rules == rules.RulesConfig()  # params.yaml spells out the defaults
    assert params.rules.ooc("zh").markers == rules.OOC_MARKERS_ZH
    assert params.rules.ooc().markers == rules.OOC_MARKERS
    assert params.rules.ooc().exempt == frozenset(rules.OOC_EXEMPT_ROLES)
    index = rules.RulesConfig(copy_ratio=50.0, copy_min_chars=5).copy_index([LINE])
    assert index.ratio == 50.0 and index.min_chars == 5
    for section in ("rolegpt", "context_instruct", "validation"):
        assert "copy_ratio" not in type(getattr(params, section)).model_fields
    with pytest.raises(ValidationError, match="Extra inputs"):
        rules.RulesConfig(copy_treshold=90)
    with pytest.raises(ValidationError):
        rules.RulesConfig(copy_ratio=0)
