"""training.rouge gives rouge-score's Rouge-L numbers (to 1e-9; in practice bit for bit)."""

from __future__ import annotations

import json
import random
from collections import defaultdict, deque
from pathlib import Path

import jieba
import pytest
from rouge_score import rouge_scorer

from training.rouge import CharTokenizer, JiebaTokenizer, RougeL
from training.score import aggregate

TOL = 1e-9
EN = "rolebench-eng/instruction-generalization/role_specific"


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _pairs(folder: Path) -> list[tuple[str, str, list[str]]]:
    """(role, baseline answer, test references), matched by role + stripped question.

    Repeated keys pair in order of appearance (written independently of training.score).
    """
    refs: dict[tuple[str, str], deque] = defaultdict(deque)
    for row in _rows(folder / "test.jsonl"):
        refs[(row["role"], row["question"].strip())].append(row["generated"])
    out = []
    for row in _rows(folder / "rolegpt_baseline.jsonl"):
        queue = refs.get((row["role"], row["question"].strip()))
        if queue:
            out.append((row["role"], row["generated"][0], queue.popleft()))
    return out


def _baseline(scorer: rouge_scorer.RougeScorer, pairs) -> list[tuple[float, float, float]]:
    out = []
    for _, pred, refs in pairs:
        s = scorer.score_multi(refs, pred)["rougeL"]
        out.append((s.precision, s.recall, s.fmeasure))
    return out


def _ours(scorer: RougeL, pairs) -> list[tuple[float, float, float]]:
    out = []
    for _, pred, refs in pairs:
        s = scorer.score_detail(pred, refs)
        out.append((s.precision, s.recall, s.fmeasure))
    return out


def _max_diff(a, b) -> float:
    assert len(a) == len(b)
    return max(abs(x - y) for ta, tb in zip(a, b, strict=True) for x, y in zip(ta, tb, strict=True))


@pytest.fixture(scope="module")
def en_pairs(reference_dir: Path):
    pairs = _pairs(reference_dir / EN)
    assert len(pairs) == 4750  # 95 roles x 50, every baseline row finds its test row
    return pairs


@pytest.fixture(scope="module")
def en_baseline(en_pairs):
    """rouge-score itself (its DefaultTokenizer, no stemmer) on all 4,750 English pairs."""
    return _baseline(rouge_scorer.RougeScorer(["rougeL"]), en_pairs)


def test_english_equals_rouge_score(en_pairs, en_baseline):
    ours = _ours(RougeL("en"), en_pairs)
    assert _max_diff(ours, en_baseline) <= TOL
    # the score() fast path agrees with score_detail() exactly
    fast = RougeL("en").score_many([p for _, p, _ in en_pairs], [r for _, _, r in en_pairs])
    assert fast == [f for _, _, f in ours]
    assert 0.1 < sum(fast) / len(fast) < 0.5


def test_english_with_stemmer_equals_rouge_score(en_pairs, en_baseline):
    pairs = en_pairs[:2000]
    base = _baseline(rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True), pairs)
    ours = _ours(RougeL("en", use_stemmer=True), pairs)
    assert _max_diff(ours, base) <= TOL
    # stemming really changes scores, so this comparison is not the unstemmed one again
    assert sum(b[2] != u[2] for b, u in zip(base, en_baseline, strict=False)) > 500


def test_spe_of_rolegpt_baseline_identical(en_pairs, en_baseline):
    """SPE (mean Rouge-L F1) of the RoleGPT baseline on the English role-specific slice."""
    roles = [role for role, _, _ in en_pairs]
    ours = RougeL("en").score_many([p for _, p, _ in en_pairs], [r for _, _, r in en_pairs])
    theirs = [f for _, _, f in en_baseline]
    ours_agg, theirs_agg = aggregate(ours, roles), aggregate(theirs, roles)
    assert ours_agg.overall == theirs_agg.overall
    assert ours_agg.per_role == theirs_agg.per_role
    assert len(ours_agg.per_role) == 95


