"""Bad input across the whole CLI: every case is a real `rolellm` subprocess in a fresh folder.

Each case asserts the CLI's contract for a problem the user can fix:
  1. a non-zero exit code;
  2. one clear line on stderr (no traceback, no second line) naming the offending file,
     field or value;
  3. no partial output: the temporary folder (the working folder, the inputs and an empty
     HF_HOME) is byte-for-byte what it was before the run, so no stage output, metrics
     file, report, cache or temporary file appeared and no input was touched.

Nothing reaches the network (HF_HUB_OFFLINE=1, HF_ENDPOINT on a closed port) and no case
loads a model: every one fails at validation first.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROLELLM = str(Path(sys.executable).parent / "rolellm")
WORKERS = 2  # cases run side by side; each is still its own test id
SLOW_VERBS = ("train", "validate", "evaluate")  # heavy imports: started first

# --------------------------------------------------------------------------- inputs

PLAY = """# Tiny Hamlet

## ACT I

### SCENE I. Elsinore.

**HAMLET**
Who is there? Stand and unfold yourself.

**HORATIO**
Friends to this ground, my lord.

**HAMLET**
Welcome, Horatio; welcome, good friend.

**HORATIO**
The same, my lord, and your poor servant ever.

**HAMLET**
Sir, my good friend; I'll change that name with you.

**HAMLET**
But what in faith make you from Wittenberg?

**HAMLET**
I would not hear your enemy say so.

