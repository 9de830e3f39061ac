"""The records passed between stages, each with one reader and one writer.

- `roles.json`, the roster: a JSON list of role entries. The profiles stage writes it into
  data/profiles/, assemble copies it into every RoleBench folder, training and chat read it
  from the adapter folder. Every entry has `name`, `slug`, `lang` (en | zh) and `held_out`;
  a persona adds `description` and `catchphrases`; any other key (`source_script`,
  `lines`, ...) is kept as it is.
- `pool.jsonl`, the general instruction pool: one `PoolRow` a line {id, lang, kind,
  instruction, answer, split}. The instructions stage writes it (`write_pool`), RoleGPT
  reads it (`read_pool`); the role-specific baseline builds its test questions as PoolRows.
- JSON files written by one stage and read by another (metrics, reports, summaries): read
  with `read_json`, which turns a missing or broken file into one line naming it.

A role's slug is its file name everywhere (profiles, roster, chat look-up), made by one rule:
`role_slug`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rolellm.atomic import write_json, write_jsonl
from rolellm.errors import InputError

ROLES_FILE = "roles.json"
LANGS = ("en", "zh")
_FORBIDDEN_IN_NAMES = ("/", "\\", "\x00")
_CORE_KEYS = ("name", "slug", "lang", "held_out", "description", "catchphrases")


# ----------------------------------------------------------------------------- JSON


def read_json(path: str | Path, what: str = "file", hint: str = "") -> Any:
    """A JSON file's content; InputError naming the file when it is missing or not JSON.

    `what` names the file in the message, `hint` says what to do when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found{f' ({hint})' if hint else ''}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None


def read_jsonl_objects(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a user's JSONL file; InputError as
    `<file>: line <n>: <problem>` for the first line that is not UTF-8, not JSON or not an object.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, expected a .jsonl file") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror or err})") from None
    rows = []
    for number, blob in enumerate(raw.removeprefix(b"\xef\xbb\xbf").split(b"\n"), start=1):
        try:
            text = blob.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(
                f"{path}: line {number}: not valid UTF-8 (byte {err.start + 1} of the line)"
            ) from None
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}: line {number}: not valid JSON ({err.msg})") from None
        if not isinstance(obj, dict):
            raise InputError(
                f"{path}: line {number}: expected a JSON object, got {type(obj).__name__}"
            )
        rows.append((number, obj))
    return rows


# ----------------------------------------------------------------------------- names


def check_role_name(name: str) -> str:
    """A role name must be non-empty and must not read as a path (`../x`, `/etc`, `a\\b`)."""
    if not name.strip():
        raise ValueError("role name is empty")
    if any(ch in name for ch in _FORBIDDEN_IN_NAMES) or set(name.strip()) == {"."}:
        raise ValueError(
            f"role name {name!r} looks like a path; write the speaker's name (list variants "
            "under aliases)"
        )
    return name


SLUG_PATTERN = r"[^\W_A-Z]+(?:-[^\W_A-Z]+)*"  # words of letters or digits of any script


def role_slug(name: str) -> str:
    """The file-safe, readable slug of a role name.

    Lowercase words joined by `-`: `Lady Macbeth` -> `lady-macbeth`, accented Latin letters
    reduced to ASCII (`Bénédict` -> `benedict`). A name with letters that have no ASCII
    form keeps them: `老周` -> `老周`, `Dr. 王` -> `dr-王` (NFKC-normalised, so full-width
    forms read as their usual characters). InputError when the name is empty, reads as a
    path, or leaves nothing to name a file with.
    """
    try:
        check_role_name(name)
    except ValueError as err:
        raise InputError(str(err)) from None
    decomposed = unicodedata.normalize("NFKD", name)
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    if any(ch.isalnum() and not ch.isascii() for ch in kept):
        words = unicodedata.normalize("NFKC", name).lower()
    else:
        words = kept.lower()
    slug = re.sub(r"[\W_]+", "-", words).strip("-")
    if not slug:
        raise InputError(f"role name {name!r} has no letters or digits to name a file with")
    return slug


# ----------------------------------------------------------------------------- roster


