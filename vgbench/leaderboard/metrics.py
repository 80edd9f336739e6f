"""The metric columns a leaderboard row may carry (:data:`COLUMNS`): labels, better direction, formatting and
record aliases.

This registry is the single place that says which keys are metric columns in the data files, how they are
titled in rendered tables, whether lower or higher is better, and which metric names in ``vgbench eval``
result records map onto them (records may use protocol names such as ``fvd128_subsample8`` or ``is_ucf101``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MetricColumn:
    key: str
    label: str                 # plain text / markdown / html title
    latex: str                 # LaTeX title (without the arrow)
    better: str | None         # "lower", "higher" or None (no best value, no arrow)
    decimals: int              # default decimals for values without a printed literal (measured rows)
    aliases: tuple[str, ...] = field(default=())   # record metric names that map here
    allow_sum: bool = False    # cells may be printed as "X + Y" (two-stage training cost)
    per_method: bool = False   # one value per method (not per dataset): collapsed across benchmarks when equal
    ingestible: bool = True    # can come from a vgbench result record

    @property
    def arrow(self) -> str:
        return {"lower": "↓", "higher": "↑"}.get(self.better or "", "")

    @property
    def latex_arrow(self) -> str:
        return {"lower": r"$\downarrow$", "higher": r"$\uparrow$"}.get(self.better or "", "")


COLUMNS: dict[str, MetricColumn] = {m.key: m for m in [
    MetricColumn("fvd16", "FVD16", r"FVD$_{16}$", "lower", 2, ("fvd16", "fvd2048_16f")),
    MetricColumn("fvd128", "FVD128", r"FVD$_{128}$", "lower", 2, ("fvd128", "fvd2048_128f")),
    MetricColumn("fvd128_subsample8", "FVD16 (stride 8)", r"FVD$_{16}^{s=8}$", "lower", 2,
           ("fvd128_subsample8", "fvd2048_128f_subsample8f")),
    MetricColumn("fvd64", "FVD64", r"FVD$_{64}$", "lower", 2, ("fvd64",)),
    MetricColumn("fvd", "FVD (length not stated)", r"FVD$_{?}$", "lower", 2, (), ingestible=False),
    MetricColumn("fid", "FID", "FID", "lower", 2, ("fid", "fid_video", "fid_frames", "fid50k_full", "fid50k")),
    MetricColumn("is", "IS", "IS", "higher", 2, ("is", "is_ucf101", "isv2048_ucf", "inception_score")),
    MetricColumn("lia_rt", "r̄t (LiA)", r"$\bar{r}_t$ (LiA)", "higher", 3, ("lia", "lia_rt", "lia_correlation")),
    MetricColumn("arcface", "ArcFace", "ArcFace", "higher", 3, ("arcface", "identity", "arcface_identity")),
    MetricColumn("top1", "Top-1 %", r"Top-1 \%", "higher", 1, ("top1", "top1_acc", "action_top1")),
    MetricColumn("top3", "Top-3 %", r"Top-3 \%", "higher", 1, ("top3", "top3_acc", "action_top3")),
    MetricColumn("train_gpu_days", "Training cost (GPU-days)", "Training cost (GPU-days)", "lower", 2, (),
           allow_sum=True, per_method=True, ingestible=False),
    MetricColumn("train_kimg", "Training kimg", "Training kimg", "lower", 0, (), ingestible=False),
]}

COLUMN_ORDER = list(COLUMNS)


def metric_for_record_key(name: str, protocol_name: str | None = None) -> MetricColumn | None:
    """The column for a metric entry found in a result record (by key, then by its protocol name).

    A protocol vgbench ships maps to the column its metric spec names (``MetricSpec.columns``), or to none: e.g.
    ``fvd16_tf`` values are never filed under FVD16. Other names (records of older tools, papers' metric names)
    map through the columns' ``aliases``."""
    for candidate in (name, protocol_name):
        if candidate and candidate.lower() in _shipped_protocols():
            key = _spec_columns().get(candidate.lower())
            return COLUMNS[key] if key is not None else None
    for candidate in (name, protocol_name):
        if not candidate:
            continue
        low = candidate.lower()
        for m in COLUMNS.values():
            if m.ingestible and low in m.aliases:
                return m
    return None


def _shipped_protocols() -> set[str]:
    from ..protocols import list_protocols

    return set(list_protocols())


def _spec_columns() -> dict[str, str]:
    """protocol name -> column key, from the metric specs of every registered metric kind."""
    from ..metrics.base import metric_kinds, metric_spec

    return {p: c for kind in metric_kinds() for p, c in metric_spec(kind).columns.items()}


def known_record_keys() -> list[str]:
    return sorted({a for m in COLUMNS.values() if m.ingestible for a in m.aliases})