**HAMLET**
We'll teach you to drink deep ere you depart.
"""


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _json(path: Path, data: object) -> Path:
    return _write(path, json.dumps(data))


def _jsonl(path: Path, rows: list[dict]) -> Path:
    return _write(path, "".join(json.dumps(row) + "\n" for row in rows))


def _params(work: Path, data: dict, name: str = "params.yaml") -> Path:
    return _write(work / name, yaml.safe_dump(data, sort_keys=False))


def _profiles_params(work: Path, roles: list[dict] | None = None, **extra) -> None:
    """A profiles section on the scripts/ folder (a tiny Hamlet scene unless set up else)."""
    section = {
        "scripts_dir": "scripts",
        "plays": [],
        "min_lines": 3,
        "out_dir": "data/profiles",
        "roles": roles if roles is not None else [{"name": "Hamlet", "script": "tiny"}],
    }
    _params(work, {"profiles": section | extra})


def _play(work: Path, name: str = "tiny.md") -> None:
    _write(work / "scripts" / name, PLAY)


def _instructions_params(work: Path, **source) -> None:
    source = {"path": "src/instructions.jsonl", "lang": "en"} | source
    _params(work, {"instructions": {"sources": [source], "n_en": 2, "out": "pool/pool.jsonl"}})


PROFILE_ROW = {"act_id": 0, "diag_id": 0, "role": "Hamlet", "content": "Words, words."}
SCORE_ROW = {"role": "Hamlet", "question": "Who are you?", "generated": ["The prince."]}

INSTRUCTION_ROWS = [
    {"instruction": "Name a colour.", "answer": "Blue."},
    {"instruction": "Count to three.", "answer": "One, two, three."},
]


def _rolebench(folder: Path, splits: tuple[str, ...] = ("train", "test")) -> None:
    from dataset_builder.rolebench_io import write_rolebench

    rows = [
        {
            "role": "Hamlet",
            "question": f"What is your view of question {i}?",
            "generated": [f"It is a question, {i}.", "Words, words, words."],
            "reference": "a question",
            "kind": "open_qa",
        }
        for i in range(3)
    ]
    shards = {("eng_instruction_generalization_general", split): rows for split in splits}
    write_rolebench(folder, shards, [{"name": "Hamlet", "lang": "en", "description": "A prince."}])


def _release(work: Path, success: bool = True) -> None:
    for part in ("dataset", "model"):
        _write(work / "release" / part / "README.md", f"---\nlicense: apache-2.0\n---\n# {part}\n")
    _json(work / "reports" / "validation.json", {"success": success})
    _write(work / "dvc.lock", "schema: '2.0'\nstages: {}\n")


def _profiles_folder(work: Path) -> None:
    """data/profiles as the profiles stage writes it (one role, Hamlet) and a pool: the
    inputs of `rolellm rolegpt` (used by the case kept out of the table, see there)."""
    from dataset_builder.profiles import build_role_profiles, write_profiles
    from dataset_builder.profiles_config import ProfilesConfig, RoleConfig

    _play(work)
    cfg = ProfilesConfig(
        scripts_dir=str(work / "scripts"),
        min_lines=3,
        roles=[RoleConfig(name="Hamlet", script="tiny")],
    )
    persona = {
        "description": "The melancholy prince of Denmark.",
        "catchphrases": ["Words, words, words."],
        "persona_source": "overrides",
    }
    profiles = build_role_profiles(cfg)
    write_profiles(work / "data" / "profiles", profiles, {"Hamlet": persona})
    pool = [
        {"id": f"en-{i}", "lang": "en", "kind": "open_ended", "instruction": q, "split": "train"}
        | {"answer": "ok"}
        for i, q in enumerate(["Name a colour.", "Count to three."])
    ]
    _jsonl(work / "data" / "instructions" / "pool.jsonl", pool)


def _previous_run(work: Path) -> None:
    """Outputs of an earlier, successful run: a failed run must leave them untouched."""
    _jsonl(work / "pool" / "pool.jsonl", [{"id": "en-1", "split": "train"} | INSTRUCTION_ROWS[0]])
    _json(work / "metrics" / "instructions.json", {"total": 1})
    _jsonl(work / "data" / "profiles" / "hamlet.jsonl", [PROFILE_ROW])
    _json(work / "data" / "profiles" / "roles.json", [{"name": "Hamlet", "slug": "hamlet"}])
    _json(work / "metrics" / "profiles.json", {"roles": 1})


# --------------------------------------------------------------------------- the table


def _nothing(work: Path) -> None:
    pass


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]  # after `rolellm`, run in the working folder
    expect: str  # must be in the one error line
    setup: Callable[[Path], None] = _nothing
    outputs: tuple[str, ...] = ()  # the stage's outputs (relative to the working folder)


def _setup(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def run(work: Path) -> None:
        for step in steps:
            step(work)

    return run


PROFILES_OUT = ("data/profiles", "metrics/profiles.json", "cache")
INSTRUCTIONS_OUT = ("pool", "metrics/instructions.json")
TRAIN_OUT = ("models/rocit", "metrics/train.json", "dvclive")
EVAL_OUT = ("metrics/eval.json", "reports", "cache")

CASES = [
    # --- params.yaml: unknown key, wrong type, out of range, bad YAML, missing file --------
    Case(
        "params-unknown-key",
        ("instructions",),
        "params.yaml: instructions.n_enn: unknown key",
        lambda w: _params(w, {"instructions": {"n_enn": 3}}),
        INSTRUCTIONS_OUT + ("data",),
    ),
    Case(
        "params-wrong-type",
        ("profiles",),
        "profiles.min_lines: Input should be a valid integer",
        lambda w: _params(w, {"profiles": {"min_lines": "many"}}),
        PROFILES_OUT,
    ),
    Case(
        "params-out-of-range",
        ("context-instruct",),
        "context_instruct.min_confidence: Input should be less than or equal to 1",
        lambda w: _params(w, {"context_instruct": {"min_confidence": 1.5}}),
        ("data/generated", "metrics", "cache"),
    ),
    Case(
        "params-bad-enum",
        ("rolegpt",),
        "engine.local.dtype",
        lambda w: _params(w, {"engine": {"local": {"dtype": "float8"}}}),
        ("data/generated", "metrics", "cache"),
    ),
    Case(
        "params-bad-yaml",
        ("assemble", "--params", "broken.yaml"),
        "broken.yaml: line",
        lambda w: _write(w / "broken.yaml", "assemble: [unclosed\n"),
        ("data/rolebench", "metrics"),
    ),
    Case(
        "params-missing-file",
        ("instructions", "-p", "missing.yaml"),
        "missing.yaml: file not found",
        outputs=("data", "metrics"),
    ),
    Case(
        "params-top-level-scalar",
        ("evaluate", "-p", "scalar.yaml"),
        "scalar.yaml: top level must be a mapping",
        lambda w: _write(w / "scalar.yaml", "just text\n"),
        EVAL_OUT,
    ),
    Case(
        "params-secret-in-file",
        ("raw-scripts",),
        "engine.openai.api_key_env: looks like a secret",
        lambda w: _params(
            w, {"engine": {"openai": {"api_key_env": "sk-live-0123456789abcdefXYZ"}}}
        ),
        ("data",),
    ),
    Case(
        "evaluate-option-out-of-range",
        ("evaluate", "-s", "evaluate.max_per_role=0", "--model", "some/model"),
        "--set evaluate.max_per_role=0: evaluate.max_per_role: Input should be greater than 0",
        lambda w: _rolebench(w / "data" / "rolebench"),
        EVAL_OUT,
    ),
    # --- scripts: malformed, undetectable, empty, not UTF-8, missing folder ----------------
    Case(
        "script-undetectable-format",
        ("profiles",),
        "scripts/tiny.txt: cannot tell the script format",
        _setup(
            lambda w: _write(w / "scripts" / "tiny.txt", "Just some prose.\nNo speakers here.\n"),
            _profiles_params,
        ),
        PROFILES_OUT,
    ),
    Case(
        "script-empty",
        ("profiles",),
        "scripts/tiny.md: empty file",
        _setup(lambda w: _write(w / "scripts" / "tiny.md", "\n  \n"), _profiles_params),
        PROFILES_OUT,
    ),
    Case(
        "script-malformed-profile-jsonl",
        ("profiles",),
        "scripts/tiny.jsonl: line 2",
        _setup(
            lambda w: _write(
                w / "scripts" / "tiny.jsonl", json.dumps(PROFILE_ROW) + '\n{"act_id": 0,\n'
            ),
            _profiles_params,
        ),
        PROFILES_OUT,
    ),
    Case(
        "script-not-utf8",
        ("profiles",),
        "scripts/tiny.md: not UTF-8 text",
        _setup(
            lambda w: _write(w / "scripts" / "tiny.md", b"**HAMLET**\n\xff\xfe bad\n"),
            _profiles_params,
        ),
        PROFILES_OUT,
    ),
    Case(
        "scripts-folder-missing",
        ("profiles",),
        "scripts: scripts folder not found",
        _profiles_params,
        PROFILES_OUT,
    ),
    Case(
        "script-file-named-by-role-missing",
        ("profiles",),
        "script 'macbeth' not found",
        _setup(_play, lambda w: _profiles_params(w, [{"name": "Macbeth", "script": "macbeth"}])),
        PROFILES_OUT,
    ),
    # --- role lists: unknown name, slug collision, too few lines, bad names ----------------
    Case(
        "role-not-in-script",
        ("profiles",),
        "role 'Yorick' does not occur",
        _setup(_play, lambda w: _profiles_params(w, [{"name": "Yorick", "script": "tiny"}])),
        PROFILES_OUT,
    ),
    Case(
        "role-slug-collision",
        ("profiles",),
        "would share the file name 'hamlet.jsonl'",
        _setup(
            _play,
            lambda w: _profiles_params(
                w,
                [
                    {"name": "Hamlet", "script": "tiny"},
                    {"name": "Horatio", "script": "tiny", "slug": "hamlet"},
                ],
                min_lines=2,
            ),
        ),
        PROFILES_OUT,
    ),
    Case(
        "role-too-few-lines-keeps-old-profiles",
        ("profiles",),
        "role 'Horatio' has 2 lines, fewer than min_lines=3",
        _setup(
            _play,
            lambda w: _profiles_params(w, [{"name": "Horatio", "script": "tiny"}]),
            _previous_run,  # the last good profiles folder stays exactly as it was
        ),
        PROFILES_OUT,
    ),
    Case(
        "role-top-n-nobody-qualifies",
        ("profiles",),
        "no speaker has min_lines=50 lines",
        _setup(_play, lambda w: _profiles_params(w, [], min_lines=50)),
        PROFILES_OUT,
    ),
    Case(
        "role-name-looks-like-a-path",
        ("profiles",),
        "looks like a path",
        _setup(_play, lambda w: _profiles_params(w, [{"name": "../etc", "script": "tiny"}])),
        PROFILES_OUT,
    ),
    Case(
        "role-bad-slug",
        ("profiles",),
        "profiles.roles.0.slug",
        _setup(
            _play,
            lambda w: _profiles_params(
                w, [{"name": "Hamlet", "script": "tiny", "slug": "Ham/let"}]
            ),
        ),
        PROFILES_OUT,
    ),
    Case(
        "chinese-role-with-lang-en",
        ("profiles",),
        "profiles.roles.0: lang: en for the Chinese name '小梅'; a role's instructions",
        _setup(_play, lambda w: _profiles_params(w, [{"name": "小梅", "lang": "en"}])),
        PROFILES_OUT,
    ),
    # --- the user's own scripts folder (issue 14): read only, never an output --------------
    Case(
        "scripts-folder-empty",
        ("profiles",),
        "scripts: no script files (.fountain, .jsonl, .markdown, .md, .spmd, .txt) and "
        "profiles.plays is empty",
        _setup(
            lambda w: _write(w / "scripts" / "README", "my scripts go here\n"), _profiles_params
        ),
        PROFILES_OUT,
    ),
    Case(
        "role-not-in-script-lists-the-speakers",
        ("profiles",),
        "tiny.md: role 'Yorick' does not occur (speakers: HAMLET (6), HORATIO (2))",
        _setup(_play, lambda w: _profiles_params(w, [{"name": "Yorick", "script": "tiny"}])),
        PROFILES_OUT,
    ),
    Case(
        "role-in-two-scripts-without-script",
        ("profiles",),
        "role 'Hamlet' speaks in 2 scripts (tiny.md, tiny2.md); set its script: in profiles.roles",
        _setup(
            _play,
            lambda w: _play(w, "tiny2.md"),
            lambda w: _profiles_params(w, [{"name": "Hamlet"}]),
        ),
        PROFILES_OUT,
    ),
    Case(
        "role-without-script-in-no-script",
        ("profiles",),
        "role 'Yorick' does not occur in any script (speakers: HAMLET (6), HORATIO (2))",
        _setup(_play, lambda w: _profiles_params(w, [{"name": "Yorick"}])),
        PROFILES_OUT,
    ),
    Case(
        "scripts-folder-inside-the-plays-folder",
        ("profiles",),
        "params.yaml: profiles: scripts_dir 'data/plays/mine' overlaps plays_dir 'data/plays'",
        _setup(_play, lambda w: _profiles_params(w, scripts_dir="data/plays/mine")),
        PROFILES_OUT,
    ),
    Case(
        "raw-scripts-refuses-scripts-folder-in-plays-folder",
        ("raw-scripts", "--out", "scripts"),
        "profiles: scripts_dir 'scripts' overlaps plays_dir 'scripts'",
        _setup(_play, _profiles_params),
        ("data",),
    ),
    Case(
        "embedded-play-not-materialised",
        ("profiles",),
        "data/plays: embedded play 'hamlet' not found; run `rolellm raw-scripts`",
        _setup(_play, lambda w: _profiles_params(w, plays=["hamlet"])),
        PROFILES_OUT,
    ),
    Case(
        "own-script-named-like-an-embedded-play",
        ("profiles",),
        "scripts/hamlet.md: same file name as the embedded play data/plays/hamlet.md",
        _setup(
            lambda w: _play(w, "hamlet.md"),
            lambda w: _write(w / "data" / "plays" / "hamlet.md", PLAY),
            lambda w: _profiles_params(w, plays=["hamlet"]),
        ),
        PROFILES_OUT,
    ),
    Case(
        "chat-unknown-role",
        ("chat", "--model", "model", "--role", "Yorick", "--roles", "roles.json"),
        "unknown role 'Yorick'",
        _setup(
            lambda w: (w / "model").mkdir(),
            lambda w: _json(w / "roles.json", [{"name": "Hamlet", "slug": "hamlet", "lang": "en"}]),
        ),
    ),
    # --- instruction files -----------------------------------------------------------------
    Case(
        "instructions-empty-file",
        ("instructions",),
        "src/instructions.jsonl: empty instruction file",
        _setup(lambda w: _write(w / "src" / "instructions.jsonl", ""), _instructions_params),
        INSTRUCTIONS_OUT,
    ),
    Case(
        "instructions-missing-columns",
        ("instructions",),
        "required column 'instruction' (instruction) is missing",
        _setup(
            lambda w: _jsonl(
                w / "src" / "instructions.jsonl", [{"prompt": "Hi?", "answer": "Hi."}]
            ),
            _instructions_params,
        ),
        INSTRUCTIONS_OUT,
    ),
    Case(
        "instructions-mapping-names-missing-column",
        ("instructions",),
        "columns.answer names column 'output'",
        _setup(
            lambda w: _jsonl(w / "src" / "instructions.jsonl", INSTRUCTION_ROWS),
            lambda w: _instructions_params(w, columns={"answer": "output"}),
        ),
        INSTRUCTIONS_OUT,
    ),
    Case(
        "instructions-bad-json-line-keeps-old-pool",
        ("instructions",),
        "src/instructions.jsonl: line 2: not valid JSON",
        _setup(
            lambda w: _write(
                w / "src" / "instructions.jsonl", json.dumps(INSTRUCTION_ROWS[0]) + "\n{oops\n"
            ),
            _instructions_params,
            _previous_run,  # the last good pool and metrics stay exactly as they were
        ),
        INSTRUCTIONS_OUT,
    ),
    Case(
        "instructions-unsupported-extension",
        ("instructions",),
        "src/instructions.xml: unknown file type '.xml'",
        _setup(
            lambda w: _write(w / "src" / "instructions.xml", "<rows/>\n"),
            lambda w: _instructions_params(w, path="src/instructions.xml"),
        ),
        INSTRUCTIONS_OUT,
    ),
    Case(
        "instructions-file-missing",
        ("instructions",),
        "src/absent.jsonl: instruction file not found",
        lambda w: _instructions_params(w, path="src/absent.jsonl"),
        INSTRUCTIONS_OUT,
    ),
    Case(
        "instructions-csv-missing-column",
        ("instructions",),
        "required column 'answer' (answer) is missing",
        _setup(
            lambda w: _write(w / "src" / "instructions.csv", "instruction,output\nHi?,Hi.\n"),
            lambda w: _instructions_params(w, path="src/instructions.csv"),
        ),
        INSTRUCTIONS_OUT,
    ),
    # --- model paths -----------------------------------------------------------------------
    Case(
        "train-missing-base-model",
        (
            "train",
            "-s",
            "train.base_model=./no-such-model",
            "-s",
            "train.train_configs=[eng_instruction_generalization_general]",
        ),
        "base model folder not found: ./no-such-model",
        _setup(
            lambda w: _params(w, {"seed": 0}),
            lambda w: _rolebench(w / "data" / "rolebench"),
            lambda w: _json(w / "reports" / "validation.json", {"success": True}),
        ),
        TRAIN_OUT,
    ),
    Case(
        "evaluate-missing-model-folder",
        ("evaluate", "--model", "./no-such-model"),
        "evaluate.model: model folder './no-such-model' not found",
        lambda w: _rolebench(w / "data" / "rolebench"),
        EVAL_OUT,
    ),
    Case(
        "evaluate-missing-adapter-folder",
        ("evaluate", "--model", "./no-such-model", "--adapter", "./no-such-adapter"),
        "adapter folder './no-such-adapter' not found",
        lambda w: _rolebench(w / "data" / "rolebench"),
        EVAL_OUT,
    ),
    Case(
        "rolegpt-missing-engine-model",
        ("rolegpt",),
        "engine.local.model: model folder './no-such-model' not found",
        _setup(
            _profiles_folder,
            lambda w: _params(w, {"engine": {"local": {"model": "./no-such-model"}}}),
        ),
        ("data/generated", "metrics", "cache"),
    ),
    Case(
        "chat-missing-model-folder",
        ("chat", "--model", "./no-such-model", "--role", "Hamlet"),
        "--model './no-such-model': not a model folder",
    ),
    # --- Hub: repo ids, token, gate --------------------------------------------------------
    Case(
        "push-invalid-repo-id",
        ("push", "--dataset-repo", "bad name!!"),
        "--dataset-repo 'bad name!!': not a valid Hub repo id",
        _release,
    ),
    Case(
        "push-invalid-org-in-params",
        ("push",),
        "params.yaml: release.org: not a valid Hub name",
        _setup(_release, lambda w: _params(w, {"release": {"org": "bad org!!"}})),
    ),
    Case(
        "pull-invalid-repo-id",
        ("pull", "bad name!!", "--out", "pulled"),
        "repo 'bad name!!': not a valid Hub repo id",
        outputs=("pulled",),
    ),
    Case(
        "pull-unknown-repo-type",
        ("pull", "me/rb", "--type", "space", "--out", "pulled"),
        "--type 'space': expected dataset or model",
        outputs=("pulled",),
    ),
    Case(
        "push-without-token",
        ("push", "--dataset-repo", "me/rb", "--model-repo", "me/rm"),
        "no Hub token",
        _release,
    ),
    Case(
        "push-failed-gate",
        ("push", "--dataset-repo", "me/rb"),
        "reports/validation.json: the quality gate failed",
        lambda w: _release(w, success=False),
    ),
    Case(
        "push-missing-release-folder",
        ("push", "--dataset-repo", "me/rb", "--release-dir", "nowhere"),
        "nowhere/dataset: no release folder",
    ),
    # --- validate, import-rolebench, score -------------------------------------------------
    Case(
        "validate-missing-folder",
        ("validate", "no-such-folder"),
        "no-such-folder: folder not found",
        outputs=("reports",),
    ),
    Case(
        "import-rolebench-missing-folder",
        ("import-rolebench", "no-such-release", "--out", "imported"),
        "no-such-release: no RoleBench release files found",
        outputs=("imported",),
    ),
    Case(
        "score-malformed-predictions",
        ("score", "preds.jsonl", "refs.jsonl"),
        "preds.jsonl: line 2: not valid JSON",
        _setup(
            lambda w: _write(w / "preds.jsonl", json.dumps(SCORE_ROW) + '\n{"role": \n'),
            lambda w: _jsonl(w / "refs.jsonl", [SCORE_ROW]),
        ),
    ),
    Case(
        "score-predictions-row-without-field",
        ("score", "preds.jsonl", "refs.jsonl"),
        "preds.jsonl: line 1: row has no 'question' field",
        _setup(
            lambda w: _jsonl(w / "preds.jsonl", [{"role": "Hamlet", "generated": ["a"]}]),
            lambda w: _jsonl(w / "refs.jsonl", [SCORE_ROW]),
        ),
    ),
    Case(
        "score-missing-references",
        ("score", "preds.jsonl", "refs.jsonl"),
        "refs.jsonl: file not found",
        lambda w: _jsonl(w / "preds.jsonl", [SCORE_ROW]),
    ),
    Case(
        "score-unknown-lang",
        ("score", "preds.jsonl", "refs.jsonl", "--lang", "fr"),
        "lang must be 'en' or 'zh', got 'fr'",
        _setup(
            lambda w: _jsonl(w / "preds.jsonl", [SCORE_ROW]),
            lambda w: _jsonl(w / "refs.jsonl", [SCORE_ROW]),
        ),
    ),
    # --- other stages: inputs missing or malformed -----------------------------------------
    Case(
        "import-rolebench-malformed-release-file",
        ("import-rolebench", "release-raw", "--out", "imported"),
        "instruction-generalization/general/train.jsonl: not JSON lines",
        lambda w: _write(
            w / "release-raw/rolebench-eng/instruction-generalization/general/train.jsonl",
            json.dumps(SCORE_ROW) + "\n{oops\n",
        ),
        ("imported",),
    ),
    Case(
        "assemble-missing-roster",
        ("assemble",),
        "data/profiles/roles.json: roster not found",
        lambda w: _params(w, {"seed": 0}),
        ("data/rolebench", "metrics"),
    ),
    Case(
        "release-missing-gate-report",
        ("release",),
        "reports/validation.json: validation report missing",
        lambda w: _params(w, {"seed": 0}),
        ("release",),
    ),
]


# --------------------------------------------------------------------------- the check


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    work: Path
    existed: dict[str, bool]  # each stage output: there before the run?
    before: dict[str, str]  # snapshot of the case's whole temporary folder
    after: dict[str, str]


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under root: folders as "dir", files by content hash."""
    listing = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        listing[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return listing


def _env(root: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HF_", "HUGGING", "OPENAI_")) and key != "PYTEST_CURRENT_TEST"
    }
    env.update(
        HF_HUB_OFFLINE="1",
        HF_ENDPOINT="http://127.0.0.1:9",  # nothing listens there
        HF_HOME=str(root / "hf-home"),  # empty: no login, no stored token
        HF_HUB_DISABLE_TELEMETRY="1",
        DVC_NO_ANALYTICS="1",
        TOKENIZERS_PARALLELISM="false",
        NO_COLOR="1",
    )
    return env


def _run_case(case: Case, root: Path) -> Outcome:
    work = root / "work"
    work.mkdir()
    (root / "hf-home").mkdir()
    case.setup(work)
    existed = {out: (work / out).exists() for out in case.outputs}
    before = _snapshot(root)
    result = subprocess.run(
        [ROLELLM, *case.args],
        cwd=work,
        env=_env(root),
        capture_output=True,
        text=True,
        timeout=180,
    )
    return Outcome(
        result.returncode, result.stdout, result.stderr, work, existed, before, _snapshot(root)
    )


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict[str, Future[Outcome]]:
    """Every selected case, WORKERS at a time (each subprocess mostly imports Python
    modules). Each case is still its own test below, which also sees its own setup errors."""
    selected = [  # only the cases pytest selected (-k, a single id): no wasted runs
        item.callspec.params["case"]
        for item in request.session.items
        if hasattr(item, "callspec") and isinstance(item.callspec.params.get("case"), Case)
    ]
    selected.sort(key=lambda case: case.args[0] not in SLOW_VERBS)  # slow ones first
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {
            case.id: pool.submit(_run_case, case, tmp_path_factory.mktemp(case.id, numbered=True))
            for case in selected
        }
    return futures


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_fails_in_one_line_without_output(case: Case, outcomes) -> None:
    got = outcomes[case.id].result()
    # (1) a non-zero exit code
    assert got.returncode != 0, f"exit 0\nstdout: {got.stdout}\nstderr: {got.stderr}"
    # (2) one clear line naming the problem
    assert "Traceback" not in got.stderr, got.stderr
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{got.stderr}"
    assert lines[0].startswith("error: "), lines[0]
    assert case.expect in lines[0], lines[0]
    # (3) no partial output: the stage's outputs absent (or untouched), nothing new anywhere
    for out, was_there in got.existed.items():
        assert (got.work / out).exists() == was_there, f"{out} appeared"
    appeared = sorted(set(got.after) - set(got.before))
    removed = sorted(set(got.before) - set(got.after))
    changed = sorted(p for p in set(got.before) & set(got.after) if got.before[p] != got.after[p])
    assert not (appeared or changed or removed), (
        f"appeared: {appeared}, changed: {changed}, removed: {removed}"
    )


def test_the_table_is_large_and_ids_are_unique() -> None:
    assert len(CASES) >= 28
    assert len({case.id for case in CASES}) == len(CASES)
