"""RoCIT training on a tiny random Llama (built here) and once on the real SmolLM2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from pydantic import ValidationError
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from rolellm.config import parse_params
from rolellm.errors import ConfigError, InputError
from tests.tiny import save_tiny_llama
from training.rocit import TrainPaths, train
from training.rocit_config import TrainConfig
from training.rocit_data import lineage, load_training_set, md5_file
from training.rocit_model import load_tokenizer
from training.rocit_outputs import FINGERPRINT_FILE, resume_point
from training.rocit_trainer import build_trainer, sft_config

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
ZH_TEXT = "俺老孙来也！你这泼猴，休得无礼。齐天大圣孙悟空，七十二变。"
ROLES = [
    {
        "name": "Hamlet",
        "slug": "hamlet",
        "lang": "en",
        "held_out": False,
        "description": "The melancholy Prince of Denmark.",
        "catchphrases": ["To be, or not to be"],
    },
    {
        "name": "Juliet",
        "slug": "juliet",
        "lang": "en",
        "held_out": True,
        "description": "A young Capulet in love.",
        "catchphrases": [],
    },
    {
        "name": "孙悟空",
        "slug": "sun-wukong",
        "lang": "zh",
        "held_out": False,
        "description": "齐天大圣，花果山美猴王。",
        "catchphrases": ["俺老孙来也"],
    },
]


# --- fixtures: a tokenizer, a tiny model and a RoleBench folder, all built offline -------


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny matrices on shared cores: one intra-op thread is many times faster than two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    """A byte-level BPE (about 600 tokens, so steps are fast) with a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = [
        "You are Hamlet. Stay in character: answer as Hamlet would.",
        "Never reveal that you are an AI.",
        "system user assistant question answer the prince of Denmark to be or not to be",
        ZH_TEXT,
        "你是孙悟空。请始终以孙悟空的身份和说话风格回答。",
    ] * 20
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = CHATML
    out = tmp_path_factory.mktemp("tokenizer")
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_tokenizer_dir) -> Path:
    """A randomly initialised 2-layer Llama, hidden size 32."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    out = tmp_path_factory.mktemp("models") / "tiny-llama"
    return save_tiny_llama(tokenizer, out, pad_token_id=tokenizer.pad_token_id)


def _general(role: str, n: int, refs: int = 3, zh: bool = False) -> list[dict]:
    rows = []
    for i in range(n):
        question = (
            f"问题{i}：你今天去哪里？" if zh else f"Question {i}: what do you think of {i} ghosts?"
        )
        answers = [
            (ZH_TEXT[: 8 + i + k] if zh else f"Answer {i}.{k}: " + "words " * (1 + i + k))
            for k in range(refs)
        ]
        rows.append(
            {"role": role, "question": question, "generated": answers, "reference": "", "kind": "x"}
        )
    return rows


def _specific(role: str, n: int) -> list[dict]:
    return [
        {
            "role": role,
            "question": f" Who is your friend number {i}? ",
            "generated": [f"Horatio, friend {i}."],
            "type": "script_based",
            "confidence": 0.9,
        }
        for i in range(n)
    ]


def write_rolebench(root: Path, shards: dict[str, list[dict]], roles: list[dict] = ROLES) -> Path:
    """A RoleBench folder as dataset_builder/schema.py lays it out (train split only)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "roles.json").write_text(json.dumps(roles, ensure_ascii=False), encoding="utf-8")
    for config, rows in shards.items():
        folder = root / "data" / config
        folder.mkdir(parents=True, exist_ok=True)
        columns = ["role", "question", "generated"] + (
            ["reference", "kind"] if config.endswith("general") else ["type", "confidence"]
        )
        pd.DataFrame(rows, columns=columns).to_parquet(folder / "train.parquet")
    return root


@pytest.fixture
def rolebench(tmp_path) -> Path:
    return write_rolebench(
        tmp_path / "rolebench",
        {
            "eng_instruction_generalization_general": _general("Hamlet", 4) + _general("Juliet", 2),
            "eng_instruction_generalization_role_specific": _specific("Hamlet", 3),
            "eng_role_generalization_general": _general("Hamlet", 3) + _general("Juliet", 3),
            "zh_general": _general("孙悟空", 4, zh=True),
        },
    )


