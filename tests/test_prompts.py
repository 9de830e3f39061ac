"""The role-conditioned system prompt builder shared by training, evaluation and chat."""

from __future__ import annotations

import pytest

from rolellm.errors import ConfigError
from rolellm.records import Role
from training.prompts import (
    DEFAULT_SYSTEM_PROMPT_TEMPLATE,
    build_messages,
    check_template,
    render_system_prompt,
)

HAMLET = Role(
    name="Hamlet",
    description="The melancholy Prince of Denmark.",
    catchphrases=("To be, or not to be", "Words, words, words"),
    slug="hamlet",
)
WUKONG = Role(
    name="孙悟空",
    slug="sun-wukong",
    description="齐天大圣。",
    catchphrases=("俺老孙来也",),
    lang="zh",
)


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
    text = render_system_prompt(Role(name="Juliet", slug="juliet"))
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
