"""``vgbench compare A.jsonl B.jsonl`` (``vgbench.compare``): are two results different, and may they be compared?

For every protocol both records measured, :func:`compare` first checks that the two numbers were made the same way
and refuses (:class:`CompareError`, naming the field) when they were not: the protocol's parameters
(``protocol.params_sha256``), the detector weights (``detector.sha256``), the real set (its listing's content hash,
else the digest of its statistics ``stats_sha256``) and the number of real samples. It warns, naming the field,
about what keeps the comparison possible but weaker: different fake counts or fewer than the protocol asks for (a
Fréchet distance is biased upward at small N, by different amounts for different models), sets that are not
protocol-complete, real sets it cannot verify, real statistics that differ although the videos are the same.

Then it says whether the values differ given their ``ci95`` intervals: the difference A - B with the 95% interval
``± 1.96 √(sd_A² + sd_B²)``, each sd read from its interval's width (half-width / 1.96). The two intervals are
treated as independent: where the real set is shared its resampling noise is common to both values, so this is
conservative (a paired bootstrap would need both fake sets' per-video features, which records do not hold).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from .errors import VgbenchError

__all__ = ["CompareError", "load_record", "compare", "format_report"]

Z95 = 1.959963984540054


class CompareError(VgbenchError, ValueError):
    """Two results that cannot be compared, or a file that holds no result record."""


def load_record(path: str | Path, line: int = -1) -> dict:
    """Record number ``line`` (1-based; negative counts from the end, -1: the last) of a ``--out`` JSON-lines file."""
    path = Path(path)
    try:
        lines = [(i, s) for i, s in enumerate(path.read_text().splitlines(), 1) if s.strip()]
    except OSError as e:
        raise CompareError(f"{path}: cannot read: {e.strerror or e}") from e
    if not lines:
        raise CompareError(f"{path}: holds no result record")
    try:
        number, text = lines[line - 1 if line > 0 else line]
    except IndexError:
        raise CompareError(f"{path}: has {len(lines)} records, there is no record {line}") from None
    try:
        rec = json.loads(text)
    except ValueError as e:
        raise CompareError(f"{path}, line {number}: not JSON: {e}") from e
    if not isinstance(rec, dict) or not str(rec.get("schema", "")).startswith("vgbench.result/") or \
            not isinstance(rec.get("metrics"), dict):
        raise CompareError(f"{path}, line {number}: not a vgbench result record (no schema vgbench.result/... "
                           f"with metrics)")
    return rec


def _get(entry: dict, dotted: str):
    for key in dotted.split("."):
        if not isinstance(entry, dict):
            return None
        entry = entry.get(key)
    return entry


def _real(entry: dict) -> dict:
    return entry.get("real_stats") or entry.get("real") or {}


def _wanted_fake(entry: dict) -> int | None:
    """How many fake samples the entry's protocol asks for (videos, or frames for FID)."""
    if entry.get("counts", {}).get("unit") == "frames":
        return _get(entry, "counts.fake.frames_required")
    return _get(entry, "protocol.params.fake.num_videos")


def _checks(name: str, a: dict, b: dict) -> tuple[list[str], list[str]]:
    """(refusals, warnings) for protocol ``name``, each naming the field that differs."""
    refuse, warn = [], []

    def differs(field: str, va, vb) -> str:
        return f"{name}: {field} differs: A {va}, B {vb}"

    for field, what in (("protocol.params_sha256", "the protocols' parameters differ"),
                        ("detector.sha256", "the detector weights differ")):
        va, vb = _get(a, field), _get(b, field)
        if va != vb:
            refuse.append(differs(field, va, vb) + f" ({what})")
    ra, rb = _real(a), _real(b)
    ha, hb = ra.get("source_content_hash"), rb.get("source_content_hash")
    sa, sb = ra.get("stats_sha256"), rb.get("stats_sha256")
    if ha and hb and ha != hb:
        refuse.append(differs("real.source_content_hash", ha, hb) + " (different real videos)")
    elif sa and sb and sa != sb:
        if ha and hb:  # the same videos, other statistics: another device, precision or vgbench version
            warn.append(differs("real.stats_sha256", sa, sb) + " (the same real videos gave other statistics: "
                                "another device or version; the difference includes that)")
        else:
            refuse.append(differs("real.stats_sha256", sa, sb) + " (different real statistics)")
    elif not ((ha and hb) or (sa and sb)):
        warn.append(f"{name}: the real set cannot be verified (no content hash or statistics digest in "
                    f"{'A' if not (ha or sa) else 'B'})")
    va, vb = _get(a, "counts.real_used"), _get(b, "counts.real_used")
    if va != vb:
        refuse.append(differs("counts.real_used", va, vb))
    fa, fb = _get(a, "counts.fake_used"), _get(b, "counts.fake_used")
    if fa != fb:
        warn.append(differs("counts.fake_used", fa, fb) + " (Fréchet distances are biased upward at small N, by "
                    "different amounts for different models; compare the extrapolated N→∞ values too)")
    for label, e, n in (("A", a, fa), ("B", b, fb)):
        wanted = _wanted_fake(e)
        if wanted and n is not None and n < wanted:
            warn.append(f"{name}: {label} was computed at N = {n} (counts.fake_used), below the protocol's {wanted}")
        elif e.get("protocol_complete") is False:
            warn.append(f"{name}: {label} is not protocol-complete (protocol_complete: false)")
    return refuse, warn


