"""PoseC3D network and heatmap pipeline against mmaction2 (fixtures written by scripts/posec3d_mmaction_reference.py
with mmaction2 1.2.0 on formula weights and inputs, tests/posec3d_formula.py), plus closed-form heatmap cases and
checkpoint loading."""
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from vgbench.action import heatmaps as hm
from vgbench.detectors.posec3d import PoseC3D, config_from_state, from_checkpoint, load_mmaction_checkpoint
from vgbench.models.checkpoint import CheckpointError
from vgbench.safe_pickle import UnsafePickleError

sys.path.insert(0, str(Path(__file__).parent))
import posec3d_formula as formula  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "posec3d"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURES / "reference.npz") as z:
        return dict(z)


@pytest.fixture(scope="module")
def mmaction_checkpoint(tmp_path_factory):
    """The formula weights saved the way mmaction2 saves a checkpoint ({"state_dict", "meta"})."""
    shapes = {k: tuple(s) for k, s in json.loads((FIXTURES / "state_shapes.json").read_text()).items()}
    state = {k: torch.from_numpy(v) for k, v in formula.formula_state(shapes).items()}
    path = tmp_path_factory.mktemp("posec3d") / "posec3d_formula.pth"
    torch.save({"state_dict": state, "meta": {"mmaction2_version": "1.2.0", "epoch": 24}}, path)
    return path


def test_state_dict_keys_and_shapes_are_mmaction2s():
    expected = json.loads((FIXTURES / "state_shapes.json").read_text())
    got = {k: list(v.shape) for k, v in PoseC3D(num_classes=60).state_dict().items()}
    assert list(got) == list(expected) and got == expected
    assert sum(p.numel() for p in PoseC3D(num_classes=60).parameters()) == 2_024_860  # the paper's "2.0M"


def test_logits_match_mmaction2(ref, mmaction_checkpoint):
    net = from_checkpoint(mmaction_checkpoint)
    assert net.config["num_classes"] == 60 and net.config["stage_blocks"] == [4, 6, 3]
    assert net.config["inflate"] == [0, 1, 1]
    with torch.no_grad():
        logits = net(torch.from_numpy(formula.formula_input())).numpy()
    assert np.abs(ref["small_logits"]).max() > 5  # the formula weights give logits that depend on the input
    assert np.abs(logits - ref["small_logits"]).max() <= 1e-4
    fast = torch.channels_last_3d  # the layout ActionRecognizer runs in
    with torch.no_grad():
        logits_cl = net.to(memory_format=fast)(torch.from_numpy(formula.formula_input()).to(memory_format=fast))
    assert np.abs(logits_cl.numpy() - ref["small_logits"]).max() <= 1e-4


def test_heatmap_pipeline_matches_mmaction2(ref):
    """UniformSampleFrames (all three branches: n >= 2 clip_len, clip_len <= n < 2 clip_len, n < clip_len),
    PoseCompact, Resize, CenterCrop, GeneratePoseTarget with double: same frames, same heatmap values."""
    for seed, (name, frames, hw) in enumerate(formula.VIDEOS):
        np.testing.assert_array_equal(hm.test_indices(frames, 48, 10, 255), ref[f"{name}_inds"])
        vol = hm.test_volumes(formula.formula_keypoints(frames, hw, seed), hw)
        assert vol.shape == (20, 17, 48, 64, 64) and vol.dtype == np.float32
        np.testing.assert_allclose(vol.sum(axis=(2, 3, 4), dtype=np.float64), ref[f"{name}_sums"], rtol=1e-6)
        np.testing.assert_allclose(vol.reshape(-1)[ref[f"{name}_pos"]], ref[f"{name}_val"], rtol=0, atol=1e-6)


def test_train_pipeline_with_pinned_randomness_matches_mmaction2(ref):
    """A 48-frame video (no random skips), a full-image RandomResizedCrop, Resize(56, 56), always flipped."""
    cfg = hm.PipelineConfig(area_range=(1.0, 1.0), aspect_range=(1.0, 1.0), flip_ratio=1.0)
    vol = hm.train_volume(formula.formula_keypoints(48, (300, 400), 5), (300, 400), np.random.default_rng(0), cfg)
    assert vol.shape == (17, 48, 56, 56)
    np.testing.assert_allclose(vol.sum(axis=(1, 2, 3), dtype=np.float64), ref["train_sums"][0], rtol=1e-6)
    np.testing.assert_allclose(vol.reshape(-1)[ref["train_pos"]], ref["train_val"], rtol=0, atol=1e-6)