def paths_for(tmp_path: Path, data: Path, report: object = {"success": True}) -> TrainPaths:
    report_path = tmp_path / "reports" / "validation.json"
    if report is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(report), encoding="utf-8")
    return TrainPaths(
        data_dir=data,
        out_dir=tmp_path / "models" / "rocit",
        validation_report=report_path,
        metrics=tmp_path / "metrics" / "train.json",
        live_dir=tmp_path / "dvclive" / "train",
        dvc_lock=tmp_path / "dvc.lock",
    )


def tiny_cfg(model: Path, **overrides) -> TrainConfig:
    base = {
        "base_model": str(model),
        "train_configs": ["eng_instruction_generalization_general"],
        "references_per_sample": 1,
        "max_steps": 2,
        "per_device_batch_size": 4,
        "logging_steps": 1,
        "max_length": 256,
        "learning_rate": 5e-3,
        "lr_scheduler": "constant",
        "warmup_ratio": 0.0,
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
    }
    return TrainConfig.model_validate(base | overrides)


# --- data --------------------------------------------------------------------------------


def test_samples_are_role_conditioned_prompt_completion_pairs(rolebench) -> None:
    cfg = TrainConfig(references_per_sample=2)
    data = load_training_set(
        rolebench, cfg.train_configs, "train", cfg.system_prompt_template, cfg.references_per_sample
    )
    # general: 6 rows x 2 references; role_specific: 3 rows x 1 answer
    assert data.per_config == {
        "eng_instruction_generalization_general": 12,
        "eng_instruction_generalization_role_specific": 3,
    }
    assert data.excluded_roles == []  # instruction generalisation trains on every role
    sample = data.samples[0]
    system, user = sample["prompt"]
    assert system["role"] == "system" and user == {"role": "user", "content": user["content"]}
    assert "Hamlet" in system["content"] and "melancholy Prince" in system["content"]
    assert "To be, or not to be" in system["content"]
    assert sample["completion"] == [{"role": "assistant", "content": "Answer 0.0: words"}]
    specific = [s for s in data.samples if s["config"].endswith("role_specific")]
    assert specific[0]["prompt"][1]["content"] == "Who is your friend number 0?"
    every = load_training_set(rolebench, cfg.train_configs[:1], "train", cfg.system_prompt_template)
    assert len(every.samples) == 18  # all 3 references of 6 rows


def test_a_listed_config_that_was_not_built_is_noted_and_skipped(rolebench, capsys) -> None:
    configs = ["eng_instruction_generalization_general", "zh_general", "zh_role_specific"]
    data = load_training_set(rolebench, configs, "train", TrainConfig().system_prompt_template)
    assert list(data.per_config) == ["eng_instruction_generalization_general", "zh_general"]
    assert data.missing_configs == ["zh_role_specific"]
    assert {s["role"] for s in data.samples} == {"Hamlet", "Juliet", "孙悟空"}
    assert "no train shard of zh_role_specific (not built)" in capsys.readouterr().err
    with pytest.raises(InputError, match=r"zh_role_specific/train.parquet: RoleBench shard not"):
        load_training_set(rolebench, ["zh_role_specific"], "train", "{role}")


def test_role_generalisation_never_trains_on_held_out_roles(rolebench) -> None:
    configs = ["eng_role_generalization_general", "eng_instruction_generalization_general"]
    data = load_training_set(rolebench, configs, "train", TrainConfig().system_prompt_template)
    assert data.excluded_roles == ["Juliet"]
    assert set(data.role_counts) == {"Hamlet"}
    assert data.rows == 12


