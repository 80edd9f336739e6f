"""I3D's input contract and its feature head, in milliseconds: ``I3DDetector.preprocess`` (uint8 -> [-1, 1], channel
order, per-frame half-pixel bilinear resize without antialiasing, layout) against a numpy re-implementation, and
``InceptionI3d.forward`` after ``Mixed_5c`` (2x7x7 VALID average pool, 1x1x1 logits conv, mean over time) on a
given ``Mixed_5c`` map. The full network is checked against independent logits in test_i3d_conformance.py and
test_i3d_long_clips.py."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vgbench.detectors.i3d import INPUT_SIZE, MIN_FRAMES, I3DDetector, InceptionI3d


@pytest.fixture(scope="module")
def detector():
    return I3DDetector(InceptionI3d().state_dict())  # preprocessing does not depend on the weights


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] weights of half-pixel bilinear interpolation (align_corners=False, no antialias, edge clamp)."""
    m = np.zeros((n_out, n_in))
    for j in range(n_out):
        x = max((j + 0.5) * n_in / n_out - 0.5, 0.0)
        x0 = min(int(np.floor(x)), n_in - 1)
        x1 = min(x0 + 1, n_in - 1)
        w = x - x0
        m[j, x0] += 1 - w
        m[j, x1] += w
    return m


def reference_preprocess(videos: np.ndarray) -> np.ndarray:
    """uint8 [B, T, H, W, 3] -> float64 [B, 3, T, 224, 224]: u8 / 127.5 - 1, then the resize of every frame."""
    x = videos.astype(np.float64).transpose(0, 4, 1, 2, 3) / 127.5 - 1  # [B, 3, T, H, W]
    rows, cols = bilinear_matrix(x.shape[3], INPUT_SIZE), bilinear_matrix(x.shape[4], INPUT_SIZE)
    return rows @ x @ cols.T


