"""The data model of the leaderboard files: benchmarks, rows, sources, and the keys each may carry.

A *benchmark* is one dataset under one protocol family (``leaderboards/<id>.toml``). Its rows are either
*published* (transcribed from a paper, with the paper file, table and protocol as the paper states it) or
*measured* (ingested from ``vgbench eval`` records into ``leaderboards/measured/<id>.toml``, with full
provenance). The two never share a file, so an ingest can never overwrite a published number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .cells import Cell

SCHEMA_PUBLISHED = "vgbench.leaderboard/1"
SCHEMA_MEASURED = "vgbench.leaderboard-measured/1"
SCHEMA_SOURCES = "vgbench.leaderboard-sources/1"

SOURCES_FILE = "_sources.toml"
MEASURED_DIR = "measured"

#: row kinds: what a row is evidence of (the default rendering shows main, reference and measured rows)
KINDS = {
    "main": "a method in a paper's main comparison",
    "ablation": "a variant of a method (ablation study)",
    "protocol": "the same model under a different way of computing the metric (protocol sensitivity)",
    "component": "a sub-model evaluated on its own (e.g. the image generator of a two-stage method)",
    "reference": "a reference point that is not a video generator (real videos, an image GAN)",
}
DEFAULT_KINDS = ("main", "reference")

HEADER_KEYS_PUBLISHED = {"schema", "benchmark", "title", "dataset", "resolution", "protocol_family",
                         "aliases", "notes", "rows"}
HEADER_KEYS_MEASURED = {"schema", "benchmark", "rows"}

PUBLISHED_ROW_KEYS = {"method", "variant", "printed", "kind", "group", "source", "protocol",
                      "protocol_detail", "quoted_from", "notes"}
MEASURED_ROW_KEYS = {"method", "variant", "kind", "origin", "record_sha256", "created", "notes",
                     "provenance"}
SOURCE_KEYS = {"paper", "file", "table", "text"}

PAPER_KEYS = {"short", "title", "authors", "venue", "file", "missing_tables"}
PROTOCOL_KEYS = {"paper", "summary", "statement"}


@dataclass(frozen=True)
class Paper:
    key: str
    short: str
    title: str
    file: str
    authors: str = ""
    venue: str = ""
    missing_tables: tuple[str, ...] = ()


@dataclass(frozen=True)
class Protocol:
    key: str
    paper: str
    summary: str
    statement: str


@dataclass(frozen=True)
class Source:
    paper: str
    file: str
    table: str | None = None
    text: str | None = None

    def label(self, papers: dict[str, Paper]) -> str:
        short = papers[self.paper].short if self.paper in papers else self.paper
        return f"{short} Tab. {self.table}" if self.table else f"{short} text"


@dataclass
class Row:
    benchmark: str
    method: str
    kind: str
    origin: str                               # "published" or "measured"
    cells: dict[str, Cell]
    path: Path
    line: int | None
    variant: str | None = None
    printed: str | None = None
    group: str | None = None
    source: Source | None = None
    protocol: str | None = None
    protocol_detail: str | None = None
    quoted_from: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    record_sha256: str | None = None
    created: str | None = None
    provenance: dict = field(default_factory=dict)

    @property
    def display_method(self) -> str:
        return f"{self.method} ({self.variant})" if self.variant else self.method


@dataclass
class Benchmark:
    id: str
    title: str
    dataset: str
    resolution: str
    protocol_family: str
    path: Path
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    rows: list[Row] = field(default_factory=list)       # published
    measured: list[Row] = field(default_factory=list)   # measured with vgbench

    @property
    def measured_path(self) -> Path:
        return self.path.parent / MEASURED_DIR / f"{self.id}.toml"

    def all_rows(self) -> list[Row]:
        return self.rows + self.measured