def test_lineage_prefers_dvc_lock_then_file_md5(rolebench, tmp_path) -> None:
    shard = rolebench / "data" / "zh_general" / "train.parquet"
    other = rolebench / "data" / "eng_role_generalization_general" / "train.parquet"
    lock = tmp_path / "dvc.lock"
    rel = os.path.relpath(rolebench / "data" / "zh_general", tmp_path)
    lock.write_text(
        "schema: '2.0'\nstages:\n  train:\n    cmd: rolellm train\n    deps:\n"
        f"    - path: {rel}\n      hash: md5\n      md5: abc123.dir\n      size: 1\n",
        encoding="utf-8",
    )
    by_lock, by_file = lineage([shard, other], lock)
    assert by_lock["md5"] == "abc123.dir" and by_lock["source"] == "dvc.lock"
    assert by_file == {"path": str(other), "md5": md5_file(other), "source": "file"}
    assert lineage([shard], tmp_path / "absent.lock")[0]["source"] == "file"


def test_config_overrides_and_validation() -> None:
    sets = ["train.lora.r=4", "train.max_steps=3", "train.train_configs=[zh_general]"]
    cfg = parse_params({}, "params.yaml", sets).train
    assert (cfg.lora.r, cfg.lora.alpha, cfg.max_steps) == (4, 32, 3)
    assert cfg.train_configs == ("zh_general",)
    with pytest.raises(ConfigError, match="--set train.lora.rank=4: train.lora.rank: unknown key"):
        parse_params({}, "params.yaml", ["train.lora.rank=4"])
    with pytest.raises(ConfigError, match="unknown RoleBench config 'eng_all'"):
        parse_params({}, "params.yaml", ["train.train_configs=[eng_all]"])
    with pytest.raises(ValidationError, match="'nme' is undefined"):
        TrainConfig.model_validate({"system_prompt_template": "{{ nme }}"})
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_params({}, "params.yaml", ["train.max_steps"])


# --- labels: loss on the answer only -----------------------------------------------------


def _trainer(tiny_model: Path, rolebench: Path, tmp_path: Path, batching: str):
    cfg = tiny_cfg(tiny_model, batching=batching)
    data = load_training_set(rolebench, cfg.train_configs, "train", cfg.system_prompt_template, 1)
    tokenizer = load_tokenizer(str(tiny_model), None)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    args = sft_config(cfg, tmp_path / "ckpt")
    return build_trainer(cfg, model, tokenizer, data, args, []), tokenizer


def test_only_answer_tokens_carry_labels(tiny_model, rolebench, tmp_path) -> None:
    trainer, tokenizer = _trainer(tiny_model, rolebench, tmp_path, "padded")
    examples = [trainer.train_dataset[i] for i in range(4)]
    batch = trainer.data_collator(examples)
    for row, example in enumerate(examples):
        prompt_ids = tokenizer.apply_chat_template(
            example["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        n, length = len(prompt_ids), len(example["input_ids"])
        completion_mask = torch.zeros_like(batch["labels"][row], dtype=torch.bool)
        completion_mask[n:length] = True
        labels = batch["labels"][row]
        assert (labels[~completion_mask] == -100).all()  # prompt and padding carry no loss
        assert torch.equal(labels[completion_mask], batch["input_ids"][row][completion_mask])
        answer = example["completion"][0]["content"]
        assert tokenizer.decode(labels[completion_mask]) == answer + "<|im_end|>\n"


def test_padding_free_batches_flatten_and_mask_boundaries(tiny_model, rolebench, tmp_path) -> None:
    trainer, _ = _trainer(tiny_model, rolebench, tmp_path, "padding_free")
    examples = [trainer.train_dataset[i] for i in range(3)]
    batch = trainer.data_collator(examples)
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
    assert batch["input_ids"].shape[1] == sum(len(e["input_ids"]) for e in examples)
    starts = (batch["position_ids"][0] == 0).nonzero().flatten()
    assert len(starts) == 3 and (batch["labels"][0, starts] == -100).all()


def test_varlen_attention_matches_each_sample_alone(tiny_model) -> None:
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from training.rocit_attention import register

    name = register()
    alone_model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation="sdpa")
    packed_model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation=name)
    torch.manual_seed(1)
    vocab = alone_model.config.vocab_size
    seqs = [torch.randint(3, vocab, (n,)).tolist() for n in (5, 17, 1, 9)]
    collate = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)
    batch = collate([{"input_ids": s} for s in seqs])
    batch.pop("labels")
    with torch.no_grad():
        packed = packed_model(**batch, use_cache=False).logits[0]
        alone = torch.cat([alone_model(input_ids=torch.tensor([s])).logits[0] for s in seqs])
        padded = packed_model(input_ids=torch.tensor([seqs[1]])).logits[0]  # plain sdpa path
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded, alone[5:22], atol=1e-5, rtol=1e-5)
    assert name not in packed_model.config.to_json_string()  # never written into a saved config