def _difference(a: dict, b: dict) -> dict:
    """A - B with its 95% interval from the two ``ci95`` entries (independent), and the verdict."""
    out = {"difference": None if a.get("value") is None or b.get("value") is None else a["value"] - b["value"]}
    missing = [f"{label}: {(e.get('ci95') or {}).get('unavailable', 'no ci95 in the record')}"
               for label, e in (("A", a), ("B", b)) if "low" not in (e.get("ci95") or {})]
    if out["difference"] is None or missing:
        out.update(interval=None, verdict="unknown", reason="; ".join(missing) or "a value is missing")
        return out
    sd = [(e["ci95"]["high"] - e["ci95"]["low"]) / (2 * Z95) for e in (a, b)]
    half = Z95 * math.hypot(*sd)
    d = out["difference"]
    out["interval"] = [d - half, d + half]
    out["verdict"] = "different" if abs(d) > half else "not distinguishable"
    out["method"] = "A - B +/- 1.96 sqrt(sd_A^2 + sd_B^2), sd = ci95 half-width / 1.96 (unpaired: conservative)"
    ea, eb = _get(a, "extrapolated.value"), _get(b, "extrapolated.value")
    if ea is not None and eb is not None:
        out["extrapolated_difference"] = ea - eb
    return out


def compare(a, b, *, line_a: int = -1, line_b: int = -1, force: bool = False) -> dict:
    """Compare result records ``a`` and ``b`` (dicts, or paths of ``--out`` files: record ``line_a``/``line_b``,
    the last by default) protocol by protocol. Raises :class:`CompareError` naming every field that makes a
    shared protocol incomparable, unless ``force`` (they are then reported as warnings)."""
    if not isinstance(a, dict):
        a = load_record(a, line_a)
    if not isinstance(b, dict):
        b = load_record(b, line_b)
    shared = [p for p in a["metrics"] if p in b["metrics"]]
    if not shared:
        raise CompareError(f"no protocol in common: A has {sorted(a['metrics'])}, B has {sorted(b['metrics'])}")
    report = {"protocols": {}, "only_in_a": sorted(set(a["metrics"]) - set(shared)),
              "only_in_b": sorted(set(b["metrics"]) - set(shared))}
    refusals = []
    for name in shared:
        ea, eb = a["metrics"][name], b["metrics"][name]
        refuse, warn = _checks(name, ea, eb)
        refusals += refuse
        row = {"a": {k: ea.get(k) for k in ("value", "ci95", "extrapolated")},
               "b": {k: eb.get(k) for k in ("value", "ci95", "extrapolated")},
               "refused": refuse, "warnings": warn + (refuse if force else [])}
        row.update(_difference(ea, eb))
        if refuse:
            row["verdict"] = "not comparable"
        report["protocols"][name] = row
    if refusals and not force:
        raise CompareError("the results are not comparable: " + "; ".join(refusals) +
                           " (force=True / --force to compare anyway)")
    return report


def _fmt(x, spec=".4g") -> str:
    return "n/a" if x is None else format(x, spec)


def format_report(report: dict) -> str:
    """The report as text, one block per protocol."""
    lines = []
    for name, r in report["protocols"].items():
        def side(s):
            ci = s.get("ci95") or {}
            interval = f" [{_fmt(ci['low'])}, {_fmt(ci['high'])}]" if "low" in ci else " (no interval)"
            ext = (s.get("extrapolated") or {}).get("value")
            return _fmt(s["value"]) + interval + (f", N→∞ {_fmt(ext)}" if ext is not None else "")

        lines.append(f"{name}: A {side(r['a'])}; B {side(r['b'])}")
        if r.get("interval"):
            lo, hi = r["interval"]
            lines.append(f"  A - B = {_fmt(r['difference'], '+.4g')} [{_fmt(lo, '+.4g')}, {_fmt(hi, '+.4g')}]: "
                         f"{r['verdict']}")
        else:
            lines.append(f"  A - B = {_fmt(r['difference'], '+.4g')}: {r['verdict']}"
                         + (f" ({r['reason']})" if r.get("reason") else ""))
        if "extrapolated_difference" in r:
            lines.append(f"  N→∞: A - B = {_fmt(r['extrapolated_difference'], '+.4g')}")
        lines += [f"  warning: {w}" for w in r["warnings"]]
    for label, key in (("A", "only_in_a"), ("B", "only_in_b")):
        if report[key]:
            lines.append(f"only in {label}: {', '.join(report[key])}")
    return "\n".join(lines)
