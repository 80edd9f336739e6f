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
    with pytest.raises(ProtocolError, match="no metric of kind 'nope'; known: fid, fvd"):
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
    # the TF1-resize variants are measured to differ from the published protocol: never filed under its column
    assert column_less == {"fvd16_tf", "fvd128_tf"}
    for kind in base.metric_kinds():
        for protocol_name in base.metric_spec(kind).columns:
            assert load_protocol(protocol_name).metric == kind
    # names from other tools' records still map through the columns' aliases
    assert metric_for_record_key("fvd2048_16f").key == "fvd16" and metric_for_record_key("isv2048_ucf").key == "is"
