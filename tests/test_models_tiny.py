"""The shipped tiny StyleGAN-V / MoStGAN-V checkpoints (official pickle format): loading, sampling rules, and the
golden FVD16 regression on the bundled tiny dataset. Regenerate on purpose with
``python scripts/make_tiny_checkpoints.py --golden``."""
import json
from pathlib import Path

import numpy as np
import pytest

from vgbench.models import get_adapter
from vgbench.utils import sha256_file
from conftest import check_continuous_time, check_deterministic_sampling, golden_eval

FIX = Path(__file__).parent / "fixtures"
GOLDEN = json.loads((Path(__file__).parent / "golden" / "tiny_models.json").read_text())
KINDS = ["stylegan_v", "mostgan_v"]


@pytest.fixture(scope="module", params=KINDS)
def adapter(request):
    return get_adapter(request.param, str(FIX / f"{request.param}_tiny.pkl"), device="cpu")


def test_loads_official_pickle(adapter):
    p = adapter.provenance()
    assert p["format"] == "official-pickle" and p["checkpoint_sha256"] == sha256_file(adapter.ckpt)
    assert p["dataset_fps"] == 30.0  # read from the snapshot's training_set_kwargs.cfg
    assert adapter.info.content_motion_separable and adapter.info.fps_control


def test_wrong_family_is_refused(adapter):
    other = "mostgan_v" if adapter.name == "stylegan_v" else "stylegan_v"
    with pytest.raises(Exception, match=f"this is a {adapter.name} checkpoint; use --model {adapter.name}"):
        get_adapter(other, adapter.ckpt)


def test_sampling_is_deterministic_and_batch_invariant(adapter):
    check_deterministic_sampling(adapter)


def test_time_and_fps_semantics(adapter):
    check_continuous_time(adapter)


def test_content_and_motion_can_be_fixed(adapter):
    same_motion = np.concatenate(list(adapter.sample(2, 6, seed=0, motion_seed=3, batch_size=2)))
    same_content = np.concatenate(list(adapter.sample(2, 6, seed=0, content_seed=3, batch_size=2)))
    assert not np.array_equal(same_motion[0], same_motion[1])
    assert not np.array_equal(same_content[0], same_content[1])
    again = np.concatenate(list(adapter.sample(2, 6, seed=5, motion_seed=3, batch_size=2)))
    assert not np.array_equal(again[0], same_motion[0])  # other content, same motion code


@pytest.mark.parametrize("kind", KINDS)
def test_golden_fvd16_on_tiny(kind, i3d_state, tmp_path):
    rec = golden_eval(kind, FIX / f"{kind}_tiny.pkl", tmp_path)
    assert rec["model"]["checkpoint_sha256"] == sha256_file(FIX / f"{kind}_tiny.pkl")
    assert rec["seeds"]["seed"] == 0 and rec["env"]["packages"]["torch"]


def test_native_format_gives_the_same_videos(adapter, tmp_path):
    from vgbench.models.checkpoint import save_native

    p = save_native(tmp_path / "m.vgb", adapter.kind, adapter.init_kwargs, adapter.G.state_dict(),
                    {"dataset_fps": 30})
    native = get_adapter(adapter.name, str(p))
    assert native.provenance()["format"] == "vgbench"
    assert np.array_equal(next(native.sample(2, 4, seed=3, batch_size=2)), next(adapter.sample(2, 4, seed=3,
                                                                                              batch_size=2)))


def test_entry_point_plugins_are_registered(monkeypatch):
    from importlib.metadata import EntryPoint

    from vgbench.models import base

    ep = EntryPoint(name="myfolder", value="vgbench.models.folder:FolderAdapter", group="vgbench.models")
    monkeypatch.setattr(base, "entry_points", lambda group: [ep] if group == "vgbench.models" else [])
    monkeypatch.delitem(base._REGISTRY, "myfolder", raising=False)
    assert "myfolder" in base.available_models()
    base._REGISTRY.pop("myfolder", None)
