"""Turning ``vgbench eval`` result records (JSONL) into "measured with vgbench" leaderboard rows.

Each record becomes one row of ``measured/<benchmark>.toml`` carrying every metric of the record that maps
to a leaderboard column, and the full provenance: protocol name/version/params sha256 and detector
name/weights/sha256 per metric, sample counts, checkpoint sha256, vgbench version and git commit, seeds; a cell
keeps the metric's ``std`` and its ``ci95`` interval (``[low, high]``) when the record has them.
A record is identified by the sha256 of its canonical JSON, so adding the same record twice is a no-op.
All records of a file are checked before anything is written; each measured file is replaced atomically.
Published files are never opened for writing.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import LeaderboardError
from .metrics import known_record_keys, metric_for_record_key
from .schema import SCHEMA_MEASURED
from .store import Leaderboards, atomic_write_text, bundled_leaderboard_dir
from .tomlwrite import dumps_rows_file
from .validate import LineIndex, Problems, parse_measured

RECORD_SCHEMA_PREFIX = "vgbench.result/"


@dataclass
class IngestReport:
    added: dict[str, list[str]] = field(default_factory=dict)      # benchmark -> methods added
    skipped: list[str] = field(default_factory=list)                # human-readable duplicate notices
    warnings: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def record_sha256(record: dict) -> str:
    canon = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def read_records(path: Path) -> list[tuple[int, dict]]:
    """(line number, record) for each non-empty line of a JSONL file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise LeaderboardError(f"cannot read: {e.strerror or e}", path) from e
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise LeaderboardError(f"not valid JSON ({e.msg} at column {e.colno})", path, n) from e
        if not isinstance(rec, dict):
            raise LeaderboardError("a result record must be a JSON object", path, n)
        out.append((n, rec))
    if not out:
        raise LeaderboardError("no result records in file", path)
    return out


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def _canonical_method(name: str, lb: Leaderboards) -> str:
    """The published spelling of a method name when the record's name matches one (``mostgan_v`` -> MoStGAN-V)."""
    wanted = _norm(name)
    for row in lb.rows():
        if row.origin == "published" and _norm(row.method) == wanted:
            return row.method
    return name


def _drop_none(d: dict) -> dict:
    return {k: (_drop_none(v) if isinstance(v, dict) else v) for k, v in d.items() if v is not None}


