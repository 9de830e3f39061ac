"""Release stage: cards (Hub metadata, body), folders exactly as on the Hub, their checks.

`build_workspace` (also used by test_push.py and test_chat.py) lays out what the pipeline
would have produced: a tiny RoleBench folder, a passed gate report, generation metrics, a
LoRA adapter on the tiny random Llama, a training summary and the evaluation outputs.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from cards.config import ReleaseConfig, ReleasePaths, VerifyError, check_repo_id
from cards.release import run_release
from cards.secrets import scan_bytes, scan_paths
from dataset_builder.rolebench_io import list_shards, read_shard, write_rolebench
from rolellm.errors import ConfigError, InputError

GENERAL = "eng_instruction_generalization_general"
SPECIFIC = "eng_instruction_generalization_role_specific"
PLANTED = "hf_" + "abcdefghijklmnopqrstuvwxyzABCDEFGH"  # the shape of a Hub token (34 letters)


def _general(role: str, i: int) -> dict:
    return {
        "role": role,
        "question": f"{role}, question {i}: what say you?",
        "generated": [f"{role} answers {i}.{k}" for k in range(3)],
        "reference": f"Plain answer {i}.",
        "kind": "open_ended",
    }


def _specific(role: str, i: int) -> dict:
    return {
        "role": role,
        "question": f"What happened to {role} in scene {i}?",
        "generated": [f"In scene {i}, {role} spoke."],
        "type": "script_based" if i % 2 else "script_agnostic",
        "confidence": 0.8 + i / 100,
    }


SHARDS = {
    (GENERAL, "train"): [_general("Hamlet", i) for i in range(5)],
    (GENERAL, "test"): [_general("Hamlet", 7), _general("Iago", 8)],
    (GENERAL, "rolegpt_baseline"): [_general("Hamlet", 7), _general("Iago", 8)],
    (SPECIFIC, "train"): [_specific("Hamlet", i) for i in range(3)],
    (SPECIFIC, "test"): [_specific("Iago", 1)],
}
ROLES = [
    {
        "name": "Hamlet",
        "lang": "en",
        "description": "The brooding Prince of Denmark.",
        "catchphrases": ["To be, or not to be."],
        "source_script": "hamlet.md",
        "source_note": "William Shakespeare, public domain",
        "persona_source": "overrides",
    },
    {
        "name": "Iago",
        "lang": "en",
        "held_out": True,
        "description": "Othello's scheming ensign.",
        "source_script": "othello.md",
        "source_note": "William Shakespeare, public domain",
    },
]


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0\0"))
        + chunk(b"IEND", b"")
    )


@dataclass
class Workspace:
    root: Path
    paths: ReleasePaths
    base: Path

    @property
    def dataset(self) -> Path:
        return self.paths.out / "dataset"

    @property
    def model(self) -> Path:
        return self.paths.out / "model"


def build_workspace(root: Path, base: Path, adapter: bool = True) -> Workspace:
    """The pipeline's outputs in miniature, under ``root`` (see the module docstring)."""
    write_rolebench(root / "data" / "rolebench", SHARDS, ROLES)
    reports = root / "reports"
    (reports / "plots").mkdir(parents=True)
    shards = {
        f"{c}/{s}": {"rows": len(r), "evaluated": 3, "passed": 3, "success": True}
        for (c, s), r in SHARDS.items()
    }
    gate = {"success": True, "evaluated": 15, "passed": 15, "failed": 0, "shards": shards}
    (reports / "validation.json").write_text(json.dumps(gate))
    metrics = root / "metrics"
    metrics.mkdir()
    rolegpt = {"pairs": 12, "written": 11, "seed": 7, "dropped": {"copies_reference": 2, "ooc": 1}}
    (metrics / "rolegpt.json").write_text(json.dumps(rolegpt))
    (root / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  assemble:\n    cmd: rolellm assemble\n    outs:\n"
        "    - path: data/rolebench\n      md5: 0123456789abcdef0123456789abcdef.dir\n"
    )
    summary_path = root / "models" / "rocit" / "training_summary.json"
    if adapter:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(base)
        lora = LoraConfig(
            r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"
        )
        peft_model = get_peft_model(model, lora)
        with torch.no_grad():  # non-zero B so the adapter changes the output
            for name, param in peft_model.named_parameters():
                if "lora_B" in name:
                    param.normal_(0, 0.02)
        adapter_dir = root / "models" / "rocit" / "adapter"
        peft_model.save_pretrained(adapter_dir)
        AutoTokenizer.from_pretrained(base).save_pretrained(adapter_dir)
        summary = {
            "hyperparameters": {
                "base_model": str(base),
                "learning_rate": 0.0002,
                "lora": {"r": 4, "alpha": 8},
                "system_prompt_template": "You are {{ name }}. {{ description }} Stay in role.",
            },
            "base_model": {"ref": str(base), "local": True, "model_type": "llama"},
            "data": {"configs": [GENERAL, SPECIFIC], "split": "train", "samples": 8, "roles": 1},
            "training": {"global_steps": 2, "final_loss": 9.1, "train_loss": 9.3},
            "versions": {"peft": "test"},
        }
        summary_path.write_text(json.dumps(summary))
    scores = {
        "instruction_generalization": {
            "rocit": {"CUS": 0.31, "RAW": 0.27, "SPE": 0.22, "avg": 0.2667},
            "base": {"CUS": 0.12, "RAW": 0.2, "SPE": 0.1, "avg": 0.14},
            "rolegpt": {"CUS": 0.61, "RAW": 0.5, "avg": 0.555},
        }
    }
    (metrics / "eval.json").write_text(json.dumps(scores))
    details = {
        "views": {
            "instruction_generalization": {
                "rocit": {
                    "CUS": {"mean": 0.31, "per_role": {"Hamlet": 0.33, "Iago": 0.29}},
                    "SPE": {"mean": 0.22, "per_role": {"Iago": 0.22}},
                }
            }
        }
    }
    (reports / "eval_details.json").write_text(json.dumps(details))
    (reports / "eval.md").write_text("# RoleLLM evaluation\n\n![overview](plots/overview.png)\n")
    (reports / "eval_per_role.csv").write_text("setting,view,role,n,rocit\n")
    (reports / "plots" / "overview.png").write_bytes(tiny_png())
    paths = ReleasePaths(
        rolebench=root / "data" / "rolebench",
        validation=reports / "validation.json",
        model_dir=root / "models" / "rocit",
        eval_metrics=metrics / "eval.json",
        eval_report=reports / "eval.md",
        eval_details=reports / "eval_details.json",
        eval_per_role=reports / "eval_per_role.csv",
        plots=reports / "plots",
        metrics_dir=metrics,
        dvc_lock=root / "dvc.lock",
        out=root / "release",
    )
    return Workspace(root, paths, base)


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n", 2)[1])