@pytest.mark.slow
def test_keypoints_to_logits_match_mmaction2(ref, mmaction_checkpoint):
    """Full-size clips (48x64x64) from keypoints through the network: the first clip and its mirror, and
    mmaction2's average_clip('prob') of the two."""
    net = from_checkpoint(mmaction_checkpoint)
    for seed, (name, frames, hw) in enumerate(formula.VIDEOS):
        vol = hm.test_volumes(formula.formula_keypoints(frames, hw, seed), hw)
        with torch.no_grad():
            logits = net(torch.from_numpy(vol[[0, 10]]))
        assert np.abs(logits.numpy() - ref[f"{name}_logits"]).max() <= 1e-4
        avg = torch.softmax(logits.double(), 1).mean(0).numpy()
        np.testing.assert_allclose(avg, ref[f"{name}_avg"][0], atol=1e-6)


# -------------------------------------------------------------------------------------------- closed-form heatmaps


def test_gaussian_heatmap_closed_form():
    kp = np.array([[[[10.3, 7.6], [0.0, 0.0], [2.0, 30.5]]]], np.float32)  # [M=1, T=1, V=3, 2]
    score = np.array([[[0.8, 0.0, 1.0]]], np.float32)
    out = hm.gaussian_heatmaps(kp, score, (32, 40), sigma=0.6)
    assert out.shape == (1, 3, 32, 40)
    yy, xx = np.mgrid[0:32, 0:40]
    g = 0.8 * np.exp(-((xx - 10.3) ** 2 + (yy - 7.6) ** 2) / (2 * 0.36))
    window = (xx >= 8) & (xx < 13) & (yy >= 5) & (yy < 10)  # int(10.3 -/+ 1.8) (+1), int(7.6 -/+ 1.8) (+1)
    np.testing.assert_allclose(out[0, 0], np.where(window, g, 0), atol=1e-6)
    assert out[0, 0].max() == pytest.approx(0.8 * np.exp(-(0.3 ** 2 + 0.4 ** 2) / 0.72), rel=1e-6)
    assert not out[0, 1].any()  # score 0: nothing drawn
    g2 = np.exp(-((xx - 2.0) ** 2 + (yy - 30.5) ** 2) / 0.72)
    window2 = (xx >= 0) & (xx < 4) & (yy >= 28) & (yy < 32)  # clipped at the image border
    np.testing.assert_allclose(out[0, 2], np.where(window2, g2, 0), atol=1e-6)


def test_two_people_take_the_maximum_and_use_score_false():
    kp = np.array([[[[5.0, 5.0]]], [[[6.0, 5.0]]]], np.float32)  # two people, one keypoint each
    score = np.array([[[0.5]], [[0.9]]], np.float32)
    a = hm.gaussian_heatmaps(kp[:1], score[:1], (12, 12))[0, 0]
    b = hm.gaussian_heatmaps(kp[1:], score[1:], (12, 12))[0, 0]
    np.testing.assert_array_equal(hm.gaussian_heatmaps(kp, score, (12, 12))[0, 0], np.maximum(a, b))
    assert hm.gaussian_heatmaps(kp[:1], score[:1], (12, 12), use_score=False)[0, 0, 5, 5] == 1.0


def test_compact_resize_crop_flip_geometry():
    kp = np.zeros((1, 1, 17, 2), np.float32)
    kp[0, 0, :2] = [[100.0, 50.0], [140.0, 130.0]]  # keypoint 2 is missing (0, 0)
    out, hw = hm.pose_compact(kp, (480, 640))
    # box x 100..140, y 50..130 -> centre (120, 90), half sizes 25 and 50, squared to 50: x 70..170, y 40..140
    assert hw == (100, 100)
    np.testing.assert_array_equal(out[0, 0, :3], [[30, 10], [70, 90], [0, 0]])  # the missing keypoint stays at 0
    r, hw2 = hm.resize(out, hw, 64)
    assert hw2 == (64, 64) and r[0, 0, 1].tolist() == pytest.approx([44.8, 57.6])
    f, s = hm.flip(r, np.arange(17, dtype=np.float32)[None, None], 64)
    assert f[0, 0, 0].tolist() == pytest.approx([64 - 19.2, 6.4])  # x -> w - x, left/right swap of 1 and 2
    assert f[0, 0, 2].tolist() == pytest.approx([64 - 44.8, 57.6]) and f[0, 0, 1].tolist() == [0, 0]
    assert s[0, 0, :3].tolist() == [0, 2, 1]
    tiny, same = hm.pose_compact(np.full((1, 1, 17, 2), 5.0, np.float32), (48, 48))
    assert same == (48, 48) and (tiny == 5).all()  # a box under 10 px is left alone


