"""Stage `evaluate`: RoleLLM's Rouge-L views (RAW / CUS / SPE) and an optional LLM judge.

Systems compared on the test split of every RoleBench config present (or those named):

- ``rocit``: the base model plus the RoCIT adapter (engine ``local`` with ``adapter``);
- ``base``: the same base model without the adapter (``compare_base``);
- ``model``: without an adapter, the one model named (a folder, a Hub id, or a model
  served by an OpenAI-compatible endpoint);
- ``rolegpt``: the release's ``rolegpt_baseline`` rows, matched to test rows by role and
  stripped question.

Generation goes through the engine (cached under ``cache_stage``, batched): greedy, with the
role-conditioned system prompt of training (``training.prompts``; the template the adapter
was trained with, read from its ``training_summary.json``, unless one is set here).

Outputs: metrics JSON (DVC metrics: ``{setting: {system: {CUS, RAW, SPE, avg, SPE_by_type,
judge?: {win_rate, ci_low, ci_high, n}}, rocit_minus_base: {CUS, SPE}}}``, RAW absent where
no row has an original answer), the per-role CSV, plots, the Markdown report (see
``training.eval_report``), a details JSON, and predictions
``<reports>/predictions/<system>/<config>.jsonl`` in the release's row format ({role,
question, generated: [answer]}, plus ``type`` for role-specific rows) so that ``rolellm
score`` can rescore them.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataset_builder.schema import CONFIGS_BY_NAME
from rolellm.atomic import atomic_path, write_json
from rolellm.engine.config import EngineConfig
from rolellm.engine.types import ChatRequest
from rolellm.errors import ConfigError, InputError
from rolellm.sections import Sampling
from training.eval_config import EvalPaths, EvaluateConfig
from training.eval_views import (
    EvalItem,
    RougeSettings,
    ScorerSet,
    Summary,
    compare,
    score_system,
    summarise,
)
from training.judge import JudgeConfig, JudgeItem, JudgeResult, judge_items, sample_items
from training.prompts import (
    DEFAULT_SYSTEM_PROMPT_TEMPLATE,
    RoleCard,
    build_messages,
    find_role,
    load_roles,
)

BASELINE = "rolegpt"
SYSTEM_ORDER = ("rocit", "base", "model", BASELINE)

__all__ = ["EvalPaths", "EvalResult", "EvaluateConfig", "run_evaluate"]


# --- test data ---------------------------------------------------------------------------


@dataclass
class EvalData:
    """Test items of every config, aligned with the baseline's answers (None: none)."""

    items: list[EvalItem]
    baseline: list[str | None] | None
    cards: list[RoleCard]
    notes: list[str] = field(default_factory=list)
    without_baseline: list[str] = field(default_factory=list)  # configs with no such split


def _configs(folder: Path, cfg: EvaluateConfig) -> list[str]:
    from dataset_builder.rolebench_io import list_shards

    present = {config for config, split in list_shards(folder) if split == cfg.split}
    if cfg.configs is not None:
        missing = [c for c in cfg.configs if c not in present]
        if missing:
            raise InputError(f"{folder}: no {cfg.split} split for config {missing[0]}")
        return list(cfg.configs)
    found = [name for name in CONFIGS_BY_NAME if name in present]
    if not found:
        raise InputError(f"{folder}: no {cfg.split} split in any RoleBench config")
    return found


def _rows(folder: Path, config: str, split: str) -> list[dict[str, Any]]:
    from dataset_builder.rolebench_io import read_shard

    return read_shard(folder, config, split).to_dict("records")


def _item(config: str, row: dict[str, Any]) -> EvalItem:
    spec = CONFIGS_BY_NAME[config]
    generated = row.get("generated")
    return EvalItem(
        config=config,
        setting=spec.setting,
        lang=spec.lang,
        kind=spec.kind,
        role=str(row["role"]),
        question=str(row["question"]),
        references=tuple(str(t) for t in (generated if generated is not None else ())),
        raw_reference=str(row.get("reference") or ""),
        type=row.get("type") or None,
    )