@pytest.fixture(scope="module")
def released(tmp_path_factory, tiny_model_dir) -> Workspace:
    ws = build_workspace(tmp_path_factory.mktemp("cards"), tiny_model_dir)
    result = run_release(ReleaseConfig(org="me", dataset_name="rb", model_name="rm"), ws.paths)
    assert set(result.folders) == {"dataset", "model"}
    assert any(line.startswith("model check: PEFT adapter") for line in result.checks)
    return ws


# --- dataset folder and card ---------------------------------------------------------------


def test_dataset_folder_is_the_hub_layout(released):
    files = sorted(
        p.relative_to(released.dataset).as_posix()
        for p in released.dataset.rglob("*")
        if p.is_file()
    )
    shards = sorted(f"data/{c}/{s}.parquet" for c, s in SHARDS)
    assert files == sorted(["README.md", "roles.json", *shards])
    source = released.paths.rolebench
    for rel in shards:  # shards are copied byte for byte
        assert (released.dataset / rel).read_bytes() == (source / rel).read_bytes()


def test_load_dataset_gives_every_split_row_for_row(released):
    from datasets import load_dataset

    for config, split in list_shards(released.dataset):
        loaded = load_dataset(str(released.dataset), config, split=split)
        expected = read_shard(released.dataset, config, split).to_dict(orient="records")
        assert loaded.to_list() == expected, (config, split)


def test_dataset_card_metadata(released):
    meta = front_matter((released.dataset / "README.md").read_text())
    assert meta["license"] == "apache-2.0" and meta["language"] == ["en"]
    assert meta["size_categories"] == ["n<1K"] and meta["pretty_name"]
    configs = {c["config_name"]: c["data_files"] for c in meta["configs"]}
    assert configs[GENERAL] == [
        {"split": s, "path": f"data/{GENERAL}/{s}.parquet"}
        for s in ("train", "test", "rolegpt_baseline")
    ]
    infos = {i["config_name"]: i for i in meta["dataset_info"]}
    assert [f["name"] for f in infos[SPECIFIC]["features"]] == [
        "role",
        "question",
        "generated",
        "type",
        "confidence",
    ]
    splits = {s["name"]: s["num_examples"] for s in infos[GENERAL]["splits"]}
    assert splits == {"train": 5, "test": 2, "rolegpt_baseline": 2}