@dataclass(frozen=True)
class Role:
    """One entry of roles.json."""

    name: str
    slug: str
    lang: str = "en"
    held_out: bool = False
    description: str = ""
    catchphrases: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_entry(cls, entry: object, where: str = ROLES_FILE) -> Role:
        """A roster entry as a Role; InputError naming `where` when it is malformed."""
        if not isinstance(entry, Mapping):
            raise InputError(f"{where}: each role must be an object, got {entry!r:.60}")
        name = str(entry.get("name") or "").strip()
        if not name:
            raise InputError(f"{where}: role entry without a name: {json.dumps(entry)[:80]}")
        lang = entry.get("lang") or "en"
        if lang not in LANGS:
            raise InputError(f"{where}: role {name!r}: lang must be en or zh, got {lang!r}")
        phrases = entry.get("catchphrases") or ()
        if isinstance(phrases, str):
            phrases = (phrases,)
        return cls(
            name=name,
            slug=str(entry.get("slug") or role_slug(name)),
            lang=lang,
            held_out=bool(entry.get("held_out", False)),
            description=str(entry.get("description") or "").strip(),
            catchphrases=tuple(str(p).strip() for p in phrases if str(p).strip()),
            extra={k: v for k, v in entry.items() if k not in _CORE_KEYS},
        )

    def to_entry(self) -> dict[str, Any]:
        """The roles.json entry: core keys first, then the extra keys as they came."""
        entry: dict[str, Any] = {
            "name": self.name,
            "slug": self.slug,
            "lang": self.lang,
            "held_out": self.held_out,
        }
        if self.description:
            entry["description"] = self.description
        if self.catchphrases:
            entry["catchphrases"] = list(self.catchphrases)
        return entry | dict(self.extra)


def roster_path(path: str | Path) -> Path:
    """`path` itself when it names a file, else `<path>/roles.json`."""
    path = Path(path)
    return path / ROLES_FILE if path.is_dir() or not path.suffix else path


def read_roster(path: str | Path) -> list[Role]:
    """The roles of a roles.json file (or of the folder holding one), in file order."""
    path = roster_path(path)
    entries = read_json(path, "roster")
    if not isinstance(entries, list):
        raise InputError(f"{path}: expected a list of roles")
    roles = [Role.from_entry(entry, str(path)) for entry in entries]
    _check_unique(roles, path)
    return roles


def write_roster(path: str | Path, roles: Iterable[Role | Mapping[str, Any]]) -> list[Role]:
    """Write roles.json atomically (file path or folder); entries may be Roles or mappings."""
    path = roster_path(path)
    records = [r if isinstance(r, Role) else Role.from_entry(r, str(path)) for r in roles]
    _check_unique(records, path)
    write_json(path, [role.to_entry() for role in records])
    return records


def _check_unique(roles: Sequence[Role], path: Path) -> None:
    seen: dict[str, str] = {}
    for role in roles:
        if role.slug in seen:
            raise InputError(
                f"{path}: roles {seen[role.slug]!r} and {role.name!r} share the slug {role.slug!r}"
            )
        seen[role.slug] = role.name


def find_role(roles: Iterable[Role] | Mapping[str, Role], key: str) -> Role:
    """Look a role up by display name, then by slug, then case-insensitively.

    `roles` may be a list or a {name: Role} mapping (looked up by key first: the fast path
    for one call per row)."""
    if isinstance(roles, Mapping):
        if key in roles:
            return roles[key]
        roles = roles.values()
    roles = list(roles)
    for role in roles:
        if key in (role.name, role.slug):
            return role
    folded = key.strip().casefold()
    for role in roles:
        if folded in (role.name.casefold(), role.slug.casefold()):
            return role
    raise InputError(f"unknown role {key!r} (not in roles.json)")


def select_roles(roster: Sequence[Role], wanted: Sequence[str] | None) -> list[Role]:
    """Roles named (by name or slug) in `wanted`, all when None; unknown names: InputError."""
    if wanted is None:
        return list(roster)
    known = {r.name: r for r in roster} | {r.slug: r for r in roster}
    missing = [w for w in wanted if w not in known]
    if missing:
        raise InputError(f"roles not in roles.json: {', '.join(missing)}")
    return list({known[w].slug: known[w] for w in wanted}.values())


# ----------------------------------------------------------------------------- instruction pool


class PoolRow(BaseModel):
    """One instruction of the pool; the fields in this order are the keys of a pool.jsonl line."""

    model_config = ConfigDict(frozen=True)

    id: str | int
    lang: Literal["en", "zh"]
    kind: str = ""
    instruction: Annotated[str, Field(min_length=1)]
    answer: str = ""
    split: Literal["train", "test"]


def read_pool(path: str | Path) -> list[PoolRow]:
    """The instruction pool; InputError when it is missing or a row is bad (naming its line)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: instruction pool not found")
    rows = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            rows.append(PoolRow.model_validate_json(raw))
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "row"
            raise InputError(f"{path}: line {number}: {where}: {first['msg']}") from None
    return rows


def write_pool(path: str | Path, rows: Iterable[PoolRow]) -> int:
    """Write the pool atomically, one JSON object a line; returns the number of rows."""
    return write_jsonl(path, (row.model_dump() for row in rows))


# ----------------------------------------------------------------------------- gate report


def check_validation_report(path: str | Path) -> dict[str, Any]:
    """The quality gate's report at `path` (reports/validation.json); it must say success."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: validation report missing; run the quality gate first")
    report = read_json(path, "validation report")
    if not isinstance(report, dict) or report.get("success") is not True:
        raise InputError(f"{path}: the quality gate failed (success is not true)")
    return report