def _key(role: str, question: str) -> tuple[str, str]:
    return (role, question.strip())


def match_baseline(items: list[EvalItem], rows: list[dict[str, Any]]) -> list[str | None]:
    """The baseline answer of each item (role + stripped question; repeats pair in order)."""
    waiting: dict[tuple[str, str], deque[str]] = defaultdict(deque)
    for row in rows:
        answers = [str(t) for t in row.get("generated") or () if str(t).strip()]
        if answers:
            waiting[_key(str(row["role"]), str(row["question"]))].append(answers[0])
    out: list[str | None] = []
    for item in items:
        queue = waiting.get(_key(item.role, item.question))
        out.append(queue.popleft() if queue else None)
    return out


def _cards(folder: Path, items: list[EvalItem], notes: list[str]) -> list[RoleCard]:
    path = folder / "roles.json"
    roster = load_roles(path) if path.is_file() else {}
    cards: dict[str, RoleCard] = {}
    unknown: set[str] = set()
    for item in items:
        if item.role not in cards:
            try:
                cards[item.role] = find_role(roster, item.role)
            except InputError:
                unknown.add(item.role)
                cards[item.role] = RoleCard(name=item.role, lang=item.lang)
    if unknown:
        notes.append(
            f"{len(unknown)} role(s) not in {path} (prompted with the name only): "
            + ", ".join(sorted(unknown)[:10])
        )
    return [cards[item.role] for item in items]


def load_eval_data(folder: Path, cfg: EvaluateConfig) -> EvalData:
    """Test rows of the chosen configs and, when present, their rolegpt_baseline answers."""
    from dataset_builder.rolebench_io import list_shards

    folder = Path(folder)
    shards = set(list_shards(folder))
    items: list[EvalItem] = []
    baseline: list[str | None] = []
    without: list[str] = []
    for config in _configs(folder, cfg):
        config_items = [_item(config, r) for r in _rows(folder, config, cfg.split)]
        if cfg.max_per_role is not None:
            config_items = _first_per_role(config_items, cfg.max_per_role)
        items.extend(config_items)
        if cfg.rolegpt and (config, "rolegpt_baseline") in shards:
            rows = _rows(folder, config, "rolegpt_baseline")
            baseline.extend(match_baseline(config_items, rows))
        else:
            without.append(config)
            baseline.extend([None] * len(config_items))
    notes: list[str] = []
    cards = _cards(folder, items, notes)
    have = len(without) < len({item.config for item in items}) and cfg.rolegpt
    return EvalData(items, baseline if have else None, cards, notes, without if have else [])


def _first_per_role(items: list[EvalItem], limit: int) -> list[EvalItem]:
    seen: dict[str, int] = defaultdict(int)
    kept = []
    for item in items:
        if seen[item.role] < limit:
            seen[item.role] += 1
            kept.append(item)
    return kept


def data_notes(data: EvalData, cfg: EvaluateConfig) -> list[str]:
    """What the reader must know about the rows: RAW skipped, baseline gaps, limits."""
    notes = list(data.notes)
    general = [i for i in data.items if i.kind == "general"]
    no_raw = sum(not i.raw_reference.strip() for i in general)
    if no_raw:
        notes.append(
            f"RAW skipped for {no_raw} of {len(general)} general rows: their `reference` "
            "(the instruction's original answer) is empty, as in an import of the original "
            "release."
        )
    if data.baseline is not None:
        pairs = [
            (item, b)
            for item, b in zip(data.items, data.baseline, strict=True)
            if item.config not in data.without_baseline
        ]
        missing = sum(b is None for _, b in pairs)
        if missing:
            notes.append(
                f"{BASELINE}: {missing} of {len(pairs)} test rows have no rolegpt_baseline "
                f"answer (matched by role + question); they are left out of {BASELINE}'s scores."
            )
        if data.without_baseline:
            notes.append(
                f"{BASELINE}: no rolegpt_baseline split for " + ", ".join(data.without_baseline)
            )
    if cfg.max_per_role is not None:
        notes.append(f"At most {cfg.max_per_role} test rows per role and config (max_per_role).")
    return notes


