"""Keep/drop filters: each reason, the runner's counts and the exclusion file."""

from __future__ import annotations

from dataset_builder.filters import (
    CopiesProfile,
    CopiesReference,
    ExactDuplicate,
    FilterRunner,
    LowConfidence,
    NearAny,
    NearDuplicate,
    OutOfCharacter,
    TooShort,
    normalise,
)
from rolellm.atomic import read_jsonl
from rolellm.rules import long_enough, text_width


def _row(question: str, answer: str = "A fine answer.", role: str = "Hamlet", **extra) -> dict:
    return {"role": role, "question": question, "answer": answer, "confidence": 0.9, **extra}


def test_normalise_ignores_case_punctuation_and_spaces():
    assert normalise("  Who ARE you,  sir?! ") == "who are you sir"
    assert normalise("你是谁？") == "你是谁"


def test_each_filter_answers_keep_or_drop():
    assert TooShort({"question": 8}).drop(_row("Why?"))
    assert TooShort({"answer": 1}).drop(_row("Who are you?", answer="   "))
    assert not TooShort({"question": 8, "answer": 1}).drop(_row("Who are you?"))
    assert LowConfidence(0.7).drop({**_row("Who are you?"), "confidence": 0.3})
    assert LowConfidence(0.7).drop({**_row("Who are you?"), "confidence": None})
    assert not LowConfidence(0.7).drop(_row("Who are you?"))
    ooc = OutOfCharacter("answer")
    assert ooc.drop(_row("Who are you?", answer="As an AI language model, I cannot."))
    assert ooc.drop(_row("你是谁？", answer="作为一个AI，我不能。"))
    assert not ooc.drop(_row("Who are you?", answer="I am an AI.", role="HAL 9000"))
    line = "O that this too too solid flesh would melt, thaw and resolve itself"
    assert CopiesProfile("answer", {"Hamlet": [line]}).drop(_row("Q?", answer=line + "!"))
    assert not CopiesProfile("answer", {"Hamlet": [line]}).drop(_row("Q?", answer="Alas."))
    ref = CopiesReference("answer", "reference")
    assert ref.drop(
        _row(
            "Q?",
            answer="Paris is the capital of France",
            reference="paris is the capital of France.",
        )
    )
    assert not ref.drop(_row("Q?", answer="Paris, my lord, where wine flows.", reference="Paris."))


def test_lengths_count_a_chinese_character_as_two_columns():
    assert text_width("  Who is it? ") == 10 == text_width("你在等谁？")
    assert not TooShort({"question": 8}).drop(_row("你在等谁？"))  # 5 characters, 10 columns
    assert TooShort({"question": 8}).drop(_row("谁？"))
    assert long_enough("有，我哥哥是个水手，总是不在家。") and not long_enough("有，我哥哥。")


def test_echoes_of_the_worked_example_are_dropped_with_a_word_changed():
    example = NearAny(
        ("question", "answer"), ["你在等谁？", "等我哥哥，他的船晚了，我很担心。"], 90, "x"
    )
    assert example.drop(_row("你在等谁", answer="我不知道。"))
    assert example.drop(_row("你为什么担心？", answer="等我哥哥，他的船晚了，我很担心！"))
    assert not example.drop(_row("你为什么担心？", answer="灯笼还没扎好，庙会就要开始了。"))
    assert example.reason == "x"


def test_duplicates_are_scoped_per_role():
    exact, near = ExactDuplicate("question"), NearDuplicate("question", 90)
    first = _row("Who killed your father?")
    assert not exact.drop(first) and not near.drop(first)
    assert exact.drop(_row("who killed your father"))
    assert not exact.drop(_row("Who killed your father?", role="Horatio"))
    assert near.drop(_row("Who killed your fathers?"))
    assert not near.drop(_row("What do you think of Ophelia?"))


def test_runner_counts_reasons_and_writes_exclusions(tmp_path):
    runner = FilterRunner(
        [TooShort({"question": 8}), LowConfidence(0.5), ExactDuplicate("question")]
    )
    rows = [
        _row("Who are you?"),
        _row("Why?"),
        {**_row("Where is Denmark?"), "confidence": 0.1},
        _row("Who are you?"),
        _row("Who are you?", role="Ophelia"),
    ]
    kept = runner.run(rows)
    runner.reject({"role": "Hamlet", "text": "not json"}, "invalid_reply")
    assert [r["role"] for r in kept] == ["Hamlet", "Ophelia"]
    metrics = runner.metrics()
    assert metrics["dropped"] == {
        "exact_duplicate": 1,
        "invalid_reply": 1,
        "low_confidence": 1,
        "too_short": 1,
    }
    assert metrics["dropped_per_role"]["Hamlet"]["too_short"] == 1
    assert runner.write_excluded(tmp_path / "x.jsonl") == 4
    reasons = [r["reason"] for r in read_jsonl(tmp_path / "x.jsonl")]
    assert reasons == ["too_short", "low_confidence", "exact_duplicate", "invalid_reply"]


def test_filters_take_their_rules_from_the_rules_section():
    from rolellm.rules import RulesConfig

    hal = _row("Who are you?", answer="I am an AI.", role="HAL 9000")
    assert OutOfCharacter("answer", RulesConfig(ooc_exempt_roles=()).ooc()).drop(hal)
    no_markers = OutOfCharacter("answer", RulesConfig(ooc_markers_en=()).ooc("en"))
    assert not no_markers.drop({**hal, "role": "Hamlet"})