def record_to_row(rec: dict, line: int, path: Path, lb: Leaderboards, method: str | None,
                  benchmark: str | None, warnings: list[str]) -> tuple[str, dict]:
    """(benchmark id, measured row dict) for one record; raises a located error when it is not acceptable."""

    def fail(msg: str):
        raise LeaderboardError(msg, path, line)

    schema = rec.get("schema")
    if not isinstance(schema, str) or not schema.startswith(RECORD_SCHEMA_PREFIX):
        fail(f"not a vgbench result record (schema {schema!r}, expected {RECORD_SCHEMA_PREFIX}N)")
    model = rec.get("model") or {}
    dataset = rec.get("dataset") or {}
    if not isinstance(model, dict) or not isinstance(dataset, dict):
        fail("'model' and 'dataset' must be objects or null")
    name = method or model.get("name")
    if not name:
        fail("the record has no model name (model is null or has no 'name'); pass --method NAME")
    bench_name = benchmark or dataset.get("name")
    if not bench_name:
        fail("the record has no dataset name (dataset is null or has no 'name'); pass --benchmark NAME")
    try:
        bench = lb.resolve(bench_name)
    except LeaderboardError as e:
        fail(e.message)
    metrics = rec.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        fail("the record has no metrics")
    env = rec.get("env") or {}
    cells: dict[str, object] = {}
    prov_metrics: dict[str, dict] = {}
    incomplete: list[str] = []
    for key, m in metrics.items():
        if not isinstance(m, dict):
            fail(f"metric {key!r} is not an object")
        protocol = m.get("protocol") or {}
        detector = m.get("detector") or {}
        column = metric_for_record_key(key, protocol.get("name") if isinstance(protocol, dict) else None)
        if column is None:
            warnings.append(f"{path}:{line}: metric {key!r} has no leaderboard column and is not ingested "
                            f"(known: {', '.join(known_record_keys())})")
            continue
        if not isinstance(protocol, dict) or not protocol.get("version"):
            fail(f"metric {key!r} has no protocol version; results without a versioned protocol cannot "
                 "join the leaderboard")
        if not isinstance(detector, dict) or not detector.get("sha256"):
            fail(f"metric {key!r} has no detector sha256; results without a pinned detector cannot join "
                 "the leaderboard")
        value = m.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            fail(f"metric {key!r} has no finite numeric 'value' (got {value!r})")
        if column.key in cells:
            fail(f"metrics {prov_metrics[column.key]['record_key']!r} and {key!r} both map to the "
                 f"{column.key!r} column")
        cell = {"value": float(value)}
        std, ci = m.get("std"), m.get("ci95") or {}
        if isinstance(std, (int, float)) and not isinstance(std, bool) and math.isfinite(std):
            cell["std"] = float(std)
        if all(isinstance(ci.get(k), (int, float)) and math.isfinite(ci[k]) for k in ("low", "high")):
            cell["ci95"] = [float(ci["low"]), float(ci["high"])]  # an unavailable interval has no low/high
        cells[column.key] = cell if len(cell) > 1 else float(value)
        counts = m.get("counts") or {}
        complete = m.get("protocol_complete")
        if complete is False:
            incomplete.append(f"{column.key} (real_used={counts.get('real_used')}, "
                              f"fake_used={counts.get('fake_used')})")
        prov_metrics[column.key] = _drop_none({
            "record_key": key,
            "protocol": protocol.get("name"),
            "protocol_version": str(protocol["version"]),
            "params_sha256": protocol.get("params_sha256"),
            "detector": detector.get("name"),
            "detector_weights": detector.get("weights"),
            "detector_sha256": detector["sha256"],
            "real_used": counts.get("real_used"),
            "fake_used": counts.get("fake_used"),
            "protocol_complete": complete if isinstance(complete, bool) else None,
        })
    if not cells:
        fail("none of the record's metrics map to a leaderboard column "
             f"({', '.join(metrics)}; known: {', '.join(known_record_keys())})")
    row: dict = {
        "method": _canonical_method(str(name), lb),
        "origin": "measured",
        "kind": "main",
        "record_sha256": record_sha256(rec),
        "created": rec.get("created"),
    }
    if incomplete:
        row["notes"] = ["protocol incomplete (fewer samples than the protocol asks for): " + "; ".join(incomplete)]
    row.update(cells)
    row["provenance"] = _drop_none({
        "record_method": model.get("name"),
        "record_dataset": dataset.get("name"),
        "checkpoint": model.get("checkpoint"),
        "checkpoint_sha256": model.get("checkpoint_sha256"),
        "vgbench": env.get("vgbench"),
        "git_commit": env.get("git_commit"),
        "python": env.get("python"),
        "ingested_from": path.name,
        "ingested_line": line,
        "seeds": rec.get("seeds") if isinstance(rec.get("seeds"), dict) else None,
        "packages": env.get("packages") if isinstance(env.get("packages"), dict) else None,
        "metrics": prov_metrics,
    })
    return bench.id, _drop_none(row)


def add_records(path: str | Path, lb: Leaderboards, method: str | None = None,
                benchmark: str | None = None) -> IngestReport:
    """Ingest a JSONL file of result records into ``lb``'s measured files (all-or-nothing)."""
    path = Path(path)
    if lb.root.resolve() == bundled_leaderboard_dir().resolve():
        raise LeaderboardError("refusing to write into the leaderboards bundled inside the installed package; "
                               "pass --leaderboard-dir (or set VGBENCH_LEADERBOARDS) to a writable copy")
    report = IngestReport()
    new_rows: dict[str, list[dict]] = {}
    for line, rec in read_records(path):
        bench_id, row = record_to_row(rec, line, path, lb, method, benchmark, report.warnings)
        new_rows.setdefault(bench_id, []).append(row)
    for bench_id, rows in new_rows.items():
        bench = lb.benchmarks[bench_id]
        mpath = bench.measured_path
        existing: list[dict] = []
        if mpath.exists():
            existing = tomllib.loads(mpath.read_text(encoding="utf-8")).get("rows", [])
        known = {r.get("record_sha256"): r.get("method") for r in existing}
        added = []
        for row in rows:
            sha = row["record_sha256"]
            if sha in known:
                report.skipped.append(f"{bench_id}: record {sha[:12]} is already present "
                                      f"(method {known[sha]!r}); not added again")
                continue
            known[sha] = row["method"]
            existing.append(row)
            added.append(row["method"])
        if not added:
            continue
        text = dumps_rows_file({"schema": SCHEMA_MEASURED, "benchmark": bench_id}, existing,
                               comment=f"Results measured with vgbench on benchmark {bench_id!r}.\n"
                                       "Written by `vgbench leaderboard add`; do not edit by hand "
                                       "(comments are not preserved).")
        _check_written(text, mpath, bench)
        atomic_write_text(mpath, text)
        report.added[bench_id] = added
        report.written.append(mpath)
    return report


def _check_written(text: str, mpath: Path, bench) -> None:
    """Re-read what is about to be written; a failure here is a bug, never a partial file."""
    problems = Problems()
    parse_measured(tomllib.loads(text), mpath, LineIndex(text), bench, problems)
    problems.raise_if_any()
