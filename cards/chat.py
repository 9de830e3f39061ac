"""`rolellm chat`: talk to a released model as one role, in the terminal.

The system prompt is the one RoCIT trained with (training.prompts.build_messages, with the
template from the model's rolellm.json), the conversation history goes back into every
prompt (oldest turns dropped when the context is full), and tokens are printed as they are
generated (transformers TextIteratorStreamer). `/exit` (or end of input) quits, `/reset`
forgets the history.

    --model   a folder (a PEFT adapter or a full model) or a Hub id (downloaded first)
    --base    the base model of an adapter (default: adapter_config.json's)
    --roles   roster (default: roles.json inside the model folder)
    --transcript  JSON lines, one per turn: the exact prompt messages and the reply
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from threading import Thread
from typing import Any

from rolellm.errors import InputError
from rolellm.records import ROLES_FILE, Role, find_role, read_json, read_roster
from training.prompts import DEFAULT_SYSTEM_PROMPT_TEMPLATE, Message, build_messages

PROMPT = "you> "


def model_folder(model: str, revision: str | None = None) -> Path:
    """A local folder as is; a Hub id is downloaded (pinned to one commit) first."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise InputError(f"--model {model!r}: not a model folder nor a Hub id (namespace/name)")
    from cards.pull import pull

    return pull(model, "model", revision).folder


def chat_template_text(folder: Path) -> str:
    """The system prompt template recorded with the model (rolellm.json), else the default."""
    config = folder / "rolellm.json"
    if config.is_file():
        settings = read_json(config, "chat settings")
        if not isinstance(settings, dict):
            raise InputError(f"{config}: expected a JSON object")
        if settings.get("system_prompt_template"):
            return settings["system_prompt_template"]
    return DEFAULT_SYSTEM_PROMPT_TEMPLATE


def load_roster(folder: Path, roles: Path | None) -> list[Role]:
    """The roster shipped with the model (or the one given with --roles)."""
    path = roles or folder / ROLES_FILE
    if not path.is_file():
        raise InputError(f"{path}: no roster; pass --roles <roles.json>")
    return read_roster(path)


def load_model(folder: Path, base: str | None = None, device: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer): an adapter folder on its base model, or a full model folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the terminal is for the conversation
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    adapter_config = folder / "adapter_config.json"
    try:
        if adapter_config.is_file():
            from peft import PeftModel

            config = json.loads(adapter_config.read_text(encoding="utf-8"))
            base = base or config.get("base_model_name_or_path")
            if not base:
                raise InputError(f"{adapter_config}: no base model recorded; pass --base")
            model = AutoModelForCausalLM.from_pretrained(base)
            model = PeftModel.from_pretrained(model, str(folder))
        else:
            model = AutoModelForCausalLM.from_pretrained(str(folder))
        tokenizer_source = folder if (folder / "tokenizer_config.json").is_file() else base
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source))
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 (missing files, bad ids: one line)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{folder}: could not load the model: {first}") from None
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(f"{folder}: the tokenizer has no chat template")
    model.to(device)
    model.eval()
    return model, tokenizer


@dataclass
class ChatSession:
    """One conversation with one role; `history` is what the next prompt will include."""

    model: Any
    tokenizer: Any
    role: Role
    template: str = DEFAULT_SYSTEM_PROMPT_TEMPLATE
    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.9

    def __post_init__(self) -> None:
        self.history: list[Message] = []
        self.last_prompt: list[Message] = []

    def prompt(self, text: str) -> list[Message]:
        """Messages for the next turn; the oldest exchanges go when the context is full."""
        limit = self._context_limit()
        history = list(self.history)
        while True:
            messages = build_messages(self.role, text, self.template, history)
            if limit is None or not history or self._length(messages) <= limit:
                return messages
            history = history[2:]

    def _context_limit(self) -> int | None:
        size = getattr(self.model.config, "max_position_embeddings", None)
        return size - self.max_new_tokens if size else None

    def _length(self, messages: list[Message]) -> int:
        ids = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        return len(ids)

    def reply(self, text: str, on_text: Callable[[str], None] = lambda _: None) -> str:
        """Generate the role's answer, streaming pieces to ``on_text``; remember the turn."""
        import torch
        from transformers import TextIteratorStreamer

        messages = self.prompt(text)
        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.model.device)
        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600
        )
        sampling = (
            {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p}
            if self.temperature > 0
            else {"do_sample": False}
        )
        failure: list[BaseException] = []

        def generate() -> None:
            try:
                with torch.no_grad():
                    self.model.generate(
                        **inputs,
                        streamer=streamer,
                        max_new_tokens=self.max_new_tokens,
                        pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                        **sampling,
                    )
            except BaseException as err:  # noqa: BLE001 (re-raised in the caller's thread)
                failure.append(err)
                streamer.end()

        worker = Thread(target=generate, daemon=True)
        worker.start()
        pieces = []
        for piece in streamer:
            pieces.append(piece)
            on_text(piece)
        worker.join()
        if failure:
            raise failure[0]
        answer = "".join(pieces).strip()
        self.last_prompt = messages
        self.history = [
            *messages[1:-1],
            {"role": "user", "content": text.strip()},
            {"role": "assistant", "content": answer},
        ]
        return answer


def run_chat(
    session: ChatSession,
    read: Callable[[str], str] = input,
    write: Callable[[str], Any] = sys.stdout.write,
    flush: Callable[[], Any] = sys.stdout.flush,
    transcript: Path | None = None,
) -> int:
    """The terminal loop; returns the number of turns answered."""
    write(f"Chatting with {session.role.name}. /exit quits, /reset forgets the conversation.\n")
    turns = 0
    while True:
        flush()
        try:
            line = read(PROMPT)
        except (EOFError, KeyboardInterrupt):
            write("\n")
            break
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            break
        if text == "/reset":
            session.history = []
            write("(conversation forgotten)\n")
            continue
        write(f"{session.role.name}> ")
        flush()

        def show(piece: str) -> None:
            write(piece)
            flush()

        answer = session.reply(text, on_text=show)
        write("\n")
        turns += 1
        if transcript is not None:
            record = {"turn": turns, "prompt": session.last_prompt, "reply": answer}
            with transcript.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    flush()
    return turns


def start_chat(
    model: str,
    role: str,
    *,
    base: str | None = None,
    roles: Path | None = None,
    revision: str | None = None,
    device: str = "auto",
    max_new_tokens: int = 256,
    temperature: float = 0.7,
    seed: int = 0,
    transcript: Path | None = None,
) -> int:
    """Everything `rolellm chat` does: resolve, load, loop."""
    folder = model_folder(model, revision)
    roster = load_roster(folder, roles)
    card = find_role(roster, role)
    template = chat_template_text(folder)
    import torch

    torch.manual_seed(seed)
    loaded, tokenizer = load_model(folder, base, device)
    session = ChatSession(
        loaded, tokenizer, card, template, max_new_tokens=max_new_tokens, temperature=temperature
    )
    return run_chat(session, transcript=transcript)