# --- systems and generation --------------------------------------------------------------


@dataclass(frozen=True)
class ModelSystem:
    name: str
    engine: EngineConfig
    label: str


def training_summary(adapter: str | None) -> dict[str, Any] | None:
    """The training_summary.json written beside the adapter by `rolellm train`, if any."""
    if not adapter:
        return None
    for path in (Path(adapter).parent / "training_summary.json", Path(adapter) / "summary.json"):
        if path.is_file():
            try:
                summary = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            return summary if isinstance(summary, dict) else None
    return None


def _trained_setting(adapter: str | None, name: str) -> Any:
    summary = training_summary(adapter) or {}
    return (summary.get("hyperparameters") or {}).get(name)


def resolve_template(cfg: EvaluateConfig, train_template: str | None = None) -> tuple[str, str]:
    """(template, where it came from): this section, the adapter's training, train, default."""
    if cfg.system_prompt_template is not None:
        return cfg.system_prompt_template, "evaluate.system_prompt_template"
    trained = _trained_setting(cfg.adapter, "system_prompt_template")
    if isinstance(trained, str) and trained.strip():
        return trained, "the adapter's training_summary.json"
    if train_template is not None:
        return train_template, "train.system_prompt_template"
    return DEFAULT_SYSTEM_PROMPT_TEMPLATE, "the default of training.prompts"


def resolve_model(cfg: EvaluateConfig) -> str:
    if cfg.model:
        return cfg.model
    trained = _trained_setting(cfg.adapter, "base_model")
    if isinstance(trained, str) and trained:
        return trained
    config = Path(cfg.adapter or "") / "adapter_config.json"
    if cfg.adapter and config.is_file():
        base = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path")
        if base:
            return str(base)
    raise ConfigError("evaluate.model: name the model to evaluate (a folder or a Hub id)")


def _check_adapter(adapter: str) -> None:
    path = Path(adapter).expanduser()
    hub_like = adapter.count("/") == 1 and not adapter.startswith((".", "/", "~"))
    if not path.is_dir() and not (hub_like and not Path(adapter.split("/")[0]).is_dir()):
        raise InputError(
            f"evaluate.adapter: adapter folder {adapter!r} not found "
            "(run `rolellm train` first, or set the adapter to null)"
        )


def _check_model(model: str) -> None:
    """A local-looking model that is not a folder fails here, before any cache is opened
    (the same rule as the local backend's loader, which would fail later)."""
    path = Path(model).expanduser()
    looks_local = model.startswith((".", "/", "~")) or path.exists() or model.count("/") != 1
    if looks_local and not path.is_dir():
        raise InputError(f"evaluate.model: model folder {model!r} not found")


def model_systems(cfg: EvaluateConfig, engine: EngineConfig) -> list[ModelSystem]:
    """The systems that generate: rocit and base (with an adapter), or one model."""
    if cfg.adapter and engine.backend == "openai":
        raise ConfigError("evaluate.adapter: adapters need the local backend")
    if cfg.adapter:
        _check_adapter(cfg.adapter)
    model = resolve_model(cfg)
    if engine.backend == "local":
        _check_model(model)
    if engine.backend == "openai":
        served = engine.model_copy(
            update={"openai": engine.openai.model_copy(update={"model": model})}
        )
        return [ModelSystem("model", served, f"{model} at {engine.openai.base_url}")]
    local = engine.local.model_copy(
        update={"model": model, "revision": cfg.revision, "adapter": None}
    )
    plain = engine.model_copy(update={"backend": "local", "local": local})
    if not cfg.adapter:
        return [ModelSystem("model", plain, model)]
    tuned_local = local.model_copy(update={"adapter": cfg.adapter})
    tuned = engine.model_copy(update={"backend": "local", "local": tuned_local})
    systems = [ModelSystem("rocit", tuned, f"{model} + adapter {cfg.adapter}")]
    if cfg.compare_base:
        systems.append(ModelSystem("base", plain, model))
    return systems


@dataclass
class Answers:
    texts: list[str | None]  # None: generation failed
    errors: list[str]


