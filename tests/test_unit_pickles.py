"""Safe unpickling: which globals a pickle may name (vgbench.safe_pickle for plain numpy data, the network-pickle
unpickler of vgbench.models.checkpoint for official snapshots), what each becomes, and the refusal of everything
else, naming the file and the global. Pickles are written opcode by opcode, so no refused code is ever imported."""
from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest
import torch

from vgbench import safe_pickle as SP
from vgbench.models import checkpoint as C
from vgbench.safe_pickle import UnsafePickleError, load_restricted


def global_pickle(module: str, name: str) -> bytes:
    """A protocol-2 pickle whose value is the global ``module.name`` itself."""
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"."


def call_pickle(module: str, name: str, arg) -> bytes:
    """A protocol-2 pickle of ``module.name(arg)``."""
    body = pickle.dumps(arg, protocol=2)[2:-1]  # without the PROTO header and the STOP
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + body + b"\x85R."


class _WithPid(pickle.Pickler):
    def persistent_id(self, obj):
        return "storage-0" if isinstance(obj, bytes) else None


def pid_pickle() -> bytes:
    buf = io.BytesIO()
    _WithPid(buf, protocol=2).dump({"x": b"data"})
    return buf.getvalue()


# ------------------------------------------------------------------------------------------- plain numpy pickles


@pytest.mark.parametrize("protocol", [3, 4])  # 2 and 5 name other globals (_codecs.encode, _frombuffer)
def test_numpy_data_loads_from_path_bytes_and_stream(tmp_path, protocol):
    data = {"mu": np.arange(3.0), "sigma": np.eye(2, dtype=np.float32), "n": np.int64(7), "names": ["a"],
            "f": np.float32(0.5)}
    raw = pickle.dumps(data, protocol=protocol)
    (tmp_path / "d.pkl").write_bytes(raw)
    for src in (tmp_path / "d.pkl", str(tmp_path / "d.pkl"), raw, bytearray(raw), io.BytesIO(raw)):
        out = load_restricted(src)
        assert set(out) == set(data) and out["n"] == 7 and out["names"] == ["a"] and out["f"] == np.float32(0.5)
        assert np.array_equal(out["mu"], data["mu"]) and out["sigma"].dtype == np.float32


def test_numpy_globals_of_both_numpy_layouts_are_allowed():
    multiarray = SP._numpy_core_multiarray()
    assert multiarray.__name__ in ("numpy._core.multiarray", "numpy.core.multiarray")
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        assert load_restricted(global_pickle(mod, "_reconstruct")) is multiarray._reconstruct
        assert load_restricted(global_pickle(mod, "scalar")) is multiarray.scalar
    assert load_restricted(global_pickle("numpy", "ndarray")) is np.ndarray
    assert load_restricted(global_pickle("numpy", "dtype")) is np.dtype


@pytest.mark.parametrize("module,name", [("os", "system"), ("posix", "system"), ("builtins", "eval"),
                                         ("numpy", "load"), ("numpy.core.multiarray", "_reconstructX")])
def test_other_globals_are_refused_naming_the_source(tmp_path, module, name):
    raw = call_pickle(module, name, "touch PWNED")
    (tmp_path / "evil.pkl").write_bytes(raw)
    msg = rf"refusing to load global '{module}\.{name}'\. This file asks to import or call code that is not plain data"
    with pytest.raises(UnsafePickleError, match=rf"^{tmp_path / 'evil.pkl'}: " + msg):
        load_restricted(tmp_path / "evil.pkl")
    with pytest.raises(UnsafePickleError, match="^<bytes>: " + msg):
        load_restricted(raw)
    with open(tmp_path / "evil.pkl", "rb") as f, pytest.raises(UnsafePickleError, match=rf"^{f.name}: " + msg):
        load_restricted(f)
    with pytest.raises(UnsafePickleError, match="^<stream>: " + msg + r".*convert it to a plain format first\.$"):
        load_restricted(io.BytesIO(raw))
    assert not os.path.exists("PWNED")


def test_persistent_ids_and_custom_allow_lists():
    with pytest.raises(UnsafePickleError, match=r"^<bytes>: persistent ids are not allowed in this pickle "
                                                r"\(got 'storage-0'\)$"):
        load_restricted(pid_pickle())
    assert load_restricted(global_pickle("math", "pi"), {("math", "pi"): 3.0}) == 3.0
    with pytest.raises(UnsafePickleError, match="numpy.ndarray"):
        load_restricted(global_pickle("numpy", "ndarray"), {})
    assert issubclass(UnsafePickleError, pickle.UnpicklingError)


