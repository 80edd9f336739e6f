"""Write tests/fixtures/posec3d/: mmaction2's own PoseC3D outputs on formula weights and inputs.

Runs in a scratch environment that has mmaction2 (never in vgbench's), e.g.::

    python3.11 -m venv /work/scratch/posec3d/venv
    /work/scratch/posec3d/venv/bin/pip install torch==2.13.0 mmaction2==1.2.0 mmengine==0.10.7 \
        "mmcv-lite==2.1.0" "numpy<2" importlib_metadata
    /work/scratch/posec3d/venv/bin/python scripts/posec3d_mmaction_reference.py tests/fixtures/posec3d

Shims (each one is needed only to import mmaction2 1.2.0 without the full mmcv build):

* ``mmcv-lite==2.1.0``: mmaction2 1.2.0 refuses mmcv >= 2.2.0 at import;
* ``numpy<2``: mmaction2's ``PoseCompact`` uses ``np.Inf``, removed in NumPy 2;
* ``importlib_metadata``: imported by ``mmaction.utils.dependency`` but not declared by the wheel;
* an empty stand-in module ``mmaction.models.localizers.drn.drn`` (class ``DRN``): the 1.2.0 wheel lacks the
  ``drn`` package that ``mmaction.models.localizers`` imports. DRN is a temporal-grounding model unrelated to PoseC3D.

What it writes (kilobytes; no weights: the test regenerates them with ``tests/posec3d_formula.py``):

* ``state_shapes.json``: the key -> shape list of mmaction2's ``Recognizer3D`` built from the
  ``slowonly_r50_8xb16-u48-240e_ntu60-xsub-keypoint`` backbone/head settings (num_classes 60);
* ``reference.npz``: ``small_logits`` (the formula input through the formula-weighted network), and per video of
  ``VIDEOS`` (formula keypoints through mmaction2's test pipeline, ``num_clips=10``, ``clip_len=48``, flip-doubled):
  ``<v>_inds`` (sampled frames), ``<v>_sums`` (heatmap sums per clip and channel), ``<v>_pos`` / ``<v>_val``
  (exact heatmap values at 600 flat positions, half of them nonzero), ``<v>_logits`` (clips 0 and 10: the first
  clip and its mirror) and ``<v>_avg`` (mmaction2's ``average_clip`` of those two, ``average_clips='prob'``);
  ``train_sums`` / ``train_pos`` / ``train_val``: the train pipeline (``RandomResizedCrop``, ``Resize(56, 56)``,
  ``Flip`` with the left/right swap) with its randomness pinned, on a 48-frame formula video.
"""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from posec3d_formula import SMALL_INPUT, VIDEOS, formula_input, formula_keypoints, formula_state  # noqa: E402


def _shim_drn():
    pkg = types.ModuleType("mmaction.models.localizers.drn")
    mod = types.ModuleType("mmaction.models.localizers.drn.drn")
    mod.DRN = type("DRN", (), {})
    pkg.__path__, pkg.drn = [], mod
    sys.modules[pkg.__name__], sys.modules[mod.__name__] = pkg, mod


MODEL = dict(
    type="Recognizer3D",
    backbone=dict(type="ResNet3dSlowOnly", depth=50, pretrained=None, in_channels=17, base_channels=32,
                  num_stages=3, out_indices=(2,), stage_blocks=(4, 6, 3), conv1_stride_s=1, pool1_stride_s=1,
                  inflate=(0, 1, 1), spatial_strides=(2, 2, 2), temporal_strides=(1, 1, 2), dilations=(1, 1, 1)),
    cls_head=dict(type="I3DHead", in_channels=512, num_classes=60, dropout_ratio=0.5, average_clips="prob"))
LEFT, RIGHT = [1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]
TEST_PIPELINE = [
    dict(type="UniformSampleFrames", clip_len=48, num_clips=10, test_mode=True),
    dict(type="PoseDecode"),
    dict(type="PoseCompact", hw_ratio=1., allow_imgpad=True),
    dict(type="Resize", scale=(-1, 64)),
    dict(type="CenterCrop", crop_size=64),
    dict(type="GeneratePoseTarget", sigma=0.6, use_score=True, with_kp=True, with_limb=False, double=True,
         left_kp=LEFT, right_kp=RIGHT),
    dict(type="FormatShape", input_format="NCTHW_Heatmap"),
]

