"""Settings of the `rolegpt` stage (the `rolegpt:` section) and its default prompt texts."""

from __future__ import annotations

from string import Formatter
from typing import Annotated, Literal

from pydantic import Field, field_validator

from rolellm.sections import Sampling, Section

Mode = Literal["zero_shot", "few_shot_prompt", "dialogue"]

SYSTEM_EN = (
    "You are {role}, your description is: {description}{catchphrases} Now please answer "
    "some questions to accurately show your personality traits! Your speaking style should "
    "fully imitate the personality role assigned to you! Please do not expose that you are "
    "an artificial intelligence model or a language model, you must always remember that "
    "you are only assigned one personality role. Don't be verbose or too formal or polite "
    "when speaking."
)
SYSTEM_ZH = (
    "你是{role}，你的特征描述是：{description}{catchphrases}现在请你回答我的一些问题，以准确展现你的"
    "人格特征！你的说话风格要全面模仿被赋予的人格角色！请不要暴露你是人工智能模型或者语言模型，"
    "你要时刻记住你只被赋予的一个人格角色。说话不要啰嗦，也不要太过于正式或礼貌。"
)
CATCHPHRASES_EN = " Your catchphrases are: {phrases}."
CATCHPHRASES_ZH = "你的口头禅是：{phrases}。"
USER_EN = (
    "{question}\n\nFor reference, a plain answer is: {reference}\n"
    "Now answer in your own words, as {role}."
)
USER_ZH = "{question}\n\n参考答案：{reference}\n请以{role}的身份，用你自己的话回答。"
DEMOS_EN = "Here are some of your past conversations:"
DEMOS_ZH = "以下是你过去的一些对话："

Templates = dict[str, str]
_FIELDS = {
    "system": {"role", "description", "catchphrases"},
    "catchphrases": {"phrases"},
    "user": {"question", "reference", "role"},
    "demos": set(),
}


def _check_templates(value: Templates) -> Templates:
    unknown = set(value) - set(_FIELDS)
    if unknown:
        raise ValueError(f"unknown template(s) {sorted(unknown)}; known: {sorted(_FIELDS)}")
    for name, text in value.items():
        used = {f for _, f, _, _ in Formatter().parse(text) if f is not None}
        if used - _FIELDS[name]:
            raise ValueError(f"{name}: unknown placeholder(s) {sorted(used - _FIELDS[name])}")
    return value


class RoleGPTConfig(Section):
    """Settings of the `rolegpt` stage.

    mode: zero_shot | few_shot_prompt | dialogue (dialogue engineering, the paper's best).
    k: demonstrations per prompt; max_exchange_lines: longer exchanges are never shown.
    n: samples per (role, instruction): n - 1 references + 1 rolegpt_baseline.
    min_responses: a pair with fewer kept replies is excluded (needs a reference and a
        baseline, so at least 2).
    with_reference: put the instruction's original answer in the final user turn.
    max_line_chars: each demonstration line is cut to this many characters.
    templates_en / templates_zh: override the prompt texts by name (system, catchphrases,
        user, demos); placeholders are checked at load time.
    """

    mode: Mode = "dialogue"
    k: Annotated[int, Field(ge=0, le=20)] = 3
    max_exchange_lines: Annotated[int, Field(ge=2, le=50)] = 6
    n: Annotated[int, Field(ge=2, le=20)] = 6
    min_responses: Annotated[int, Field(ge=2, le=20)] = 2
    with_reference: bool = True
    max_line_chars: Annotated[int, Field(ge=20)] = 300
    sampling: Sampling = Sampling(temperature=0.7, max_new_tokens=128)
    seed: Annotated[int, Field(ge=0)] = 0
    templates_en: Templates = {}
    templates_zh: Templates = {}

    @field_validator("templates_en", "templates_zh")
    @classmethod
    def _known_templates(cls, value: Templates) -> Templates:
        return _check_templates(value)

    def template(self, lang: str, name: str) -> str:
        custom = self.templates_zh if lang == "zh" else self.templates_en
        defaults = _DEFAULTS_ZH if lang == "zh" else _DEFAULTS_EN
        return custom.get(name, defaults[name])


_DEFAULTS_EN = {
    "system": SYSTEM_EN,
    "catchphrases": CATCHPHRASES_EN,
    "user": USER_EN,
    "demos": DEMOS_EN,
}
_DEFAULTS_ZH = {
    "system": SYSTEM_ZH,
    "catchphrases": CATCHPHRASES_ZH,
    "user": USER_ZH,
    "demos": DEMOS_ZH,
}