# ------------------------------------------------------------------------------------------- network pickles


def find(module: str, name: str):
    return C._NetworkUnpickler(io.BytesIO(b""), "net.pkl").find_class(module, name)


def test_persistence_records_become_data():
    for mod in ("torch_utils.persistence", "src.torch_utils.persistence"):
        assert find(mod, "_reconstruct_persistent_obj") is C.PersistentObject
        assert find(mod, "persistent_class")._path == f"{mod}.persistent_class"  # other names there: inert
    meta = {"type": "class", "class_name": "Generator", "version": 4, "module_src": "import os\nos.system('x')",
            "state": {"_init_kwargs": {"z_dim": 8}}}
    obj = C._NetworkUnpickler(io.BytesIO(call_pickle("src.torch_utils.persistence", "_reconstruct_persistent_obj",
                                                     meta)), "net.pkl").load()
    assert isinstance(obj, C.PersistentObject) and obj.class_name == "Generator" and obj.init_kwargs == {"z_dim": 8}
    assert obj.module_src == meta["module_src"]  # kept as text, never executed


def test_tensor_rebuilders_are_lazy_and_containers_resolve_to_the_real_functions():
    """Tensor records become :class:`StoredTensor` (decoded on the CPU only when ``load()`` is called, so GPU-made
    snapshots load without a GPU and optimiser state is never decoded); containers are the real classes."""
    import collections

    for name in ("_rebuild_tensor_v2", "_rebuild_tensor", "_rebuild_parameter", "_rebuild_parameter_with_state"):
        fn = find("torch._utils", name)
        assert fn is not getattr(torch._utils, name) and fn.__module__ == C.__name__
    assert find("collections", "OrderedDict") is collections.OrderedDict
    assert find("builtins", "set") is set and find("torch", "Size") is torch.Size
    assert find("torch", "float16") is torch.float16
    assert find("numpy", "ndarray") is np.ndarray
    assert find("copyreg", "_reconstructor") is C._reconstructor and find("copyreg", "__newobj__") is C._newobj
    sd = {"w": torch.arange(4.0).reshape(2, 2), "b": torch.nn.Parameter(torch.ones(2))}
    out = C._NetworkUnpickler(io.BytesIO(pickle.dumps(sd)), "net.pkl").load()
    assert isinstance(out["w"], C.StoredTensor) and out["b"].parameter and not out["w"].parameter
    assert torch.equal(out["w"].load(), sd["w"]) and torch.equal(out["b"].load(), sd["b"])
    assert type(out["b"].load()) is torch.Tensor and out["w"].load().device.type == "cpu"


@pytest.mark.parametrize("module,name", [
    ("omegaconf.dictconfig", "DictConfig"), ("omegaconf", "DictConfig"), ("dnnlib.util", "EasyDict"),
    ("src.dnnlib.util", "EasyDict"), ("training.networks", "Generator"), ("src.training.networks", "Generator"),
    ("torch_utils.misc", "X"), ("src.torch_utils.misc", "X"), ("torch.nn.modules.conv", "Conv2d"),
    ("torch.optim.adam", "Adam"), ("metrics.metric_utils", "FeatureStats"), ("src.metrics.x", "Y"),
    ("torch.distributions.beta", "Beta"), ("typing", "Any"), ("enum", "Enum"), ("pathlib", "PosixPath"),
    ("omegaconf.nodes", "_private"), ("torch.nn.modules.module", "__dunder__"),
])
def test_data_only_classes_become_inert_stand_ins(module, name):
    cls = find(module, name)
    assert issubclass(cls, C.InertObject) and cls._path == f"{module}.{name}" and cls.__name__ == name
    assert find(module, name) is cls and C.inert_class(f"{module}.{name}") is cls  # one stand-in class per global
    obj = cls.__new__(cls, 1, k=2)
    assert (obj.args, obj.kwargs, obj.items, obj.list, obj.state) == ((1,), {"k": 2}, {}, [], None)


@pytest.mark.parametrize("module,name", [
    ("torch.nn.modules.module", "_forward_unimplemented"), ("torch.optim.adam", "_single_tensor_adam"),
    ("torch._utils", "_rebuild_device_tensor_from_numpy"), ("torch", "load"), ("os", "system"),
    ("builtins", "eval"), ("builtins", "getattr"), ("omegaconfX", "DictConfig"), ("typing", "cast"),
    ("torch_utils_evil", "x"), ("subprocess", "Popen"), ("os", "_reconstruct_persistent_obj"),
])
def test_everything_else_is_refused(module, name):
    with pytest.raises(UnsafePickleError, match=rf"^net\.pkl: refusing to load global '{module}\.{name}': a network "
                                                r"pickle may only contain tensors, plain data and the known "
                                                r"persistence records"):
        find(module, name)


