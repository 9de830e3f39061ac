"""A deterministic OpenAI-compatible chat server for the generation stages.

Each reply is a pure function of the request (its messages, its `seed` and the sampling
fields), so a pipeline run through a fault-injecting proxy must produce byte-identical data
to a direct run. It recognises the stages' prompts by their wording:

* Context-Instruct (``Reply only with JSON like this:`` / ``只用如下JSON格式回复``): valid
  JSON ``{"items": [{"question", "answer", "confidence": 8}]}`` whose questions are built
  from the request hash, so items are unique across requests and samples;
* persona requests of the `profiles` stage (a reply that must hold a description):
  ``{"description": ..., "catchphrases": [...]}``;
* anything else (RoleGPT): a short in-character sentence built from the hash.

Context-Instruct and RoleGPT replies are Chinese when the prompt is (a Chinese role), as a
served model's would be, so the quality gate's script checks pass on them.

    with ScriptedChatServer() as server:
        ...  # engine.openai.base_url = server.base_url
        server.served  # requests answered
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re

from tests.servers.http import BackgroundServer, chat_completion, http_response, read_request

WORDS = (  # noqa: SIM905 (a word list, easier to read as prose)
    "crown dagger ghost storm island raven sword letter throne candle tempest book "
    "father brother mother queen king friend witch spirit castle heath sea ship night "
    "morning blood honour grief madness sleep dream truth lie fortune star moon wind "
    "battle feast grave bell garden tower shadow music poison ring wedding exile cloud "
    "thunder river forest harbour crow lantern mirror key cup pearl scroll oath fool"
).split()
ZH_WORDS = tuple(
    [
        "灯笼",
        "竹篾",
        "红纸",
        "庙会",
        "马",
        "雪",
        "浆糊",
        "铺子",
        "爷爷",
        "掌柜",
        "知府",
        "定钱",
        "骨架",
        "画",
        "街口",
        "风",
    ]
)
ZH_OPENERS = ("哎呀", "你听我说", "唉", "说来话长", "慢工出细活")
ZH_QUESTION_FORMS = ("{a}和{b}后来怎么样了？", "你为什么总想着{a}和{b}？", "是谁把{a}交给你的？")
CJK = re.compile(r"[\u4e00-\u9fff]")
OPENERS = ("By my troth", "Marry", "Alas", "Hark", "Fie", "O heavens", "Forsooth", "Good sir")
QUESTION_FORMS = (
    "What became of the {a} and the {b} near the {c}?",
    "Why do you dream of a {a} beside the {b} at {c} time?",
    "Who gave you the {a}, the {b} or the {c}?",
    "When did the {a} first speak to you of the {b} and the {c}?",
)
CONTEXT_MARKERS = ("Reply only with JSON like this:", "只用如下JSON格式回复")
NUMBER = re.compile(r"(?:Write |请写)(\d+)(?: questions|个)")


def request_digest(request: dict) -> bytes:
    """The hash everything in a reply derives from: messages, seed and sampling fields."""
    keys = ("messages", "seed", "temperature", "top_p", "max_tokens", "model")
    material = json.dumps({k: request.get(k) for k in keys}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(material.encode()).digest()


def _words(digest: bytes, count: int, offset: int = 0, words=WORDS) -> list[str]:
    stream = hashlib.sha256(digest + offset.to_bytes(4, "big")).digest()
    return [words[stream[i] % len(words)] for i in range(count)]


def _tag(digest: bytes, offset: int) -> str:
    return hashlib.sha256(digest + b"tag" + offset.to_bytes(4, "big")).hexdigest()[:10]


def context_reply(digest: bytes, prompt: str) -> str:
    found = NUMBER.search(prompt)
    count = int(found.group(1)) if found else 3
    if CJK.search(prompt):
        return zh_context_reply(digest, count)
    items = []
    for i in range(count):
        a, b, c = _words(digest, 3, i)
        form = QUESTION_FORMS[(digest[i] + i) % len(QUESTION_FORMS)]
        question = form.format(a=a, b=b, c=c) + f" (ref {_tag(digest, i)})"
        answer = f"{OPENERS[digest[i + 8] % len(OPENERS)]}, the {a} and the {b}, " + (
            " ".join(_words(digest, 5, 100 + i))
        )
        items.append({"question": question, "answer": answer, "confidence": 8})
    return json.dumps({"items": items})


def zh_context_reply(digest: bytes, count: int) -> str:
    items = []
    for i in range(count):
        a, b, c = _words(digest, 3, i, ZH_WORDS)
        form = ZH_QUESTION_FORMS[(digest[i] + i) % len(ZH_QUESTION_FORMS)]
        question = form.format(a=a, b=b) + f"（{_tag(digest, i)}）"
        opener = ZH_OPENERS[digest[i + 8] % len(ZH_OPENERS)]
        answer = f"{opener}，{a}和{b}，" + "、".join(_words(digest, 5, 100 + i, ZH_WORDS)) + "。"
        items.append({"question": question, "answer": answer, "confidence": 8})
    return json.dumps({"items": items}, ensure_ascii=False)


def persona_reply(digest: bytes) -> str:
    words = _words(digest, 6)
    return json.dumps(
        {
            "description": "A brooding soul who speaks of " + ", ".join(words[:3]) + ".",
            "catchphrases": [f"O {w}!" for w in words[3:]],
        }
    )


def rolegpt_reply(digest: bytes, chinese: bool = False) -> str:
    if chinese:
        opener = ZH_OPENERS[digest[0] % len(ZH_OPENERS)]
        return f"{opener}，{'和'.join(_words(digest, 3, 0, ZH_WORDS))}，我发誓。{_tag(digest, 0)}"
    opener = OPENERS[digest[0] % len(OPENERS)]
    return f"{opener}, the {' and the '.join(_words(digest, 3))}; {_tag(digest, 0)} I swear it."


def answer(request: dict) -> str:
    digest = request_digest(request)
    messages = request.get("messages") or [{"content": ""}]
    last = str(messages[-1].get("content") or "")
    if any(marker in last for marker in CONTEXT_MARKERS):
        return context_reply(digest, last)
    if "description" in last.lower() and "catchphrase" in last.lower() and "JSON" in last:
        return persona_reply(digest)
    return rolegpt_reply(digest, chinese=bool(CJK.search(last)))


class ScriptedChatServer(BackgroundServer):
    def __init__(self) -> None:
        super().__init__()
        self.served = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                _, path, _, body = await read_request(reader)
                if not path.rstrip("/").endswith("/chat/completions"):
                    writer.write(http_response(404, b'{"error": {"message": "not found"}}'))
                else:
                    request = json.loads(body)
                    self.served += 1
                    reply = chat_completion(answer(request), request.get("model", "s"), "sc")
                    writer.write(http_response(200, reply))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            # RuntimeError: the server's loop was stopped with this connection still open
            with contextlib.suppress(RuntimeError):
                writer.close()
