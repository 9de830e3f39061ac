"""Find things that look like credentials in a folder before anything leaves the machine.

The shapes are `rolellm.rules.SECRET_SHAPES` (Hub tokens, OpenAI keys, private keys), looked
for in the bytes of every file and in the decoded strings of every Parquet shard, whose
compressed pages would hide a token from a byte scan. A finding names the file and the
shape, never the matched text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rolellm.rules import secret_shapes

_CHUNK = 1 << 20
_OVERLAP = 256


@dataclass(frozen=True)
class Finding:
    path: str
    shape: str
    where: str = ""  # "" for raw bytes, "column <name>" inside a Parquet shard

    def line(self) -> str:
        inside = f" ({self.where})" if self.where else ""
        return f"{self.path}{inside}: looks like a {self.shape}"


def scan_bytes(data: bytes) -> list[str]:
    """The secret shapes present in ``data`` (each at most once)."""
    return secret_shapes(data)


def _scan_file(path: Path, needles: Sequence[tuple[str, bytes]] = ()) -> set[str]:
    found: set[str] = set()
    overlap = max([_OVERLAP, *(len(n) for _, n in needles)])
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            window = tail + chunk
            found.update(secret_shapes(window))
            found.update(shape for shape, needle in needles if needle and needle in window)
            tail = window[-overlap:]
    return found


def _scan_parquet(path: Path) -> Iterator[tuple[str, str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError):
        return
    for batch in parquet.iter_batches(batch_size=4096):
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            texts = _strings(column)
            if texts:
                blob = "\n".join(texts).encode("utf-8", "replace")
                for shape in scan_bytes(blob):
                    yield shape, f"column {name}"


def _strings(column) -> list[str]:
    import pyarrow as pa

    kind = column.type
    while pa.types.is_list(kind) or pa.types.is_large_list(kind):
        column = column.flatten()
        kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return [text for text in column.to_pylist() if text]
    return []


def scan_paths(
    paths: Iterable[Path],
    root: Path | None = None,
    needles: Sequence[tuple[str, bytes]] = (),
) -> list[Finding]:
    """Findings for every file under the given files/folders (sorted by path).

    ``needles``: extra (shape name, exact bytes) to look for, e.g. the token in use.
    """
    findings: list[Finding] = []
    for top in paths:
        top = Path(top)
        files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top]
        for path in files:
            label = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
            for shape in sorted(_scan_file(path, needles)):
                findings.append(Finding(label, shape))
            if path.suffix == ".parquet":
                seen = set()
                for shape, where in _scan_parquet(path):
                    if (shape, where) not in seen:
                        seen.add((shape, where))
                        findings.append(Finding(label, shape, where))
    return findings
