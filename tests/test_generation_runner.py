"""The generation runner: one engine call, rows and drops from the task, atomic files."""

from __future__ import annotations

import pytest

from dataset_builder.filters import FilterRunner, TooShort
from dataset_builder.generation.runner import (
    default_excluded_path,
    generate,
    load_role_profiles,
    run_task,
)
from dataset_builder.generation.task import GenerationTask
from rolellm.atomic import read_jsonl, write_jsonl
from rolellm.engine.types import Call, ChatRequest
from rolellm.errors import InputError
from tests.test_rolegpt import HAMLET, WUKONG, _engine, make_profiles


class Echo(GenerationTask[str]):
    """Asks one question per word (two samples each); a reply is a row unless too short."""

    def __init__(self, words, fail_on=None):
        self.words, self.fail_on = words, fail_on

    def requests(self):
        return [(ChatRequest.of([{"role": "user", "content": w}], n=2), w) for w in self.words]

    def filters(self):
        return FilterRunner([TooShort({"text": 3})])

    def rows(self, context, result, filters):
        if context == self.fail_on:
            raise RuntimeError("crash while reading replies")
        kept = []
        for sample, reply in enumerate(result.replies):
            row = {"role": "ECHO", "word": context, "sample": sample, "text": reply.text}
            if not reply.ok:
                filters.reject({**row, "error": reply.error}, "engine_error")
            elif filters.keep(row):
                kept.append(row)
        return kept


def _reply(call: Call):
    word = call.request.messages[-1]["content"]
    if word == "boom":
        return None, "HTTP 500"
    return (word * (call.sample + 1), None)


def test_rows_exclusion_file_and_metrics(tmp_path):
    engine = _engine(tmp_path, _reply)
    out = tmp_path / "gen" / "echo.jsonl"
    metrics = run_task(Echo(["ab", "boom", "xyz"]), engine, out)
    assert [(r["word"], r["text"]) for r in read_jsonl(out)] == [
        ("ab", "abab"),
        ("xyz", "xyz"),
        ("xyz", "xyzxyz"),
    ]
    excluded = read_jsonl(default_excluded_path(out))
    assert excluded == [
        {"role": "ECHO", "word": "ab", "sample": 0, "text": "ab", "reason": "too_short"},
        {
            "role": "ECHO",
            "word": "boom",
            "sample": 0,
            "text": None,
            "error": "HTTP 500",
            "reason": "engine_error",
        },
        {
            "role": "ECHO",
            "word": "boom",
            "sample": 1,
            "text": None,
            "error": "HTTP 500",
            "reason": "engine_error",
        },
    ]
    assert metrics == {
        "written": 3,
        "dropped": {"engine_error": 2, "too_short": 1},
        "dropped_per_role": {"ECHO": {"engine_error": 2, "too_short": 1}},
        "engine": engine.stats.as_dict(),
    }
    assert engine.stats.requests == 3 and engine.stats.calls == 6


def test_generate_keeps_request_order_and_contexts(tmp_path):
    run = generate(Echo(["xyz", "ab"]), _engine(tmp_path, _reply))
    assert run.contexts == ["xyz", "ab"]
    assert [r.request.messages[0]["content"] for r in run.results] == ["xyz", "ab"]
    assert [r["text"] for r in run.rows] == ["xyz", "xyzxyz", "abab"]


def test_a_crash_leaves_the_previous_outputs_untouched(tmp_path):
    gen = tmp_path / "gen"
    out, excluded = gen / "echo.jsonl", gen / "dropped.jsonl"
    with pytest.raises(RuntimeError, match="crash"):
        run_task(Echo(["xyz", "ab"], fail_on="ab"), _engine(tmp_path, _reply), out, excluded)
    assert not gen.exists() or list(gen.iterdir()) == []
    write_jsonl(out, [{"old": 1}])
    write_jsonl(excluded, [{"old": 2}])
    with pytest.raises(RuntimeError, match="crash"):
        run_task(Echo(["xyz", "ab"], fail_on="ab"), _engine(tmp_path, _reply), out, excluded)
    assert read_jsonl(out) == [{"old": 1}] and read_jsonl(excluded) == [{"old": 2}]
    assert sorted(p.name for p in gen.iterdir()) == ["dropped.jsonl", "echo.jsonl"]  # no temps


class Unwritable(Echo):
    def rows(self, context, result, filters):
        return [*super().rows(context, result, filters), {"text": object()}]


def test_a_crash_while_writing_leaves_the_previous_outputs_untouched(tmp_path):
    gen = tmp_path / "gen"
    write_jsonl(gen / "echo.jsonl", [{"old": 1}])
    write_jsonl(gen / "echo_excluded.jsonl", [{"old": 2}])
    with pytest.raises(TypeError, match="not JSON serializable"):
        run_task(Unwritable(["xyz", "ab"]), _engine(tmp_path, _reply), gen / "echo.jsonl")
    assert read_jsonl(gen / "echo.jsonl") == [{"old": 1}]
    assert read_jsonl(gen / "echo_excluded.jsonl") == [{"old": 2}]
    assert sorted(p.name for p in gen.iterdir()) == ["echo.jsonl", "echo_excluded.jsonl"]


def test_load_role_profiles_picks_roles_by_name_or_slug(tmp_path):
    folder = make_profiles(tmp_path / "profiles", (HAMLET, WUKONG))
    roles, profiles = load_role_profiles(folder, ["role-wukong", "HAMLET"])
    assert [r.name for r in roles] == ["孙悟空", "HAMLET"]
    assert profiles["hamlet"][-1].content == "Alone at last."
    with pytest.raises(InputError, match="roles not in roles.json: Yorick"):
        load_role_profiles(folder, ["Yorick"])
    (folder / "hamlet.jsonl").unlink()
    with pytest.raises(InputError, match="profile of 'HAMLET' not found"):
        load_role_profiles(folder, None)
