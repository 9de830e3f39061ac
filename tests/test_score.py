"""`rolellm score`, row matching and per-role aggregation on hand-computed examples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rolellm.cli import main
from rolellm.errors import InputError
from training.score import Row, aggregate, match_rows, read_rows, score_files

REPO_ROOT = Path(__file__).resolve().parent.parent

PREDICTIONS = [
    {"role": "A", "question": "q1", "generated": ["the cat sat on the mat", "second is ignored"]},
    {"role": "A", "question": "q2 ", "generated": "a b c d"},
    {"role": "B", "question": "q3", "generated": ["hello world"]},
    {"role": "C", "question": "q4", "generated": ["nobody has my question"]},
]
REFERENCES = [
    {
        "role": "A",
        "question": "  q1",
        "generated": ["the cat is on the mat"],
        "type": ["script_based"],
    },
    {"role": "A", "question": "q2", "generated": ["a x c y"], "type": "script_agnostic"},
    {
        "role": "B",
        "question": "q3",
        "generated": ["goodbye", "hello there world"],
        "type": ["script_based"],
    },
    {"role": "B", "question": "q9", "generated": ["nobody asked"]},
    {"role": "A", "question": "q3", "generated": ["hello world"]},  # same question, other role
]
# Hand computation (rouge-score tokens: lowercase words):
#   q1: pred [the cat sat on the mat] (6), ref [the cat is on the mat] (6),
#       LCS "the cat on the mat" = 5 -> P = R = 5/6 -> F = 5/6
#   q2: pred [a b c d], ref [a x c y], LCS "a c" = 2 -> P = R = 2/4 -> F = 1/2
#   q3: pred [hello world]; ref "goodbye": LCS 0 -> F = 0;
#       ref [hello there world]: LCS "hello world" = 2 -> P = 2/2, R = 2/3
#       -> F = 2 * 1 * 2/3 / (1 + 2/3) = 4/5; max over references = 4/5, first = 0
#   overall (max) = (5/6 + 1/2 + 4/5) / 3 = (25 + 15 + 24) / 90 = 32/45
#   per role: A = (5/6 + 1/2) / 2 = 2/3, B = 4/5
#   per type: script_based = (5/6 + 4/5) / 2 = 49/60, script_agnostic = 1/2
#   overall (first) = (5/6 + 1/2 + 0) / 3 = 4/9; B = 0


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return _write(tmp_path / "pred.jsonl", PREDICTIONS), _write(tmp_path / "ref.jsonl", REFERENCES)


def _run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["rolellm", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_aggregate_hand_computed():
    agg = aggregate(
        [5 / 6, 1 / 2, 4 / 5],
        ["A", "A", "B"],
        ["script_based", "script_agnostic", "script_based"],
    )
    assert agg.count == 3
    assert agg.overall == pytest.approx(32 / 45, abs=1e-12)
    assert agg.per_role == pytest.approx({"A": 2 / 3, "B": 4 / 5}, abs=1e-12)
    assert list(agg.per_role) == ["A", "B"]
    assert agg.per_type == pytest.approx(
        {"script_agnostic": 1 / 2, "script_based": 49 / 60}, abs=1e-12
    )
    # overall weighs rows, not roles: the mean of the role means would be 11/15
    assert agg.overall != pytest.approx((2 / 3 + 4 / 5) / 2)
    no_types = aggregate([0.25, 0.75], ["A", "A"])
    assert no_types.per_type == {} and "per_type" not in no_types.to_dict()
    assert aggregate([1.0, 0.0], ["A", "B"], [None, "x"]).per_type == {"x": 0.0}
    with pytest.raises(ValueError, match="no scores"):
        aggregate([], [])
    with pytest.raises(ValueError, match="same length"):
        aggregate([1.0], ["A", "B"])


def test_cli_score_hand_computed(files, monkeypatch, capsys):
    pred, ref = files
    code, out, err = _run(monkeypatch, capsys, "score", pred, ref)
    assert code == 0, err
    assert out.count("\n") == 1
    report = json.loads(out)
    assert report["matched"] == 3
    assert report["unmatched_predictions"] == 1  # C/q4
    assert report["unmatched_references"] == 2  # B/q9 and A/q3
    assert report["rougeL"] == pytest.approx(32 / 45, abs=1e-12)
    assert report["per_role"] == pytest.approx({"A": 2 / 3, "B": 4 / 5}, abs=1e-12)
    assert report["per_type"] == pytest.approx(
        {"script_agnostic": 1 / 2, "script_based": 49 / 60}, abs=1e-12
    )
    assert report["settings"] == {
        "lang": "en",
        "multi_ref": "max",
        "use_stemmer": False,
        "zh_tokens": None,
    }

    code, out, _ = _run(monkeypatch, capsys, "score", pred, ref, "--multi-ref", "first")
    report = json.loads(out)
    assert report["rougeL"] == pytest.approx(4 / 9, abs=1e-12)
    assert report["per_role"] == pytest.approx({"A": 2 / 3, "B": 0.0}, abs=1e-12)


def test_cli_stem_and_chinese(tmp_path: Path, monkeypatch, capsys):
    pred = _write(
        tmp_path / "p.jsonl", [{"role": "r", "question": "q", "generated": ["running fast"]}]
    )
    ref = _write(tmp_path / "r.jsonl", [{"role": "r", "question": "q", "generated": ["runs fast"]}])
    # without stemming only "fast" matches: P = R = 1/2; Porter maps running/runs to "run"
    assert json.loads(_run(monkeypatch, capsys, "score", pred, ref)[1])["rougeL"] == 0.5
    assert json.loads(_run(monkeypatch, capsys, "score", pred, ref, "--stem")[1])["rougeL"] == 1.0

    zpred = _write(
        tmp_path / "zp.jsonl", [{"role": "孙悟空", "question": "问", "generated": "俺老孙来也"}]
    )
    zref = _write(
        tmp_path / "zr.jsonl", [{"role": "孙悟空", "question": "问", "generated": ["俺老孙去 也"]}]
    )
    # chars: 5 vs 5 (the space is dropped), LCS 俺老孙也 = 4 -> P = R = 4/5
    code, out, _ = _run(
        monkeypatch, capsys, "score", zpred, zref, "--lang", "zh", "--zh-tokens", "chars"
    )
    report = json.loads(out)
    assert code == 0 and report["rougeL"] == pytest.approx(0.8, abs=1e-12)
    assert report["per_role"] == pytest.approx({"孙悟空": 0.8}, abs=1e-12)
    # English tokenisation drops every Chinese character: no tokens, score 0
    assert json.loads(_run(monkeypatch, capsys, "score", zpred, zref)[1])["rougeL"] == 0.0


BAD_LINES = [
    (
        b'{"role": "A", "question": "q1", "generated": ["x"]}\n{"role": "\xff"}\n',
        2,
        "not valid UTF-8",
    ),
    (b'{"role": "A", "question": "q1", "generated": ["x"]}\n\n{"role": \n', 3, "not valid JSON"),
    (b'{"question": "q1", "generated": ["x"]}\n', 1, "row has no 'role' field"),
    (b'{"role": "A", "generated": ["x"]}\n', 1, "row has no 'question' field"),
    (b'{"role": "A", "question": "q1"}\n', 1, "row has no 'generated' field"),
    (b'{"role": "A", "question": "q1", "generated": 5}\n', 1, "'generated' must be"),
    (b'{"role": "A", "question": "q1", "generated": []}\n', 1, "'generated' must be"),
    (b'{"role": 3, "question": "q1", "generated": "x"}\n', 1, "'role' must be a string"),
    (b'["A", "q1", "x"]\n', 1, "expected a JSON object"),
]


@pytest.mark.parametrize("side", ["predictions", "references"])
@pytest.mark.parametrize("content,line,problem", BAD_LINES)
def test_cli_bad_input_is_one_line(files, monkeypatch, capsys, side, content, line, problem):
    pred, ref = files
    bad = pred if side == "predictions" else ref
    bad.write_bytes(content)
    code, out, err = _run(monkeypatch, capsys, "score", pred, ref)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert f"{bad}: line {line}: {problem}" in err


def test_cli_missing_file_and_bad_settings(files, tmp_path, monkeypatch, capsys):
    pred, ref = files
    missing = tmp_path / "nope.jsonl"
    code, out, err = _run(monkeypatch, capsys, "score", missing, ref)
    assert (code, out, err) == (1, "", f"error: {missing}: file not found\n")
    code, _, err = _run(monkeypatch, capsys, "score", pred, ref, "--lang", "fr")
    assert code == 2 and err == "error: lang must be 'en' or 'zh', got 'fr'\n"
    code, _, err = _run(monkeypatch, capsys, "score", pred, ref, "--lang", "zh", "--stem")
    assert code == 2 and "English only" in err
    code, _, err = _run(monkeypatch, capsys, "score", pred, ref, "--multi-ref", "mean")
    assert code == 2 and "multi_ref" in err
    other = _write(tmp_path / "other.jsonl", [{"role": "Z", "question": "q1", "generated": "x"}])
    code, _, err = _run(monkeypatch, capsys, "score", other, ref)
    assert code == 1 and err.count("\n") == 1 and "no row matches" in err


def test_cli_subprocess(files, tmp_path):
    pred, ref = files
    cmd = [sys.executable, "-m", "rolellm.cli", "score", str(pred), str(ref)]
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["matched"] == 3
    cmd[-1] = str(tmp_path / "missing.jsonl")
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"error: {tmp_path / 'missing.jsonl'}: file not found"]


def _row(role: str, question: str, line: int) -> Row:
    return Row(role, question, ("x",), None, "f.jsonl", line)


def test_match_rows_repeated_keys_pair_in_order():
    preds = [_row("A", "q", 1), _row("A", " q ", 2), _row("A", "q", 3), _row("B", "q", 4)]
    refs = [_row("A", "q\n", 10), _row("B", "q", 11), _row("A", "q", 12), _row("C", "q", 13)]
    matching = match_rows(preds, refs)
    assert [(p.line, r.line) for p, r in matching.pairs] == [(1, 10), (2, 12), (4, 11)]
    assert [r.line for r in matching.unmatched_predictions] == [3]
    assert [r.line for r in matching.unmatched_references] == [13]


def test_read_rows_formats(tmp_path: Path):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"role": "A", "question": "q", "generated": "one", "type": ["script_based"]}\n'
        "\n"
        '{"role": "A", "question": "q2", "generated": ["a", "b"], "type": "script_agnostic"}\r\n'
        '{"role": "A", "question": "q3", "generated": ["a"], "type": []}',
        "utf-8",
    )
    rows = read_rows(path)
    assert [(r.generated, r.type, r.line) for r in rows] == [
        (("one",), "script_based", 1),
        (("a", "b"), "script_agnostic", 3),
        (("a",), None, 4),
    ]
    with pytest.raises(InputError, match="is a folder"):
        read_rows(tmp_path)


def test_score_files_on_the_release_slice(reference_dir: Path):
    """The RoleGPT baseline of the English role-specific slice against its test rows."""
    folder = reference_dir / "rolebench-eng/instruction-generalization/role_specific"
    report = score_files(folder / "rolegpt_baseline.jsonl", folder / "test.jsonl")
    assert report["matched"] == 4750
    assert report["unmatched_predictions"] == report["unmatched_references"] == 0
    assert len(report["per_role"]) == 95
    assert set(report["per_type"]) == {"script_agnostic", "script_based"}
    assert 0.15 < report["rougeL"] < 0.4