@pytest.mark.parametrize("batching", ["padded", "packing"])
def test_other_batching_modes_train(batching, tiny_model, rolebench, tmp_path) -> None:
    cfg = tiny_cfg(tiny_model, batching=batching, max_steps=1, max_length=200)
    result = train(cfg, paths_for(tmp_path, rolebench))
    assert result.summary["training"]["tokens_seen"] > 0
    assert result.summary["training"]["final_loss"] > 0


def test_accelerate_config_files_load() -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    folder = Path(__file__).resolve().parent.parent / "configs" / "accelerate"
    kinds = {
        name: load_config_from_file(str(folder / f"{name}.yaml")).distributed_type.value
        for name in ("ddp", "fsdp", "deepspeed_zero3")
    }
    assert kinds == {"ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed_zero3": "DEEPSPEED"}


# --- training end to end -----------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model):
    """One run on a fixed batch (4 samples, batch 4): 8 steps, merged model written."""
    tmp = tmp_path_factory.mktemp("trained")
    root = write_rolebench(
        tmp / "rolebench", {"eng_instruction_generalization_general": _general("Hamlet", 4)}
    )
    paths = paths_for(tmp, root)
    cfg = tiny_cfg(tiny_model, max_steps=8, merge=True, learning_rate=2e-2)
    result = train(cfg, paths)
    return cfg, paths, result


