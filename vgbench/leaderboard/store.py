"""Finding, reading and writing the leaderboard folder.

The folder holds ``_sources.toml`` (papers and protocols), one ``<benchmark>.toml`` per benchmark with the
published rows, and ``measured/<benchmark>.toml`` with rows measured by vgbench. Default location: the
repository's ``leaderboards/`` next to the ``vgbench`` package, else the copy bundled in a wheel
(``vgbench/_bundled/leaderboards``); ``VGBENCH_LEADERBOARDS`` or an explicit path overrides both.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..utils import atomic_write
from .errors import LeaderboardError
from .schema import MEASURED_DIR, SOURCES_FILE, Benchmark, Paper, Protocol, Row
from .validate import LineIndex, Problems, parse_benchmark, parse_measured, parse_sources

ENV_VAR = "VGBENCH_LEADERBOARDS"


def bundled_leaderboard_dir() -> Path:
    import vgbench

    return Path(vgbench.__file__).resolve().parent / "_bundled" / "leaderboards"


def default_leaderboard_dir() -> Path:
    """``$VGBENCH_LEADERBOARDS``, else the repository's ``leaderboards/``, else the bundled copy."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    import vgbench

    repo = Path(vgbench.__file__).resolve().parent.parent / "leaderboards"
    if repo.is_dir():
        return repo
    return bundled_leaderboard_dir()


def _read_toml(path: Path) -> tuple[dict, LineIndex]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise LeaderboardError(f"cannot read: {e.strerror or e}", path) from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        line = int(m.group(1)) if m else None
        raise LeaderboardError(f"invalid TOML: {e}", path, line) from e
    return data, LineIndex(text)


@dataclass
class Leaderboards:
    """Everything in one leaderboard folder, validated."""

    root: Path
    papers: dict[str, Paper]
    protocols: dict[str, Protocol]
    benchmarks: dict[str, Benchmark] = field(default_factory=dict)

    def resolve(self, name: str) -> Benchmark:
        """A benchmark by id, alias or dataset name (case-insensitive); a clear error when unknown/ambiguous."""
        key = name.strip().lower()
        if key in self.benchmarks:
            return self.benchmarks[key]
        norm = _norm(key)
        hits = [b for b in self.benchmarks.values() if norm in {_norm(a) for a in b.aliases} or norm == _norm(b.id)]
        if not hits:
            hits = [b for b in self.benchmarks.values() if _norm(b.dataset) == norm]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise LeaderboardError(f"{name!r} matches several benchmarks ({', '.join(b.id for b in hits)}); "
                                   "pass --benchmark with one of them")
        raise LeaderboardError(f"unknown benchmark {name!r}; known: {', '.join(sorted(self.benchmarks))} "
                               f"(in {self.root})")

    def rows(self) -> list[Row]:
        return [r for b in self.benchmarks.values() for r in b.all_rows()]


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def load_leaderboards(root: str | Path | None = None) -> Leaderboards:
    """Read and validate every file; raises :class:`LeaderboardError` naming each bad file and line."""
    root = Path(root) if root is not None else default_leaderboard_dir()
    if not root.is_dir():
        raise LeaderboardError(f"leaderboard folder not found: {root} (pass --leaderboard-dir or set {ENV_VAR})")
    problems = Problems()
    src_path = root / SOURCES_FILE
    if not src_path.is_file():
        raise LeaderboardError(f"missing {SOURCES_FILE} (papers and protocols)", root)
    data, idx = _read_toml(src_path)
    papers, protocols = parse_sources(data, src_path, idx, problems)
    data_order = data.get("benchmark_order", [])
    if not isinstance(data_order, list) or not all(isinstance(x, str) for x in data_order):
        problems.add("'benchmark_order' must be a list of benchmark ids", src_path, idx.key_line("benchmark_order"))
        data_order = []
    lb = Leaderboards(root, papers, protocols)
    for path in sorted(root.glob("*.toml")):
        if path.name == SOURCES_FILE:
            continue
        data, idx = _read_toml(path)
        bench = parse_benchmark(data, path, idx, papers, protocols, problems)
        if bench is not None:
            lb.benchmarks[bench.id] = bench
    mdir = root / MEASURED_DIR
    if mdir.is_dir():
        for path in sorted(mdir.glob("*.toml")):
            bench = lb.benchmarks.get(path.stem)
            if bench is None:
                problems.add(f"measured file for unknown benchmark {path.stem!r} (no {path.stem}.toml)", path)
                continue
            data, idx = _read_toml(path)
            bench.measured = parse_measured(data, path, idx, bench, problems)
    problems.raise_if_any()
    order = [b for b in data_order if b in lb.benchmarks]
    order += sorted(set(lb.benchmarks) - set(order))
    lb.benchmarks = {b: lb.benchmarks[b] for b in order}
    return lb


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (vgbench's one atomic writer)."""
    with atomic_write(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
