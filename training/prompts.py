"""Role-conditioned system prompts: one builder shared by training, evaluation and chat.

RoCIT conditions every sample on the role: the system message carries the role's name,
description and catchphrases, the user turn the question. The system message is rendered
from a Jinja template (``system_prompt_template`` in params.yaml) with these variables:

    name          the role's display name ("Sherlock Holmes", "孙悟空")
    description   the profile description ("" when unknown)
    catchphrases  a list of strings (possibly empty)
    lang          "en" or "zh"

Rendering is sandboxed and strict: an unknown variable is an error, not an empty string.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from rolellm.errors import ConfigError
from rolellm.records import Role

DEFAULT_SYSTEM_PROMPT_TEMPLATE = (
    '{% if lang == "zh" %}'
    "你是{{ name }}。{{ description }}"
    "{% if catchphrases %}\n你的口头禅：{{ catchphrases | join('；') }}{% endif %}\n"
    "请始终以{{ name }}的身份和说话风格回答，不要透露你是人工智能或语言模型，"
    "回答不要啰嗦，也不要过于正式。"
    "{% else %}"
    "You are {{ name }}. {{ description }}"
    "{% if catchphrases %}\nYour catchphrases: {{ catchphrases | join('; ') }}{% endif %}\n"
    "Stay in character: answer as {{ name }} would, in {{ name }}'s speaking style. "
    "Never reveal that you are an AI or a language model. Don't be verbose or too formal."
    "{% endif %}"
)

Message = dict[str, str]


@lru_cache(maxsize=32)
def compile_template(template: str) -> jinja2.Template:
    """Compile a system prompt template; a syntax error becomes a one-line ConfigError."""
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    try:
        return env.from_string(template)
    except jinja2.TemplateSyntaxError as err:
        raise ConfigError(f"system_prompt_template: line {err.lineno}: {err.message}") from None


def render_system_prompt(role: Role, template: str = DEFAULT_SYSTEM_PROMPT_TEMPLATE) -> str:
    """The role-conditioned system message for ``role``."""
    try:
        text = compile_template(template).render(
            name=role.name,
            description=role.description,
            catchphrases=list(role.catchphrases),
            lang=role.lang,
        )
    except jinja2.UndefinedError as err:
        raise ConfigError(f"system_prompt_template: {err.message}") from None
    except jinja2.TemplateError as err:
        raise ConfigError(f"system_prompt_template: {err}") from None
    return text.strip()


def check_template(template: str) -> str:
    """Validate a template by rendering it for a sample role; return it unchanged."""
    sample = Role(
        name="Hamlet", slug="hamlet", description="Prince of Denmark.", catchphrases=("To be",)
    )
    if not render_system_prompt(sample, template):
        raise ConfigError("system_prompt_template: renders to an empty string")
    return template


def build_messages(
    role: Role,
    question: str,
    template: str = DEFAULT_SYSTEM_PROMPT_TEMPLATE,
    history: Sequence[Message] = (),
) -> list[Message]:
    """Chat messages for one question: system prompt, optional prior turns, user question."""
    return [
        {"role": "system", "content": render_system_prompt(role, template)},
        *(dict(turn) for turn in history),
        {"role": "user", "content": question.strip()},
    ]