TRAIN_HW = (300, 400)
TRAIN_PIPELINE_PINNED = [
    dict(type="UniformSampleFrames", clip_len=48),
    dict(type="PoseDecode"),
    dict(type="PoseCompact", hw_ratio=1., allow_imgpad=True),
    dict(type="Resize", scale=(-1, 64)),
    dict(type="RandomResizedCrop", area_range=(1.0, 1.0), aspect_ratio_range=(1.0, 1.0)),
    dict(type="Resize", scale=(56, 56), keep_ratio=False),
    dict(type="Flip", flip_ratio=1.0, left_kp=LEFT, right_kp=RIGHT),
    dict(type="GeneratePoseTarget", sigma=0.6, use_score=True, with_kp=True, with_limb=False),
    dict(type="FormatShape", input_format="NCTHW_Heatmap"),
]


def main(out: Path):
    _shim_drn()
    from mmaction.registry import MODELS, TRANSFORMS
    from mmaction.utils import register_all_modules
    from mmengine.dataset import Compose

    register_all_modules()
    torch.set_num_threads(2)
    model = MODELS.build(MODEL).eval()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = {k: torch.from_numpy(v) for k, v in formula_state(shapes).items()}
    model.load_state_dict(state, strict=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "state_shapes.json").write_text(json.dumps({k: list(s) for k, s in shapes.items()}, indent=0) + "\n")

    def logits(clips: np.ndarray) -> torch.Tensor:  # [n, 17, T, H, W] through Recognizer3D's test path
        with torch.no_grad():
            feat, _ = model.extract_feat(torch.from_numpy(clips)[None], test_mode=True)
            return model.cls_head(feat)

    ref = {"small_logits": logits(formula_input(SMALL_INPUT)).numpy()}
    pipeline = Compose([TRANSFORMS.build(t) for t in TEST_PIPELINE])
    rng = np.random.default_rng(0)
    for seed, (name, frames, hw) in enumerate(VIDEOS):
        kp = formula_keypoints(frames, hw, seed)
        res = pipeline(dict(keypoint=kp[None, ..., :2].copy(), keypoint_score=kp[None, ..., 2].copy(),
                            img_shape=hw, total_frames=frames, start_index=0, modality="Pose", label=0))
        heat = res["imgs"].astype(np.float32)  # [20, 17, 48, 64, 64]
        flat = heat.reshape(-1)
        nz = np.flatnonzero(flat)
        pos = np.concatenate([rng.choice(nz, 300, replace=False), rng.choice(flat.size, 300, replace=False)])
        ref[f"{name}_inds"] = res["frame_inds"].astype(np.int32)
        ref[f"{name}_sums"] = heat.sum(axis=(2, 3, 4), dtype=np.float64)
        ref[f"{name}_pos"], ref[f"{name}_val"] = pos.astype(np.int64), flat[pos]
        lg = logits(heat[[0, 10]])
        ref[f"{name}_logits"] = lg.numpy()
        ref[f"{name}_avg"] = model.cls_head.average_clip(lg, num_segs=2).numpy()
        print(name, heat.shape, "nonzero", nz.size, "logits", lg[:, :3].numpy().round(4).tolist())
    # the train pipeline with its randomness pinned (n == clip_len: no random skips; a full-image crop; always
    # flipped), which checks RandomResizedCrop's crop path, Resize to 56x56 and Flip with the left/right swap
    train = Compose([TRANSFORMS.build(t) for t in TRAIN_PIPELINE_PINNED])
    kp = formula_keypoints(48, TRAIN_HW, 5)
    res = train(dict(keypoint=kp[None, ..., :2].copy(), keypoint_score=kp[None, ..., 2].copy(), img_shape=TRAIN_HW,
                     total_frames=48, start_index=0, modality="Pose", label=0))
    heat = res["imgs"].astype(np.float32)  # [1, 17, 48, 56, 56]
    flat = heat.reshape(-1)
    pos = np.concatenate([rng.choice(np.flatnonzero(flat), 300, replace=False),
                          rng.choice(flat.size, 300, replace=False)])
    ref["train_sums"] = heat.sum(axis=(2, 3, 4), dtype=np.float64)
    ref["train_pos"], ref["train_val"] = pos.astype(np.int64), flat[pos]
    print("train", heat.shape)
    np.savez_compressed(out / "reference.npz", **ref)
    print("wrote", out, sorted(ref))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/posec3d"))