def test_scaling_channel_order_and_layout_at_224(detector):
    rng = np.random.default_rng(0)
    v = rng.integers(0, 256, (2, MIN_FRAMES, INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)
    v[0, 0, 0, 0] = [0, 255, 51]
    x = detector.preprocess(torch.from_numpy(v))
    assert x.shape == (2, 3, MIN_FRAMES, INPUT_SIZE, INPUT_SIZE) and x.dtype == torch.float32
    assert x[0, :, 0, 0, 0].tolist() == [-1.0, 1.0, pytest.approx(51 / 127.5 - 1, abs=1e-7)]
    expected = torch.from_numpy(v).permute(0, 4, 1, 2, 3).float() / 127.5 - 1  # no resize at 224x224
    assert torch.equal(x, expected)


@pytest.mark.parametrize("hw", [(5, 7), (300, 230)])  # up- and downscaling (antialiasing would change the latter)
def test_resize_is_half_pixel_bilinear_without_antialias(detector, hw):
    rng = np.random.default_rng(1)
    v = rng.integers(0, 256, (1, MIN_FRAMES, *hw, 3), dtype=np.uint8)
    x = detector.preprocess(torch.from_numpy(v))
    assert x.shape == (1, 3, MIN_FRAMES, INPUT_SIZE, INPUT_SIZE)
    assert np.abs(x.numpy() - reference_preprocess(v)).max() < 2e-4  # float32 source positions: 3.6e-5 measured
    assert float(x.min()) >= -1 and float(x.max()) <= 1


def test_memory_format(detector):
    v = torch.zeros(1, MIN_FRAMES, 4, 4, 3, dtype=torch.uint8)
    assert detector.preprocess(v).is_contiguous(memory_format=torch.channels_last_3d)
    detector.channels_last = False
    try:
        assert detector.preprocess(v).is_contiguous()
    finally:
        detector.channels_last = True


def test_output_is_on_the_detector_device(detector):
    """Clips are moved to the detector's device before anything else (checked with PyTorch's shape-only 'meta'
    device, so no GPU is needed)."""
    v = torch.zeros(1, MIN_FRAMES, 4, 4, 3, dtype=torch.uint8)
    detector.device = torch.device("meta")
    try:
        x = detector.preprocess(v)
    finally:
        detector.device = torch.device("cpu")
    assert x.device.type == "meta" and x.shape == (1, 3, MIN_FRAMES, INPUT_SIZE, INPUT_SIZE)


def test_input_contract(detector):
    with pytest.raises(TypeError, match=r"^I3D expects uint8 videos, got torch\.float32$"):
        detector.preprocess(torch.zeros(1, MIN_FRAMES, 4, 4, 3))
    with pytest.raises(ValueError, match=r"^I3D expects videos shaped \[B, T, H, W, 3\], got \(1, 9, 4, 4, 4\)$"):
        detector.preprocess(torch.zeros(1, MIN_FRAMES, 4, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"got \(9, 4, 4, 3\)$"):
        detector.preprocess(torch.zeros(MIN_FRAMES, 4, 4, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"^I3D needs clips of at least 9 frames; got 8 frames$"):
        detector.preprocess(torch.zeros(1, MIN_FRAMES - 1, 4, 4, 3, dtype=torch.uint8))
    assert detector.preprocess(torch.zeros(1, MIN_FRAMES, 4, 4, 3, dtype=torch.uint8)).shape[2] == MIN_FRAMES


# ------------------------------------------------------------------------------------------- the feature head


@pytest.fixture
def head(monkeypatch):
    """An InceptionI3d whose Mixed_5c output is set by the test and whose logits conv is random."""
    torch.manual_seed(0)
    net = InceptionI3d().eval()
    conv = net.Logits["Conv3d_0c_1x1"]
    conv.weight.data.normal_(0, 0.05)
    conv.bias.data.normal_(0, 1)
    box = {"input": torch.zeros(1)}

    def mixed_5c(x):
        assert x is box["input"]  # the network input goes through the trunk
        return box["m5c"]

    monkeypatch.setattr(net, "mixed_5c", mixed_5c)
    return net, box


def reference_head(m5c: np.ndarray, w: np.ndarray, b: np.ndarray):
    """[B, C, T', 7, 7] -> (per-step logits [B, T'-1, 400], pool [B, C]) written out in numpy."""
    steps = m5c.shape[2] - 1
    pooled = np.stack([m5c[:, :, t:t + 2].mean(axis=(2, 3, 4)) for t in range(steps)], axis=1)  # [B, T'-1, C]
    return pooled @ w.T + b, pooled.mean(axis=1)


def test_logits_are_the_time_mean_of_the_per_step_logits(head):
    net, box = head
    m5c = torch.randn(2, 1024, 5, 7, 7)
    box["m5c"] = m5c
    w = net.Logits["Conv3d_0c_1x1"].weight.detach().reshape(400, 1024).double().numpy()
    b = net.Logits["Conv3d_0c_1x1"].bias.detach().double().numpy()
    per_step, pool = reference_head(m5c.double().numpy(), w, b)
    with torch.no_grad():
        logits = net(box["input"], features="logits")
        assert logits.shape == (2, 400)
        assert np.abs(logits.numpy() - per_step.mean(axis=1)).max() < 1e-4
        assert np.abs(per_step[:, -1] - per_step.mean(axis=1)).max() > 0.1  # the steps really differ
        assert np.abs(net(box["input"], features="pool").numpy() - pool).max() < 1e-5
        assert net(box["input"]).shape == (2, 400)  # logits by default
        assert net(box["input"], features="mixed_5c") is m5c


def test_feature_head_refusals(head):
    net, box = head
    box["m5c"] = torch.randn(1, 1024, 2, 8, 8)  # a non-224 input gives a 2x2 logits map
    with pytest.raises(ValueError, match=r"^I3D logits need 224x224 input; got a \(2, 2\) map$"):
        net(box["input"])
    assert net(box["input"], features="pool").shape == (1, 1024)
    with pytest.raises(ValueError, match=r"^unknown feature type 'fc'; expected logits, pool or mixed_5c$"):
        net(box["input"], features="fc")


def _record_resize_sizes(detector, monkeypatch) -> list[int]:
    """Record how many frames each call of the detector's resize gets."""
    sizes: list[int] = []
    real = type(detector)._resize
    monkeypatch.setattr(type(detector), "_resize", lambda self, f: sizes.append(len(f)) or real(self, f))
    return sizes


@pytest.mark.parametrize("frames_per_chunk", [1, 2, 3])
def test_preprocessing_resizes_at_most_the_chunk_budget_at_a_time(detector, monkeypatch, frames_per_chunk):
    """The float32 copy of the input is bounded: PREPROCESS_CHUNK_BYTES of [h, w, 3] float32 frames per resize."""
    from vgbench.detectors import i3d as I

    h, w = 20, 28
    clips = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (1, 10, h, w, 3), dtype=np.uint8))
    whole = detector.preprocess(clips)
    monkeypatch.setattr(I, "PREPROCESS_CHUNK_BYTES", frames_per_chunk * h * w * 3 * 4)
    sizes = _record_resize_sizes(detector, monkeypatch)
    out = detector.preprocess(clips)
    assert sizes == [frames_per_chunk] * (10 // frames_per_chunk) + ([10 % frames_per_chunk] if 10 % frames_per_chunk
                                                                       else [])
    assert torch.equal(out, whole)


def test_preprocessing_takes_one_frame_at_a_time_when_one_frame_exceeds_the_budget(detector, monkeypatch):
    from vgbench.detectors import i3d as I

    clips = torch.zeros((1, MIN_FRAMES, 20, 28, 3), dtype=torch.uint8)
    monkeypatch.setattr(I, "PREPROCESS_CHUNK_BYTES", 100)
    sizes = _record_resize_sizes(detector, monkeypatch)
    detector.preprocess(clips)
    assert sizes == [1] * MIN_FRAMES