def test_reconstructors_only_build_inert_objects():
    cls = C.inert_class("training.networks.Mapping")
    obj = C._reconstructor(cls, object, None)
    assert type(obj) is cls and obj.state is None
    new = C._newobj(cls, 3, 4)
    assert type(new) is cls and new.args == (3, 4)
    for bad in (dict, C.InertObject.__new__, "str"):
        with pytest.raises(UnsafePickleError, match=r"^copyreg\._reconstructor for a non-allowed class "):
            C._reconstructor(bad, object, None)
        with pytest.raises(UnsafePickleError, match=r"^copyreg\.__newobj__ for a non-allowed class "):
            C._newobj(bad)
    assert type(C._reconstructor(C.InertObject, object, None)) is C.InertObject


def test_load_network_pickle_results_and_errors(tmp_path):
    meta = {"type": "class", "class_name": "G", "state": {}}
    bare = tmp_path / "bare.pkl"
    bare.write_bytes(call_pickle("torch_utils.persistence", "_reconstruct_persistent_obj", meta))
    data = C.load_network_pickle(bare)
    assert list(data) == ["G_ema"] and data["G_ema"].class_name == "G"
    (tmp_path / "d.pkl").write_bytes(pickle.dumps({"G_ema": 1, "D": [2]}))
    assert C.load_network_pickle(str(tmp_path / "d.pkl")) == {"G_ema": 1, "D": [2]}
    (tmp_path / "l.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(C.CheckpointError, match=rf"^{tmp_path / 'l.pkl'}: expected a dict of networks, got list$"):
        C.load_network_pickle(tmp_path / "l.pkl")
    for name, raw in [("junk.pkl", b"not a pickle"), ("empty.pkl", b""), ("cut.pkl", pickle.dumps({"a": 1})[:-3])]:
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(C.CheckpointError, match=rf"^{tmp_path / name}: not a readable network pickle: "):
            C.load_network_pickle(tmp_path / name)
    (tmp_path / "bad_meta.pkl").write_bytes(call_pickle("torch_utils.persistence", "_reconstruct_persistent_obj",
                                                        {"type": "function"}))
    with pytest.raises(C.CheckpointError, match="unexpected persistence record"):
        C.load_network_pickle(tmp_path / "bad_meta.pkl")
    (tmp_path / "pid.pkl").write_bytes(pid_pickle())
    with pytest.raises(UnsafePickleError, match=rf"^{tmp_path / 'pid.pkl'}: persistent ids are not allowed in "
                                                r"network pickles \(got 'storage-0'\)$"):
        C.load_network_pickle(tmp_path / "pid.pkl")
    (tmp_path / "evil.pkl").write_bytes(call_pickle("os", "system", "touch PWNED"))
    with pytest.raises(UnsafePickleError, match=rf"^{tmp_path / 'evil.pkl'}: refusing to load global 'os\.system'"):
        C.load_network_pickle(tmp_path / "evil.pkl")
    with pytest.raises(FileNotFoundError):
        C.load_network_pickle(tmp_path / "missing.pkl")


@pytest.mark.parametrize("module", ["training.persistence", "src.torch_utils.persistence_x", "dnnlib.util"])
def test_persistence_reconstructor_elsewhere_is_refused_saying_where_it_may_come_from(module):
    with pytest.raises(UnsafePickleError) as ei:
        find(module, "_reconstruct_persistent_obj")
    assert str(ei.value) == (
        f"net.pkl: refusing to load global '{module}._reconstruct_persistent_obj' (a persistence reconstructor "
        f"outside the official module paths ['src.torch_utils.persistence', 'torch_utils.persistence']): a network "
        f"pickle may only contain tensors, plain data and the known persistence records; this one asks to import or "
        f"call other code, so it was not loaded.")


def test_tensor_records_name_the_file_they_come_from():
    up = C._NetworkUnpickler(io.BytesIO(b""), "net.pkl")
    parameter = up.find_class("torch._utils", "_rebuild_parameter")
    with pytest.raises(C.CheckpointError, match=r"^net\.pkl: a parameter record holds int, not a tensor$"):
        parameter(3)
    t = up.find_class("torch._utils", "_rebuild_tensor_v2")(None, 0, (2,), (1,))
    assert isinstance(t, C.StoredTensor) and t.where == "net.pkl"
    assert up.find_class("torch.storage", "_load_from_bytes")(b"").where == "net.pkl"