def requests_for(
    data: EvalData, template: str, cfg: EvaluateConfig
) -> tuple[list[ChatRequest], list[int]]:
    """Unique requests (repeated role + question asked once) and each item's request index."""
    sampling = Sampling(temperature=0.0, top_p=1.0, max_new_tokens=cfg.max_new_tokens)
    unique: dict[tuple, ChatRequest] = {}
    index: list[int] = []
    positions: dict[tuple, int] = {}
    for item, card in zip(data.items, data.cards, strict=True):
        messages = build_messages(card, item.question, template)
        key = tuple((m["role"], m["content"]) for m in messages)
        if key not in positions:
            positions[key] = len(unique)
            unique[key] = ChatRequest.of(messages, sampling=sampling, seed=cfg.seed)
        index.append(positions[key])
    return list(unique.values()), index


def generate(system: ModelSystem, requests: list[ChatRequest], index: list[int], stage: str):
    """Answers of one system to every item (via the cached, batched engine)."""
    from rolellm.engine.engine import build_engine

    engine = build_engine(system.engine, stage)
    try:
        results = engine.generate(requests)
        engine.cache.create()  # a declared DVC output
    finally:
        engine.close()
    texts = [r.texts[0].strip() if r.ok and r.texts else None for r in results]
    errors = [e for r in results for e in r.errors]
    return Answers([texts[i] for i in index], errors)


# --- judge -------------------------------------------------------------------------------


def judge_groups(
    data: EvalData, answers: dict[str, Answers], cfg: JudgeConfig
) -> dict[tuple[str, str], list[JudgeItem]]:
    """(setting, system) -> items with a baseline answer; a failed or empty answer is
    judged as an empty answer (as Rouge-L scores it 0), so failures cannot raise a win rate."""
    groups: dict[tuple[str, str], list[JudgeItem]] = defaultdict(list)
    if data.baseline is None:
        return groups
    names = cfg.systems if cfg.systems is not None else tuple(answers)
    for name in names:
        if name not in answers:
            raise ConfigError(f"evaluate.judge.systems: no system {name!r} in this run")
        rows = zip(data.items, data.cards, answers[name].texts, data.baseline, strict=True)
        for item, card, answer, base in rows:
            if base:
                judged = JudgeItem(card.name, card.description, item.question, answer or "", base)
                groups[(item.setting, name)].append(judged)
    return groups


def run_judge(
    data: EvalData, answers: dict[str, Answers], cfg: JudgeConfig, cache_dir: str
) -> dict[tuple[str, str], JudgeResult]:
    from rolellm.engine.engine import build_engine

    engine_cfg = EngineConfig(
        backend="openai", openai=cfg.openai, json_retries=cfg.json_retries, cache_dir=cache_dir
    )
    engine = build_engine(engine_cfg, cfg.cache_stage)
    try:
        return {
            key: judge_items(sample_items(items, cfg.max_items, cfg.seed), engine, cfg)
            for key, items in judge_groups(data, answers, cfg).items()
        }
    finally:
        engine.close()


# --- outputs -----------------------------------------------------------------------------


def prediction_rows(items: list[EvalItem], texts: list[str | None]) -> dict[str, list[dict]]:
    """Per config, the release's row format; rows without an answer are left out."""
    out: dict[str, list[dict]] = defaultdict(list)
    for item, text in zip(items, texts, strict=True):
        if text is None:
            continue
        row: dict[str, Any] = {"role": item.role, "question": item.question, "generated": [text]}
        if item.kind == "role_specific" and item.type:
            row["type"] = item.type
        out[item.config].append(row)
    return out


def write_predictions(folder: Path, per_system: dict[str, list[str | None]], items) -> None:
    with atomic_path(folder) as tmp:
        for system, texts in per_system.items():
            for config, rows in prediction_rows(items, texts).items():
                path = tmp / system / f"{config}.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in rows]
                path.write_text("".join(lines), encoding="utf-8")