def test_loss_decreases_and_outputs_are_written(trained) -> None:
    cfg, paths, result = trained
    summary = json.loads(paths.summary.read_text(encoding="utf-8"))
    assert summary == json.loads(json.dumps(result.summary))
    curve = _curve(paths.live_dir, "loss")
    assert [step for step, _ in curve] == list(range(1, 9))
    losses = [loss for _, loss in curve]
    drops = sum(b < a for a, b in zip(losses, losses[1:], strict=False))
    assert losses[-1] < losses[0] - 0.25 and drops >= 6
    assert [lr for _, lr in _curve(paths.live_dir, "learning_rate")] == [cfg.learning_rate] * 8
    live_metrics = json.loads((paths.live_dir / "metrics.json").read_text(encoding="utf-8"))
    assert live_metrics["train"]["loss"] == pytest.approx(losses[-1])
    assert live_metrics["train_loss"] == pytest.approx(summary["training"]["train_loss"])
    training = summary["training"]
    assert training["world_size"] == 1 and training["global_steps"] == 8
    assert training["tokens_seen"] > 0 and training["final_loss"] == pytest.approx(losses[-1])
    assert summary["data"]["samples"] == 4 and summary["data"]["shards"][0]["source"] == "file"
    assert summary["base_model"]["config_md5"] and summary["base_model"]["local"]
    assert summary["hyperparameters"]["lora"]["r"] == 8
    metrics = json.loads(paths.metrics.read_text(encoding="utf-8"))
    assert metrics["global_steps"] == 8 and metrics["final_loss"] == training["final_loss"]
    names = {p.name for p in paths.adapter.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= names
    assert "chat_template.jinja" in names or "chat_template" in (
        paths.adapter / "tokenizer_config.json"
    ).read_text(encoding="utf-8")
    assert not [p for p in paths.out_dir.iterdir() if p.name.startswith(".")]  # no staging left
    assert (paths.checkpoints / "checkpoint-8").is_dir()


def _curve(live_dir: Path, name: str) -> list[tuple[int, float]]:
    lines = (live_dir / "plots" / "metrics" / "train" / f"{name}.tsv").read_text().splitlines()
    return [(int(step), float(value)) for step, value in (ln.split("\t") for ln in lines[1:])]


def _logits(model, tokenizer) -> torch.Tensor:
    ids = tokenizer("Question 1: what do you think", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_adapter_reloads_changes_outputs_and_merges(trained, tiny_model) -> None:
    from peft import PeftModel

    _, paths, result = trained
    tokenizer = AutoTokenizer.from_pretrained(paths.adapter)
    base = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    base_logits = _logits(base, tokenizer)
    adapted = PeftModel.from_pretrained(base, paths.adapter).eval()
    adapted_logits = _logits(adapted, tokenizer)
    assert (adapted_logits - base_logits).abs().max() > 1e-2
    assert result.merged_dir == paths.merged
    merged = AutoModelForCausalLM.from_pretrained(paths.merged).eval()
    torch.testing.assert_close(_logits(merged, tokenizer), adapted_logits, atol=1e-4, rtol=1e-4)


def test_interrupted_run_resumes_from_last_checkpoint(tiny_model, rolebench, tmp_path) -> None:
    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise KeyboardInterrupt

    paths = paths_for(tmp_path, rolebench)
    cfg = tiny_cfg(tiny_model, max_steps=4, save_steps=1, save_total_limit=5)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, paths, callbacks=[Crash()])
    assert not paths.adapter.exists() and not paths.summary.exists()
    assert sorted(p.name for p in paths.checkpoints.glob("checkpoint-*")) == [
        "checkpoint-1",
        "checkpoint-2",
    ]
    result = train(cfg, paths)
    assert result.summary["training"]["resumed_from"] == "checkpoint-2"
    assert result.summary["training"]["global_steps"] == 4
    assert [step for step, _ in _curve(paths.live_dir, "loss")] == [1, 2, 3, 4]
    # another learning rate is another run: stale checkpoints are not resumed
    other = train(tiny_cfg(tiny_model, max_steps=1, learning_rate=1e-3), paths)
    assert other.summary["training"]["resumed_from"] is None


# --- Chinese -----------------------------------------------------------------------------


def test_chinese_round_trips_and_trains(tiny_model, rolebench, tmp_path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    ids = tokenizer(ZH_TEXT, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == ZH_TEXT
    cfg = tiny_cfg(tiny_model, train_configs=["zh_general"], max_steps=1)
    result = train(cfg, paths_for(tmp_path, rolebench))
    assert result.summary["data"]["samples"] == 4
    assert result.summary["training"]["final_loss"] > 0
    prompt = load_training_set(
        rolebench, ["zh_general"], "train", cfg.system_prompt_template
    ).samples[0]["prompt"]
    assert prompt[0]["content"].startswith("你是孙悟空。")


# --- bad input: one line, non-zero exit, no model folder ---------------------------------


def _cli(tmp_path: Path, *args: str) -> tuple[int, str]:
    from rolellm import cli

    params = tmp_path / "params.yaml"
    params.write_text("seed: 0\n", encoding="utf-8")
    argv = ["rolellm", "train", "-p", str(params), *args]
    old = sys.argv
    sys.argv = argv
    try:
        cli.main()
        return 0, ""
    except SystemExit as exc:
        return int(exc.code or 0), ""
    finally:
        sys.argv = old


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing_model", "base model folder not found"),
        ("empty", "empty training set"),
        ("no_report", "validation report missing"),
        ("failed_report", "quality gate failed"),
        ("short_max_length", "shorter than the longest system prompt"),
        ("bad_targets", "['wq'] not in the model"),
    ],
)
def test_bad_input_fails_in_one_line(case, expected, tiny_model, tmp_path, capsys) -> None:
    rows = [] if case == "empty" else _general("Hamlet", 2)
    root = write_rolebench(tmp_path / "rb", {"eng_instruction_generalization_general": rows})
    report = {"no_report": None, "failed_report": {"success": False}}.get(case, {"success": True})
    paths = paths_for(tmp_path, root, report)
    sets = {
        "missing_model": [f"train.base_model={tmp_path / 'nowhere' / 'model'}"],
        "short_max_length": ["train.max_length=16"],
        "bad_targets": ["train.lora.target_modules=[q_proj, wq]"],
    }.get(case, [])
    options = [
        "-s",
        f"train.base_model={tiny_model}",
        "-s",
        "train.train_configs=[eng_instruction_generalization_general]",
    ]
    for item in sets:
        options += ["-s", item]
    code, _ = _cli(
        tmp_path,
        "--data",
        str(root),
        "--validation-report",
        str(paths.validation_report),
        "--out",
        str(paths.out_dir),
        "--metrics",
        str(paths.metrics),
        "--live-dir",
        str(paths.live_dir),
        *options,
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert err[-1].startswith("error: ") and expected in err[-1]
    assert not paths.out_dir.exists()  # nothing written: no model folder, no checkpoints
    assert not paths.metrics.exists() and not paths.live_dir.exists()


def test_hub_ids_pass_through_and_fail_cleanly_offline(monkeypatch) -> None:
    from training.rocit_model import resolve_base_model

    assert resolve_base_model("HuggingFaceTB/SmolLM2-135M-Instruct") == (
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    )
    with pytest.raises(InputError, match="folder not found"):
        resolve_base_model("./models/absent")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="could not be loaded"):
        load_tokenizer("no-such-org/no-such-model", None)


# --- scale-out: accelerate launch, two processes -----------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_accelerate_launch_two_processes(tiny_model, rolebench, tmp_path) -> None:
    paths = paths_for(tmp_path, rolebench)
    params = tmp_path / "params.yaml"
    params.write_text("seed: 0\n", encoding="utf-8")
    accelerate = Path(sys.executable).parent / "accelerate"
    cmd = [
        str(accelerate),
        "launch",
        # torchrun with gloo: without CUDA, --multi_gpu runs N CPU processes (--cpu alone
        # starts a single process unless mpirun is set up)
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
        "-m",
        "rolellm.cli",
        "train",
        "-p",
        str(params),
        "--data",
        str(rolebench),
        "--validation-report",
        str(paths.validation_report),
        "--out",
        str(paths.out_dir),
        "--metrics",
        str(paths.metrics),
        "--live-dir",
        str(paths.live_dir),
        "-s",
        f"train.base_model={tiny_model}",
        "-s",
        "train.max_steps=2",
        "-s",
        "train.per_device_batch_size=2",
        "-s",
        "train.train_configs=[eng_instruction_generalization_general]",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(paths.summary.read_text(encoding="utf-8"))
    training = summary["training"]
    assert training["world_size"] == 2
    assert [p["rank"] for p in training["processes"]] == [0, 1]
    assert len({p["pid"] for p in training["processes"]}) == 2
    assert proc.stdout.count("adapter written:") == 1  # only the main process reports
    assert sorted(p.name for p in paths.out_dir.iterdir()) == [
        "adapter",
        "checkpoints",
        "training_summary.json",
    ]
    assert (paths.adapter / "adapter_model.safetensors").is_file()


# --- the real SmolLM2 --------------------------------------------------------------------


def test_real_smollm2_trains_a_few_steps(smollm2_dir, rolebench, tmp_path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    assert tokenizer.decode(tokenizer(ZH_TEXT, add_special_tokens=False)["input_ids"]) == ZH_TEXT
    cfg = tiny_cfg(
        smollm2_dir,
        train_configs=["eng_instruction_generalization_general", "zh_general"],
        max_steps=2,
        per_device_batch_size=2,
        learning_rate=1e-4,
    )
    result = train(cfg, paths_for(tmp_path, rolebench))
    training = result.summary["training"]
    assert training["global_steps"] == 2 and 0 < training["final_loss"] < 20
    assert result.summary["base_model"]["model_type"] == "llama"
    assert result.summary["base_model"]["parameters"] > 100_000_000
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()


def test_resume_skips_a_checkpoint_cut_short_by_a_kill(tmp_path):
    folder = tmp_path / "checkpoints"
    for step, complete in ((2, True), (4, True), (6, False)):
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        if complete:
            (folder / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (folder / FINGERPRINT_FILE).write_text(json.dumps({"fingerprint": "run-a"}))

    assert resume_point(folder, "run-a", is_main=True) == str(folder / "checkpoint-4")
    assert not (folder / "checkpoint-6").exists()  # the partial save is gone
    assert resume_point(folder, "run-b", is_main=True) is None  # another run: start over
    assert sorted(p.name for p in folder.iterdir()) == [FINGERPRINT_FILE]