def test_multi_ref_first_equals_rouge_score_score(en_pairs):
    multi = [pair for pair in en_pairs if len(pair[2]) > 1]
    assert len(multi) >= 100
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    base = [scorer.score(refs[0], pred)["rougeL"].fmeasure for _, pred, refs in multi]
    ours = RougeL("en", multi_ref="first")
    first = [ours.score(pred, refs) for _, pred, refs in multi]
    assert max(abs(a - b) for a, b in zip(first, base, strict=True)) <= TOL
    best = RougeL("en").score_many([p for _, p, _ in multi], [r for _, _, r in multi])
    assert all(b >= f for b, f in zip(best, first, strict=True))
    assert sum(b > f for b, f in zip(best, first, strict=True)) > 10


@pytest.mark.parametrize("zh_tokens", ["words", "chars"])
def test_chinese_equals_rouge_score(reference_dir: Path, zh_tokens: str):
    general = _pairs(reference_dir / "rolebench-zh/general")
    specific = _pairs(reference_dir / "rolebench-zh/role_specific")
    assert len(general) == 1451 and len(specific) == 239
    pairs = general[:800] + specific  # about 4,000 prediction-reference comparisons
    ours_scorer = RougeL("zh", zh_tokens=zh_tokens)
    # rouge-score gets the very same tokenizer object
    base = _baseline(rouge_scorer.RougeScorer(["rougeL"], tokenizer=ours_scorer.tokenizer), pairs)
    ours = _ours(ours_scorer, pairs)
    assert _max_diff(ours, base) <= TOL
    assert 0.2 < sum(f for _, _, f in ours) / len(ours) < 0.8


def test_chinese_tokenizers_are_what_the_docs_say():
    text = "俺老孙 算起来，\n从2022年5月1日到 Hello World！\t"
    words = JiebaTokenizer().tokenize(text)
    assert words == [t for t in jieba.lcut(text) if t.strip()]
    assert all(t.strip() == t and t for t in words)
    assert "，" in words and "Hello" in words  # no punctuation removal, no lowercasing
    assert CharTokenizer().tokenize("孙 悟\n空!") == ["孙", "悟", "空", "!"]


EDGE_CASES = [
    ("", ["the cat sat"]),
    ("the cat sat", [""]),
    ("", [""]),
    ("!!! ... ???", ["the cat"]),
    ("the cat", ["--- ;;; ,,,"]),
    ("   \n\t ", ["the cat"]),
    ("The CAT sat.", ["the cat, sat!"]),
    ("Café naïve résumé Straße", ["cafe naive resume strasse"]),
    ("Привет мир hello", ["hello мир"]),
    ("İstanbul ǅ ﬁne 2nd", ["istanbul fine 2nd"]),
    ("the the the the", ["the"]),
    ("the", ["the the the the"]),
    ("a b a b a b a b", ["b a b a b a", "a a a a b b b b"]),
    ("running runs ran runner", ["run running runs"]),
    ("x", ["y", "", "x", "x y"]),
    ("孙悟空说：俺老孙来也！", ["俺老孙来也", "孙悟空"]),
    ("数字 123 和 abc ABC", ["abc 123", "ABC"]),
]


@pytest.mark.parametrize(
    "lang,stem,zh_tokens",
    [("en", False, "words"), ("en", True, "words"), ("zh", False, "words"), ("zh", False, "chars")],
)
def test_edge_cases_equal_rouge_score(lang: str, stem: bool, zh_tokens: str):
    ours = RougeL(lang, use_stemmer=stem, zh_tokens=zh_tokens)
    if lang == "en":
        base = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stem)
    else:
        base = rouge_scorer.RougeScorer(["rougeL"], tokenizer=ours.tokenizer)
    for pred, refs in EDGE_CASES:
        expected = base.score_multi(refs, pred)["rougeL"]
        got = ours.score_detail(pred, refs)
        assert (got.precision, got.recall, got.fmeasure) == pytest.approx(
            (expected.precision, expected.recall, expected.fmeasure), abs=TOL
        ), (pred, refs)
        assert ours.score(pred, refs) == got.fmeasure