def test_train_volume_is_deterministic_for_a_seed():
    kp = formula.formula_keypoints(40, (120, 160), 1)
    cfg = hm.PipelineConfig(clip_len=8, size=32, train_size=28)
    a = hm.train_volume(kp, (120, 160), np.random.default_rng(3), cfg)
    b = hm.train_volume(kp, (120, 160), np.random.default_rng(3), cfg)
    c = hm.train_volume(kp, (120, 160), np.random.default_rng(4), cfg)
    assert a.shape == (17, 8, 28, 28) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0 < a.max() <= 1


# --------------------------------------------------------------------------------------------- checkpoint loading


def test_checkpoint_with_mmengine_meta_objects_loads_without_running_them(tmp_path, monkeypatch):
    """mmengine checkpoints pickle message-hub objects by reference: they become inert records, never imported."""
    fake = types.ModuleType("mmengine.logging.history_buffer")

    class HistoryBuffer:
        def __init__(self):
            self._log_history = [1.0, 2.0]

        def __setstate__(self, state):  # would run if the real class were resolved on load
            raise AssertionError("mmengine code ran")

    HistoryBuffer.__module__, HistoryBuffer.__qualname__ = fake.__name__, "HistoryBuffer"
    fake.HistoryBuffer = HistoryBuffer
    parents = ["mmengine", "mmengine.logging"]
    for name in parents:
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    net = PoseC3D(num_classes=5, base_channels=8, stage_blocks=(1, 1, 1))
    path = tmp_path / "mmengine.pth"
    torch.save({"state_dict": net.state_dict(), "meta": {"seed": np.int64(7)},
                "message_hub": {"log_scalars": {"train/loss": HistoryBuffer()}}}, path)
    for name in parents + [fake.__name__]:
        monkeypatch.delitem(sys.modules, name)
    state = load_mmaction_checkpoint(path)
    assert set(state) == set(net.state_dict())
    loaded = from_checkpoint(path)
    assert loaded.config["num_classes"] == 5 and loaded.config["base_channels"] == 8
    x = torch.rand(1, 17, 4, 16, 16)
    net.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))


@pytest.mark.parametrize("reduce, message", [((print, ("pwned",)), "builtins.print"),
                                             ((getattr, (dict, "fromkeys")), "not an inert record")])
def test_checkpoint_naming_code_is_refused(tmp_path, reduce, message):
    class Evil:
        def __reduce__(self):
            return reduce

    path = tmp_path / "evil.pth"
    torch.save({"state_dict": PoseC3D(num_classes=2, base_channels=8, stage_blocks=(1, 1, 1)).state_dict(),
                "meta": Evil()}, path)
    with pytest.raises(UnsafePickleError, match=message):
        load_mmaction_checkpoint(path)


def test_bad_checkpoints_name_the_problem(tmp_path):
    p = tmp_path / "other.pth"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, p)
    with pytest.raises(CheckpointError, match="not a PoseC3D state dict"):
        from_checkpoint(p)
    q = tmp_path / "junk.pth"
    q.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_mmaction_checkpoint(q)
    state = PoseC3D(num_classes=3).state_dict()
    state["backbone.conv1.conv.weight"] = state["backbone.conv1.conv.weight"][:, :16]
    assert config_from_state(state)["in_channels"] == 16
    state.pop("backbone.layer3.2.conv3.bn.weight")
    r = tmp_path / "broken.pth"
    torch.save({"state_dict": state}, r)
    with pytest.raises(CheckpointError, match="1 missing"):
        from_checkpoint(r)
