"""The role-conditioned system prompt builder shared by training, evaluation and chat."""

from __future__ import annotations

import json

import pytest

from rolellm.errors import ConfigError, InputError
from training.prompts import (
    DEFAULT_SYSTEM_PROMPT_TEMPLATE,
    RoleCard,
    build_messages,
    check_template,
    find_role,
    load_roles,
    render_system_prompt,
)

HAMLET = RoleCard(
    name="Hamlet",
    description="The melancholy Prince of Denmark.",
    catchphrases=("To be, or not to be", "Words, words, words"),
    slug="hamlet",
)
WUKONG = RoleCard(name="孙悟空", description="齐天大圣。", catchphrases=("俺老孙来也",), lang="zh")


def test_english_prompt_carries_name_description_and_catchphrases() -> None:
    text = render_system_prompt(HAMLET)
    assert text.startswith("You are Hamlet. The melancholy Prince of Denmark.")
    assert "Your catchphrases: To be, or not to be; Words, words, words" in text
    assert "Never reveal that you are an AI" in text
    assert text == text.strip()


def test_chinese_role_gets_a_chinese_prompt() -> None:
    text = render_system_prompt(WUKONG)
    assert text.startswith("你是孙悟空。齐天大圣。")
    assert "你的口头禅：俺老孙来也" in text
    assert "You are" not in text


def test_no_catchphrases_line_when_there_are_none() -> None:
    text = render_system_prompt(RoleCard(name="Juliet"))
    assert "catchphrases" not in text
    assert text.startswith("You are Juliet.")


def test_custom_template_and_messages() -> None:
    template = "Be {{ name }} ({{ lang }}): {{ catchphrases | length }} phrases."
    messages = build_messages(HAMLET, "  Who are you?  ", template)
    assert messages == [
        {"role": "system", "content": "Be Hamlet (en): 2 phrases."},
        {"role": "user", "content": "Who are you?"},
    ]
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hail."}]
    with_history = build_messages(HAMLET, "And?", template, history)
    assert [m["role"] for m in with_history] == ["system", "user", "assistant", "user"]


@pytest.mark.parametrize(
    ("template", "needle"),
    [
        ("{{ nme }}", "'nme' is undefined"),
        ("{% if name %}unclosed", "line 1"),
        ("{{ '' }}", "empty"),
    ],
)
def test_bad_templates_are_one_line_config_errors(template: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_template(template)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_default_template_is_valid() -> None:
    assert check_template(DEFAULT_SYSTEM_PROMPT_TEMPLATE) == DEFAULT_SYSTEM_PROMPT_TEMPLATE


def test_roster_loading_and_lookup(tmp_path) -> None:
    roster = [
        {
            "name": "Hamlet",
            "slug": "hamlet",
            "lang": "en",
            "held_out": False,
            "description": " Prince. ",
            "catchphrases": ["To be", " "],
            "source": "hamlet.md",
        },
        {"name": "孙悟空", "slug": "sun-wukong", "lang": "zh", "held_out": True},
    ]
    path = tmp_path / "roles.json"
    path.write_text(json.dumps(roster, ensure_ascii=False), encoding="utf-8")
    roles = load_roles(path)
    assert roles["Hamlet"].description == "Prince."
    assert roles["Hamlet"].catchphrases == ("To be",)
    assert roles["Hamlet"].extra == {"source": "hamlet.md"}
    assert roles["孙悟空"].held_out and roles["孙悟空"].lang == "zh"
    assert find_role(roles, "SUN-WUKONG").name == "孙悟空"
    with pytest.raises(InputError, match="unknown role 'Ophelia'"):
        find_role(roles, "Ophelia")
    with pytest.raises(InputError, match="roster not found"):
        load_roles(tmp_path / "missing.json")
