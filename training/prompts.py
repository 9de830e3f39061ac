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

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from rolellm.errors import ConfigError, InputError

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


@dataclass(frozen=True)
class RoleCard:
    """What a system prompt needs to know about one role (an entry of roles.json)."""

    name: str
    description: str = ""
    catchphrases: tuple[str, ...] = ()
    lang: str = "en"
    slug: str = ""
    held_out: bool = False
    extra: Mapping[str, object] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_entry(cls, entry: Mapping[str, object]) -> RoleCard:
        name = str(entry.get("name") or "").strip()
        if not name:
            raise InputError(f"roles.json entry without a name: {json.dumps(entry)[:80]}")
        phrases = entry.get("catchphrases") or ()
        if isinstance(phrases, str):
            phrases = (phrases,)
        known = {"name", "description", "catchphrases", "lang", "slug", "held_out"}
        return cls(
            name=name,
            description=str(entry.get("description") or "").strip(),
            catchphrases=tuple(str(p).strip() for p in phrases if str(p).strip()),
            lang=str(entry.get("lang") or "en"),
            slug=str(entry.get("slug") or ""),
            held_out=bool(entry.get("held_out", False)),
            extra={k: v for k, v in entry.items() if k not in known},
        )


def load_roles(path: str | Path) -> dict[str, RoleCard]:
    """Read a RoleBench roles.json into {name: RoleCard}."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: roster not found")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(entries, list):
        raise InputError(f"{path}: expected a list of role entries")
    cards = [RoleCard.from_entry(entry) for entry in entries]
    return {card.name: card for card in cards}


def find_role(roles: Mapping[str, RoleCard], key: str) -> RoleCard:
    """Look a role up by display name, then by slug (case-insensitive)."""
    if key in roles:
        return roles[key]
    folded = key.strip().casefold()
    for card in roles.values():
        if folded in (card.name.casefold(), card.slug.casefold()):
            return card
    raise InputError(f"unknown role {key!r} (not in roles.json)")


@lru_cache(maxsize=32)
def compile_template(template: str) -> jinja2.Template:
    """Compile a system prompt template; a syntax error becomes a one-line ConfigError."""
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    try:
        return env.from_string(template)
    except jinja2.TemplateSyntaxError as err:
        raise ConfigError(f"system_prompt_template: line {err.lineno}: {err.message}") from None


def render_system_prompt(role: RoleCard, template: str = DEFAULT_SYSTEM_PROMPT_TEMPLATE) -> str:
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
    sample = RoleCard(name="Hamlet", description="Prince of Denmark.", catchphrases=("To be",))
    if not render_system_prompt(sample, template):
        raise ConfigError("system_prompt_template: renders to an empty string")
    return template


def build_messages(
    role: RoleCard,
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
