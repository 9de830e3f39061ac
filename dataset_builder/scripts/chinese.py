"""Chinese scripts written as `角色：台词` lines (format name `zh`).

    第一幕 / 第二场 御花园 / 场景：养心殿 / 【第三集】   scene marker: new act, kept as narration
    甄嬛：臣妾做不到啊！                                speaker, full-width or ASCII colon
    甄嬛（哭）:臣妾做不到啊！                           a parenthetical after the name is dropped
    夜，宫中寂静无声。                                  a line without a speaker: narration

One line of text is one record. A speaker is 1 to 12 characters with no whitespace or
sentence punctuation, so a narration line that happens to contain a colon later on (`他说道：`
after a long clause) stays narration, while a short one (`他说道：走吧`) reads as a speaker.
"""

from __future__ import annotations

import re

from dataset_builder.scripts.base import NARRATION, Line, LineBuilder

SCENE = re.compile(
    r"^(?:第[0-9０-９一二三四五六七八九十百千零〇两]+[幕场場集回章节節]|场景|場景|【)"
)
SPEAKER = re.compile(
    r"^(?P<name>[^\s：:，,。.！!？?、；;“”\"‘’'「」『』（）()【】《》]{1,12})"
    r"\s*(?:[（(][^）)]*[）)])?\s*[：:]\s*(?P<text>\S.*)$"
)


def parse_chinese(text: str, source: str = "<text>") -> list[Line]:
    """Parse a `角色：台词` script into line records (see the module docstring)."""
    out = LineBuilder()
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if SCENE.match(line):
            out.heading(line)
        elif m := SPEAKER.match(line):
            out.add(m.group("name"), m.group("text"))
        else:
            out.add(NARRATION, line)
    return out.lines
