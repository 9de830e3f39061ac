"""`rolellm chat`: the training system prompt, streaming, history, and a real terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cards.chat import PROMPT, ChatSession, chat_template_text, load_model, load_roster, run_chat
from cards.config import ReleaseConfig
from cards.release import run_release
from rolellm.errors import InputError
from rolellm.records import find_role
from tests.test_cards import build_workspace
from training.prompts import render_system_prompt

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_model_dir) -> Path:
    ws = build_workspace(tmp_path_factory.mktemp("chat"), tiny_model_dir)
    run_release(ReleaseConfig(), ws.paths, parts=("model",), verify=False)
    return ws.model


@pytest.fixture(scope="module")
def session(model_dir, tiny_model_dir) -> ChatSession:
    model, tokenizer = load_model(model_dir, base=str(tiny_model_dir), device="cpu")
    role = find_role(load_roster(model_dir, None), "hamlet")
    template = chat_template_text(model_dir)
    return ChatSession(model, tokenizer, role, template, max_new_tokens=5, temperature=0.0)


def test_prompt_is_the_training_prompt_and_history_is_kept(session):
    session.history = []
    pieces: list[str] = []
    first = session.reply("Who is the king?", on_text=pieces.append)
    assert "".join(pieces).strip() == first
    system = render_system_prompt(session.role, session.template)
    assert system == "You are Hamlet. The brooding Prince of Denmark. Stay in role."
    assert session.last_prompt == [
        {"role": "system", "content": system},
        {"role": "user", "content": "Who is the king?"},
    ]
    session.reply("And the queen?")
    assert session.last_prompt[1:] == [
        {"role": "user", "content": "Who is the king?"},
        {"role": "assistant", "content": first},
        {"role": "user", "content": "And the queen?"},
    ]
    assert len(session.history) == 4


def test_oldest_turns_go_when_the_context_is_full(session, monkeypatch):
    session.history = [
        {"role": "user", "content": "old question " * 50},
        {"role": "assistant", "content": "old answer"},
        {"role": "user", "content": "recent question"},
        {"role": "assistant", "content": "recent answer"},
    ]
    full = session._length(session.prompt("now?"))
    monkeypatch.setattr(session, "_context_limit", lambda: full - 10)
    kept = session.prompt("now?")
    assert [m["content"] for m in kept[1:]] == ["recent question", "recent answer", "now?"]


def test_loop_commands(session, tmp_path):
    session.history = []
    lines = iter(["", "Hello there", "/reset", "Again", "/exit", "never read"])
    out: list[str] = []
    transcript = tmp_path / "t.jsonl"
    turns = run_chat(
        session,
        read=lambda _: next(lines),
        write=out.append,
        flush=lambda: None,
        transcript=transcript,
    )
    assert turns == 2
    records = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert [r["prompt"][-1]["content"] for r in records] == ["Hello there", "Again"]
    assert len(records[1]["prompt"]) == 2  # /reset forgot the first turn
    assert "(conversation forgotten)\n" in out and "Hamlet> " in out


def test_missing_roster_and_unknown_role(model_dir, tmp_path):
    with pytest.raises(InputError, match="no roster; pass --roles"):
        load_roster(tmp_path, None)
    with pytest.raises(InputError, match="unknown role 'Falstaff'"):
        find_role(load_roster(model_dir, None), "Falstaff")


def _read_until(fd: int, needle: str, buffer: list[str], timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while needle not in "".join(buffer):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {needle!r} in time; got {''.join(buffer)[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"chat exited early: {''.join(buffer)[-2000:]!r}")
            buffer.append(chunk.decode("utf-8", "replace"))
    text = "".join(buffer)
    cut = text.index(needle) + len(needle)
    buffer[:] = [text[cut:]]
    return text[:cut]


def test_chat_in_a_terminal_answers_and_remembers(model_dir, tiny_model_dir, tmp_path):
    transcript = tmp_path / "chat.jsonl"
    command = [
        sys.executable,
        "-m",
        "rolellm.cli",
        "chat",
        "--model",
        str(model_dir),
        "--base",
        str(tiny_model_dir),
        "--role",
        "Hamlet",
        "--device",
        "cpu",
        "--temperature",
        "0",
        "--max-new-tokens",
        "6",
        "--transcript",
        str(transcript),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        command, stdin=slave, stdout=slave, stderr=slave, cwd=REPO_ROOT, env=env, close_fds=True
    )
    os.close(slave)
    buffer: list[str] = []
    try:
        banner = _read_until(master, PROMPT, buffer)
        assert "Chatting with Hamlet." in banner
        os.write(master, b"Tell me of the ghost on the battlements\n")
        first = _read_until(master, PROMPT, buffer)
        assert "Hamlet> " in first
        os.write(master, b"What did it say?\n")
        _read_until(master, PROMPT, buffer)
        os.write(master, b"/exit\n")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    turns = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert len(turns) == 2
    second = turns[1]["prompt"]
    assert second[0]["content"].startswith("You are Hamlet.")
    assert second[1] == {"role": "user", "content": "Tell me of the ghost on the battlements"}
    assert second[2] == {"role": "assistant", "content": turns[0]["reply"]}
    assert second[3] == {"role": "user", "content": "What did it say?"}