def test_dataset_card_body(released):
    card = (released.dataset / "README.md").read_text()
    assert 'load_dataset("me/rb", "eng_instruction_generalization_general")' in card
    assert "| Hamlet | en | no | hamlet.md | overrides | 8 | 1 | 1 | 10 |" in card  # roster
    assert "| Iago | en | yes | othello.md | not recorded | 0 | 2 | 1 | 3 |" in card
    assert "| copies_reference | 2 |" in card and "- seed: 7" in card  # from metrics/rolegpt.json
    assert "### Context-Instruct" in card and "metrics source: not recorded" in card
    assert "William Shakespeare, public domain" in card
    assert "**passed**" in card and "15 of 15" in card
    assert "@article{wang2023rolellm" in card and "2310.00746" in card


# --- model folder and card -----------------------------------------------------------------


def test_model_folder_contents(released):
    names = {
        p.relative_to(released.model).as_posix() for p in released.model.rglob("*") if p.is_file()
    }
    expected = {
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
        "roles.json",
        "rolellm.json",
        "training_summary.json",
        "eval.md",
        "eval_per_role.csv",
        "plots/overview.png",
    }
    assert expected <= names and "tokenizer_config.json" in names
    config = json.loads((released.model / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    chat = json.loads((released.model / "rolellm.json").read_text())
    assert chat["system_prompt_template"].startswith("You are {{ name }}.")


def test_model_card_metadata_and_model_index(released):
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    text = (released.model / "README.md").read_text()
    data = ModelCard(text).data
    assert data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert data.library_name == "peft" and data.datasets == ["me/rb"] and data.license
    name, results = model_index_to_eval_results(front_matter(text)["model-index"])
    assert name == "rm"
    got = {
        (r.task_name.split("(")[1][:3], r.dataset_config, r.metric_type): r.metric_value
        for r in results
    }
    assert got == {
        ("CUS", GENERAL, "rougeL"): 0.31,
        ("RAW", GENERAL, "rougeL"): 0.27,
        ("SPE", SPECIFIC, "rougeL"): 0.22,
    }
    assert all(r.dataset_type == "me/rb" and r.dataset_split == "test" for r in results)


def test_model_card_body(released):
    card = (released.model / "README.md").read_text()
    assert "| **rocit** (this adapter on its base model) | 0.3100 | 0.2700 | 0.2200 |" in card
    assert "| Iago | yes | 0.2900 | not recorded | 0.2200 |" in card  # per role, held out
    assert "![plots/overview.png](plots/overview.png)" in card
    assert "| `learning_rate` | 0.0002 |" in card and "| `lora.r` | 4 |" in card
    assert "0123456789abcdef0123456789abcdef.dir" in card  # lineage from dvc.lock
    assert 'AutoPeftModelForCausalLM.from_pretrained("me/rm")' in card
    assert '"You are Hamlet. The brooding Prince of Denmark. Stay in role."' in card
    assert "## Limitations" in card and "@article{wang2023rolellm" in card


def test_release_is_deterministic(released, tmp_path):
    """Same inputs, same bytes (so a second push of the same state finds nothing to send)."""
    paths = ReleasePaths(**{**released.paths.__dict__, "out": tmp_path / "again"})
    run_release(ReleaseConfig(org="me", dataset_name="rb", model_name="rm"), paths, verify=False)
    for part in ("dataset", "model"):
        first = {
            p.relative_to(released.paths.out / part): p.read_bytes()
            for p in (released.paths.out / part).rglob("*")
            if p.is_file()
        }
        second = {
            p.relative_to(tmp_path / "again" / part): p.read_bytes()
            for p in (tmp_path / "again" / part).rglob("*")
            if p.is_file()
        }
        assert first == second, part


# --- missing inputs: one line, nothing written ----------------------------------------------


def test_missing_adapter_is_one_line_and_leaves_the_release(tmp_path, tiny_model_dir):
    ws = build_workspace(tmp_path, tiny_model_dir, adapter=False)
    (ws.paths.out / "model").mkdir(parents=True)
    (ws.paths.out / "model" / "old.txt").write_text("previous release")
    with pytest.raises(InputError, match=r"adapter: no trained adapter yet") as err:
        run_release(ReleaseConfig(), ws.paths)
    assert "\n" not in str(err.value)
    assert (ws.paths.out / "model" / "old.txt").read_text() == "previous release"
    assert not (ws.paths.out / "dataset").exists()  # nothing published when a part fails
    result = run_release(ReleaseConfig(), ws.paths, parts=("dataset",), verify=False)
    assert set(result.folders) == {"dataset"}


def test_missing_eval_and_failed_gate(released, tmp_path):
    base = {**released.paths.__dict__, "out": tmp_path / "out"}
    with pytest.raises(
        InputError,
        match=r"eval\.json: evaluation metrics not found \(run `rolellm evaluate` first\)",
    ):
        run_release(
            ReleaseConfig(), ReleasePaths(**{**base, "eval_metrics": tmp_path / "eval.json"})
        )
    failed = tmp_path / "validation.json"
    failed.write_text(json.dumps({"success": False}))
    with pytest.raises(InputError, match="quality gate failed"):
        run_release(ReleaseConfig(), ReleasePaths(**{**base, "validation": failed}))
    assert not (tmp_path / "out" / "dataset").exists() and not (tmp_path / "out" / "model").exists()


# --- config and secrets ----------------------------------------------------------------------


def test_repo_ids_and_config_validation():
    assert check_repo_id("rolellm/RoleBench-1.0") == "rolellm/RoleBench-1.0"
    for bad in ("no-namespace", "a/b/c", "me/bad--name", "me/-x", "me/x.git", "me/" + "x" * 97):
        with pytest.raises(ConfigError, match="not a valid Hub repo id"):
            check_repo_id(bad)
    with pytest.raises(ValueError, match="not a valid Hub name"):
        ReleaseConfig(org="bad..org")
    with pytest.raises(ValueError, match="looks like a secret"):
        ReleaseConfig(pretty_name=PLANTED)
    with pytest.raises(ValueError, match="Extra inputs"):
        ReleaseConfig(unknown=1)


def test_secret_shapes():
    assert scan_bytes(f"token = {PLANTED}".encode()) == ["Hub token (hf_...)"]
    assert scan_bytes(b"key sk-proj-abcDEF1234567890abcdef1234") == ["OpenAI key (sk-...)"]
    assert scan_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc") == ["private key"]
    prose = (
        b"task-specific-instructions-for-everyone; hf_hub_download(); ask-me-anything-please-now"
    )
    assert scan_bytes(prose) == []


def test_secret_in_a_compressed_parquet_column_is_found(tmp_path):
    import pyarrow as pa

    from dataset_builder.schema import features_of

    rows = [{**_general("Hamlet", i), "generated": [f"answer {i}"] * 3} for i in range(50)]
    rows[20]["generated"] = ["a", f"my key is {PLANTED}, keep it", "b"]
    table = pa.Table.from_pylist(rows, schema=features_of("general").arrow_schema)
    shard = tmp_path / "rb" / f"data/{GENERAL}/train.parquet"
    shard.parent.mkdir(parents=True)
    pq.write_table(table, shard, compression="gzip", write_statistics=False)
    assert PLANTED.encode() not in shard.read_bytes()  # compression hides it from a byte scan
    findings = scan_paths([tmp_path / "rb"], root=tmp_path)
    assert [f.line() for f in findings] == [
        f"rb/data/{GENERAL}/train.parquet (column generated): looks like a Hub token (hf_...)"
    ]


def test_cli_release_records_the_generation_settings(tmp_path, tiny_model_dir, monkeypatch, capsys):
    """`rolellm release` reads params.yaml once: generator, seeds and prompt hashes in the card."""
    import sys

    from rolellm import cli

    ws = build_workspace(tmp_path, tiny_model_dir, adapter=False)
    params = tmp_path / "params.yaml"
    params.write_text(
        "rolegpt: {seed: 5}\nengine: {backend: openai, openai: {model: gpt-4o-mini}}\n"
    )
    args = ["--params", str(params), "--data", str(ws.paths.rolebench)]
    args += [
        "--validation-report",
        str(ws.paths.validation),
        "--metrics-dir",
        str(ws.paths.metrics_dir),
    ]
    args += ["--out", str(ws.paths.out), "--only", "dataset"]
    monkeypatch.setattr(sys, "argv", ["rolellm", "release", *args])
    cli.main()
    out = capsys.readouterr().out
    assert out.startswith(f"dataset: {ws.dataset} (7 files,")
    assert "dataset check: load_dataset loaded 5 config/split(s)" in out
    card = (ws.dataset / "README.md").read_text()
    assert "- generator model: gpt-4o-mini (OpenAI-compatible server)" in card
    assert "- seed: 7" in card  # what metrics/rolegpt.json recorded wins over params
    assert "prompt templates (sha256): " in card and card.count("not recorded") < 20
    assert 'load_dataset("rolellm/RoleBench-Shakespeare", ' in card  # params: no release section


def test_release_refuses_secret_looking_text(tmp_path, tiny_model_dir):
    ws = build_workspace(tmp_path, tiny_model_dir, adapter=False)
    roles = json.loads((ws.paths.rolebench / "roles.json").read_text())
    roles[0]["description"] += f" Password: {PLANTED}"
    (ws.paths.rolebench / "roles.json").write_text(json.dumps(roles))
    with pytest.raises(VerifyError) as err:
        run_release(ReleaseConfig(), ws.paths, parts=("dataset",), verify=False)
    where = ws.paths.out / "dataset" / "roles.json"
    assert str(err.value) == f"release: {where}: looks like a Hub token (hf_...); nothing released"
    assert not (ws.paths.out / "dataset").exists()
