"""The metric registry (vgbench/metrics/base.py): every kind in the lazy table registers its spec, and everything
other parts read from the specs (--metrics aliases, the standalone API, protocol checks, leaderboard columns)
agrees with the shipped protocols and the leaderboard's columns."""
import pytest

import vgbench
from vgbench.leaderboard.metrics import COLUMNS, metric_for_record_key
from vgbench.metrics import base
from vgbench.protocols import ProtocolError, list_protocols, load_protocol


@pytest.mark.parametrize("kind", base.metric_kinds())
def test_each_kind_registers_its_own_spec(kind):
    spec = base.metric_spec(kind)
    assert spec.kind == kind and callable(spec.compute)
    assert spec.required, f"{kind}: a metric names the protocol sections it needs"


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ProtocolError, match="no metric of kind .nope.; known: action, fid, fvd"):
        base.metric_spec("nope")


def test_every_shipped_protocol_has_a_registered_kind_and_meets_its_required_sections():
    for name in list_protocols():
        p = load_protocol(name)
        spec = base.metric_spec(p.metric)
        for section, keys in spec.required.items():
            assert section in p.params, (name, section)
            assert set(keys) <= set(p.params[section]), (name, section)


def test_aliases_name_shipped_protocols_of_the_same_kind():
    aliases = base.metric_aliases()
    assert aliases["fvd"] == "fvd16" and aliases["is"] == "is_ucf101"
    for alias, name in aliases.items():
        kind = next(k for k in base.metric_kinds() if alias in base.metric_spec(k).aliases)
        assert load_protocol(name).metric == kind, alias
    assert base.resolve_metric_name("fvd") == "fvd16"
    assert base.resolve_metric_name("fvd128_tf") == "fvd128_tf"  # protocol names pass unchanged


def test_the_standalone_api_is_the_specs_api():
    api = base.metric_api()
    assert {"fvd", "fid", "inception_score", "identity", "lia"} <= set(api)
    for name, fn in api.items():
        assert getattr(vgbench, name) is fn, name


def test_leaderboard_columns_come_from_the_specs():
    column_less = set()
    for name in list_protocols():
        spec = base.metric_spec(load_protocol(name).metric)
        if name in spec.columns:
            col = COLUMNS[spec.columns[name]]
            assert col.ingestible and metric_for_record_key(name, name) is col, name
        else:
            column_less.add(name)
            assert metric_for_record_key(name, name) is None, name
    # the TF1-resize variants are measured to differ from the published protocol: never filed under its column;
    # fvd32/fvd64 (the FVD-over-length curve): fvd32 has no published column, and vgbench's fvd64 is not CTSVG's
    # FVD64 protocol (the published FVD64 column), so it is never filed under it
    assert column_less == {"fvd16_tf", "fvd128_tf", "fvd32", "fvd64"}
    for kind in base.metric_kinds():
        for protocol_name in base.metric_spec(kind).columns:
            assert load_protocol(protocol_name).metric == kind
    # names from other tools' records still map through the columns' aliases
    assert metric_for_record_key("fvd2048_16f").key == "fvd16" and metric_for_record_key("isv2048_ucf").key == "is"


TOY_MODULE = '''
"""A toy metric: the mean pixel value of the first frame of each fake video, averaged."""
import numpy as np

from vgbench.metrics.base import MetricResult, MetricSpec, register_metric
from vgbench.provenance import make_record


def _compute(ctx):
    n = ctx.num_fake or ctx.protocol["fake"]["num_videos"]
    means = [float(v[0].mean()) for v in ctx.adapter.iter_videos(n, 1, seed=ctx.seed)]
    return {"value": float(np.mean(means)), "counts": {"fake_used": len(means)},
            "protocol": ctx.protocol.provenance()}


def toy_mean(videos):
    return float(np.mean([v[0].mean() for v in videos]))


register_metric(MetricSpec(kind="toy", compute=_compute, required={"fake": ["num_videos"]},
                           aliases={"toymean": "toy_mean"}, api={"toy_mean": "toy_mean"}))
'''


def test_a_new_metric_is_one_module_one_protocol_and_one_table_line(tmp_path, monkeypatch):
    """What docs/architecture.md promises: the module, the protocol file and the line in METRIC_MODULES are all
    `vgbench eval` and the API need."""
    import numpy as np

    from vgbench.evaluate import evaluate

    (tmp_path / "toy_metric_module.py").write_text(TOY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(base.METRIC_MODULES, "toy", "toy_metric_module")  # the one line
    monkeypatch.delitem(base._SPECS, "toy", raising=False)
    proto = tmp_path / "toy_mean.toml"
    proto.write_text('name = "toy_mean"\nversion = "1.0.0"\nmetric = "toy"\n[fake]\nnum_videos = 3\n')
    videos = np.random.default_rng(0).integers(0, 256, (3, 4, 8, 8, 3), dtype=np.uint8)
    np.save(tmp_path / "gen.npy", videos)
    try:
        rec = evaluate("folder", str(tmp_path / "gen.npy"), "tiny", metrics=[str(proto)], progress=False)
        entry = rec["metrics"][str(proto)]  # keyed by the name as given on --metrics
        assert entry["value"] == pytest.approx(videos[:, 0].reshape(3, -1).mean(axis=1).mean(), abs=1e-9)
        assert entry["counts"] == {"fake_used": 3} and entry["protocol"]["name"] == "toy_mean"
        assert base.metric_api()["toy_mean"]([v for v in videos]) == pytest.approx(entry["value"])
        # a protocol of the new kind missing a section its spec requires is refused on load
        bad = tmp_path / "toy_bad.toml"
        bad.write_text('name = "toy_bad"\nversion = "1"\nmetric = "toy"\n')
        with pytest.raises(ProtocolError, match=r"toy_bad.toml: missing section \[fake\]"):
            load_protocol(bad)
    finally:
        base._SPECS.pop("toy", None)


@pytest.mark.parametrize("fn, wrong, what", [("fvd", "fid_video", "an FVD"), ("fid", "fvd16", "an FID")])
def test_standalone_functions_refuse_another_metrics_protocol(fn, wrong, what):
    args = ("builtin:tiny", "builtin:tiny")
    with pytest.raises(ProtocolError, match=f"protocol {wrong} is a '.*' protocol, not {what} one"):
        getattr(vgbench, fn)(*args, wrong)
    with pytest.raises(ProtocolError, match="not an IS one"):
        vgbench.inception_score("builtin:tiny", "fvd16")
