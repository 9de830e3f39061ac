"""Local backend: transformers on CPU or GPU with real batching.

Requests are sorted by prompt length into batches (left padding) so little compute is spent
on padding; rows sample with their own seeds (see hf_model). torch and transformers are
imported only when a model is loaded, so a stage whose calls are all cached starts fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rolellm.engine.config import LocalBackendConfig
from rolellm.engine.identity import model_identity
from rolellm.engine.progress import progress_bar
from rolellm.engine.types import Call
from rolellm.sections import Sampling

Done = Callable[[int, str | None, str | None], None]


class LocalBackend:
    """Loads the model lazily: a run whose calls are all cached never pays for loading it."""

    kind = "local"

    def __init__(self, cfg: LocalBackendConfig):
        self.cfg = cfg
        self.identity = model_identity(cfg.model, cfg.revision)
        if cfg.adapter:
            self.identity += "+adapter:" + model_identity(cfg.adapter)
        self._loaded = None

    @property
    def tokenizer(self):
        return self._load()[0]

    @property
    def model(self):
        return self._load()[1]

    def _load(self):
        if self._loaded is None:
            from rolellm.engine.hf_model import load_model

            tokenizer, model = load_model(self.cfg)
            tokenizer.padding_side = "left"
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            self._loaded = (tokenizer, model)
            self.eos_ids = self._eos_ids()
            self._grammars = None
        return self._loaded

    @property
    def grammars(self):
        """The JSON-schema constrainer, built on first use (6 s for Gemma's vocabulary, so a
        stage that asks for no JSON never pays it)."""
        tokenizer, model = self._load()
        if self._grammars is None and self.cfg.constrained_json:
            from rolellm.engine.json_decoding import JsonGrammars

            self._grammars = JsonGrammars(tokenizer, model.config.vocab_size, self.eos_ids)
        return self._grammars

    def _eos_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    def decoding(self, call: Call) -> str | None:
        constrained = call.request.reply_model is not None and self.cfg.constrained_json
        return "json_schema" if constrained else None

    def render(self, call: Call) -> list[int]:
        return self.tokenizer.apply_chat_template(
            list(call.request.messages),
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
        )

    def run(self, calls: list[Call], done: Done) -> None:
        """Generate every call; report each as done(index, text, error)."""
        if not calls:
            return
        prompts: dict[int, list[int]] = {}
        for i, call in enumerate(calls):
            ids = self.render(call)
            if len(ids) > self.cfg.max_input_tokens:
                done(i, None, f"prompt has {len(ids)} tokens, over engine.local.max_input_tokens")
            else:
                prompts[i] = ids
        with progress_bar(len(prompts), f"generating ({Path(self.cfg.model).name})") as advance:
            for batch in self._batches(calls, prompts):
                self._run_batch(batch, calls, prompts, done)
                advance(len(batch))

    def _batches(self, calls: list[Call], prompts: dict[int, list[int]]) -> list[list[int]]:
        """Group by sampling parameters, then sort by prompt length, then cut."""

        def sort_key(i: int) -> tuple:  # JSON and free replies in batches of their own
            sp = calls[i].request.sampling
            json_first = calls[i].request.reply_model is None
            return (json_first, sp.temperature, sp.top_p, sp.max_new_tokens, len(prompts[i]))

        batches: list[list[int]] = []
        for i in sorted(prompts, key=sort_key):
            last = batches[-1] if batches else None
            same = last and calls[last[0]].request.sampling == calls[i].request.sampling
            if same and len(last) < self.cfg.batch_size:
                last.append(i)
            else:
                batches.append([i])
        return batches

    def _run_batch(self, batch: list[int], calls: list[Call], prompts: dict, done: Done) -> None:
        sampling = calls[batch[0]].request.sampling
        schemas = [
            calls[i].request.reply_schema if self.decoding(calls[i]) else None for i in batch
        ]
        try:
            texts = self.generate_ids(
                [prompts[i] for i in batch], sampling, [calls[i].seed for i in batch], schemas
            )
        except (RuntimeError, ValueError) as err:
            for i in batch:
                done(i, None, f"local generation failed: {type(err).__name__}: {err}")
            return
        for i, text in zip(batch, texts, strict=True):
            done(i, text, None)

    def generate_ids(
        self,
        prompts: list[list[int]],
        sampling: Sampling,
        seeds: list[int],
        schemas: list[dict | None] | None = None,
    ) -> list[str]:
        """Decoded replies of one batch; a row with a schema is decoded under it."""
        from rolellm.engine.hf_model import generate_texts

        tokenizer, model = self._load()
        wanted = schemas and any(schema is not None for schema in schemas)
        constraint = self.grammars.constraint(schemas) if wanted and self.grammars else None
        processors = [constraint] if constraint else []
        return generate_texts(tokenizer, model, self.eos_ids, prompts, sampling, seeds, processors)