@dataclass
class EvalResult:
    metrics: dict[str, Any]
    notes: list[str]
    paths: EvalPaths
    systems: list[str]

    def lines(self) -> list[str]:
        out = []
        for setting, systems in self.metrics.items():
            for system, views in systems.items():
                shown = " ".join(f"{k}={v:.4f}" for k, v in views.items() if isinstance(v, float))
                judged = views.get("judge") or {}
                if judged.get("win_rate") is not None:
                    shown += f" judge_win_rate={judged['win_rate']:.3f} (n={judged['n']})"
                out.append(f"{setting} {system}: {shown}")
        return out + [f"note: {n}" for n in self.notes]


def run_evaluate(
    cfg: EvaluateConfig,
    engine: EngineConfig,
    paths: EvalPaths,
    *,
    train_template: str | None = None,
) -> EvalResult:
    """Generate, score, judge (when enabled) and write every output; see the module doc."""
    from training.eval_report import ReportInputs, write_report

    data = load_eval_data(paths.data, cfg)
    template, template_source = resolve_template(cfg, train_template)
    systems = model_systems(cfg, engine)
    requests, index = requests_for(data, template, cfg)
    answers = {s.name: generate(s, requests, index, cfg.cache_stage) for s in systems}
    notes = data_notes(data, cfg) + _failure_notes(answers)
    predictions = all_predictions(data, answers)
    summary = score_all(data.items, predictions, cfg.rouge)
    judged = run_judge(data, answers, cfg.judge, engine.cache_dir) if cfg.judge.enabled else {}
    metrics = build_metrics(summary, judged)
    write_json(paths.metrics, metrics)
    write_predictions(paths.predictions, predictions, data.items)
    inputs = ReportInputs(
        summary=summary,
        judged=judged,
        notes=notes,
        labels={s.name: s.label for s in systems} | {BASELINE: "rolegpt_baseline rows"},
        data=str(paths.data),
        split=cfg.split,
        rouge=cfg.rouge,
        max_new_tokens=cfg.max_new_tokens,
        template_source=template_source,
        judge=cfg.judge if cfg.judge.enabled else None,
    )
    write_report(inputs, paths)
    return EvalResult(metrics, notes, paths, summary.systems)


def all_predictions(data: EvalData, answers: dict[str, Answers]) -> dict[str, list[str | None]]:
    """Each system's answer per item. A failed generation is an empty answer (scored 0);
    the baseline's None (no rolegpt_baseline row) is not scored."""
    out: dict[str, list[str | None]] = {
        name: [t or "" for t in a.texts] for name, a in answers.items()
    }
    if data.baseline is not None:
        out[BASELINE] = data.baseline
    return out


def score_all(
    items: list[EvalItem], predictions: dict[str, list[str | None]], rouge: RougeSettings
) -> Summary:
    scorers = ScorerSet(rouge)
    scored = [
        row
        for name, texts in predictions.items()
        for row in score_system(name, items, texts, scorers)
    ]
    return summarise(scored, SYSTEM_ORDER)


def build_metrics(summary: Summary, judged: dict[tuple[str, str], JudgeResult]) -> dict[str, Any]:
    """The DVC metrics: views per setting and system, RoCIT − base, judge win rates."""
    metrics = summary.metrics()
    for row in compare(summary, "rocit", "base"):
        delta = metrics[row["setting"]].setdefault("rocit_minus_base", {})
        delta[row["view"]] = round(row["delta"], 6)
    for (setting, system), result in judged.items():
        metrics.setdefault(setting, {}).setdefault(system, {})["judge"] = _judge_metrics(result)
    return metrics


def _judge_metrics(result: JudgeResult) -> dict[str, Any]:
    keys = ("win_rate", "ci_low", "ci_high", "n")
    return {k: v for k, v in result.to_dict().items() if k in keys}


def _failure_notes(answers: dict[str, Answers]) -> list[str]:
    notes = []
    for name, a in answers.items():
        failed = sum(t is None for t in a.texts)
        if failed:
            first = a.errors[0] if a.errors else "unknown error"
            notes.append(
                f"{name}: generation failed for {failed} of {len(a.texts)} rows (scored as "
                f"empty answers, i.e. 0); first error: {first}"
            )
    return notes