def test_edge_case_values():
    en = RougeL("en")
    assert en.score("", "the cat") == 0.0
    assert en.score("the cat", "") == 0.0
    assert en.score("?!", "?!") == 0.0  # punctuation only: no tokens in English
    assert RougeL("zh", zh_tokens="chars").score("?!", "?!") == 1.0  # but two chars in zh
    assert en.score("Café", "caf") == 1.0  # 'é' is not [a-z0-9]: rouge-score drops it
    assert en.score("the the the", "the") == pytest.approx(2 * 1 / 3 / (1 + 1 / 3))  # P=1/3 R=1
    assert en.score("the cat", "the cat") == 1.0
    assert en.score("the cat", ["dog", "the cat"]) == 1.0
    assert RougeL("en", multi_ref="first").score("the cat", ["dog", "the cat"]) == 0.0


def test_random_token_soup_equals_rouge_score():
    """Tiny vocabularies force many repeated tokens and many equal-length LCS paths."""
    rng = random.Random(7)
    words = ["a", "b", "c", "dd", "ee", "running", "runs"]
    base, base_stem = (
        rouge_scorer.RougeScorer(["rougeL"]),
        rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True),
    )
    ours, ours_stem = RougeL("en"), RougeL("en", use_stemmer=True)
    for _ in range(300):
        pred = " ".join(rng.choices(words, k=rng.randint(0, 90)))
        refs = [
            " ".join(rng.choices(words, k=rng.randint(0, 90))) for _ in range(rng.randint(1, 3))
        ]
        for b, o in ((base, ours), (base_stem, ours_stem)):
            assert abs(b.score_multi(refs, pred)["rougeL"].fmeasure - o.score(pred, refs)) <= TOL


def test_long_texts():
    rng = random.Random(11)
    vocab = [f"w{i}" for i in range(40)]
    # longer than rapidfuzz's 64-token blocks on both sides, still checkable by rouge-score
    ref = " ".join(rng.choices(vocab, k=700))
    pred = " ".join(rng.choices(vocab, k=900))
    expected = rouge_scorer.RougeScorer(["rougeL"]).score(ref, pred)["rougeL"]
    got = RougeL("en").score_detail(pred, ref)
    assert abs(got.fmeasure - expected.fmeasure) <= TOL
    assert abs(got.precision - expected.precision) <= TOL
    # 200k tokens: too slow for rouge-score, but a subsequence has LCS = its own length
    big = [rng.choice(vocab) for _ in range(200_000)]
    sub = big[::3]
    got = RougeL("en").score_detail(" ".join(sub), " ".join(big))
    assert got.precision == 1.0
    assert got.recall == len(sub) / len(big)
    assert got.fmeasure == 2 * 1.0 * got.recall / (1.0 + got.recall)
    assert RougeL("en").score(" ".join(big), " ".join(["zz"] * 100_000)) == 0.0


def test_each_distinct_text_is_tokenised_once():
    scorer = RougeL("en")
    calls: list[str] = []
    inner = scorer.tokenizer.tokenize

    def counting(text: str) -> list[str]:
        calls.append(text)
        return inner(text)

    scorer.tokenizer.tokenize = counting  # type: ignore[method-assign]
    preds = ["a b c", "a b c", "c b a"]
    refs = [["a b", "b c"], ["a b", "b c"], ["a b", "a b c"]]
    scores = scorer.score_many(preds, refs)
    assert sorted(calls) == sorted({"a b c", "c b a", "a b", "b c"})
    # "a b c" vs "a b": LCS 2, P 2/3, R 1 -> F 0.8; "c b a" vs "a b": LCS 1, P 1/3, R 1/2 -> 0.4
    # (vs "a b c" only LCS 1 of 3 and 3 -> 1/3)
    assert scores == pytest.approx([0.8, 0.8, 0.4], abs=1e-12)


def test_api_errors():
    with pytest.raises(ValueError, match="lang"):
        RougeL("fr")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="English only"):
        RougeL("zh", use_stemmer=True)
    with pytest.raises(ValueError, match="zh_tokens"):
        RougeL("zh", zh_tokens="bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="multi_ref"):
        RougeL("en", multi_ref="mean")  # type: ignore[arg-type]
    scorer = RougeL("en")
    with pytest.raises(ValueError, match="no references"):
        scorer.score("a", [])
    with pytest.raises(ValueError, match="2 predictions but 1"):
        scorer.score_many(["a", "b"], [["a"]])
    with pytest.raises(TypeError, match="expected a str"):
        scorer.score("a", [None])  # type: ignore[list-item]
