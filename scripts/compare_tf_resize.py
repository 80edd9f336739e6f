"""Compare vgbench's TF1 resize (fvd16_tf / fvd128_tf) with TensorFlow itself. Two steps, two environments:

    # 1) in a separate environment with TensorFlow (CPU is enough): python -m venv tfenv && tfenv/bin/pip install
    #    tensorflow-cpu numpy; writes random inputs and TensorFlow's outputs
    tfenv/bin/python scripts/compare_tf_resize.py make tf_resize.npz
    # 2) with vgbench: compares them with vgbench.detectors.resize and I3DDetector.preprocess
    python scripts/compare_tf_resize.py check tf_resize.npz

``make`` runs ``tf.compat.v1.image.resize_bilinear(align_corners=False, half_pixel_centers=False)`` on uint8 and
float32 images of several sizes, and the whole ``preprocess`` of the original FVD code (google-research
``frechet_video_distance.py``: resize the 0..255 frames, then ``2 * x / 255 - 1``) in a TF1 graph run by a
session, as that code runs. ``check`` prints, per case, the largest difference and whether the outputs are
bit-identical, and the same for the FID protocols' grid_sample emulation of this resize (StyleGAN2-ADA's, in
``vgbench.detectors.inception``). Results are in docs/resize.md.
"""
import sys

import numpy as np

CASES = [((256, 256), (224, 224)), ((64, 64), (224, 224)), ((128, 96), (224, 224)), ((224, 224), (224, 224)),
         ((720, 1280), (224, 224)), ((272, 640), (224, 224)), ((144, 176), (224, 224)), ((7, 300), (224, 224)),
         ((256, 256), (299, 299)), ((37, 53), (11, 19))]
VIDEO_SHAPE = (2, 16, 256, 256, 3)


def make(out: str) -> None:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    res = {"tf_version": np.array(tf.__version__)}
    for k, ((h, w), size) in enumerate(CASES):
        res[f"u8_{k}"] = rng.integers(0, 256, (3, h, w, 3), dtype=np.uint8)
        res[f"f_{k}"] = rng.random((2, h, w, 3), dtype=np.float32)
        for kind in ("u8", "f"):
            res[f"tf_{kind}_{k}"] = tf.compat.v1.image.resize_bilinear(
                res[f"{kind}_{k}"], size, align_corners=False, half_pixel_centers=False).numpy()
    res["video"] = rng.integers(0, 256, VIDEO_SHAPE, dtype=np.uint8)
    graph = tf.Graph()
    with graph.as_default():
        videos = tf.compat.v1.placeholder(tf.uint8, VIDEO_SHAPE)
        frames = tf.reshape(videos, [-1, *VIDEO_SHAPE[2:]])
        resized = tf.reshape(tf.compat.v1.image.resize_bilinear(frames, size=(224, 224)), [2, -1, 224, 224, 3])
        scaled = 2. * tf.cast(resized, tf.float32) / 255. - 1
        with tf.compat.v1.Session() as sess:
            res["tf_preprocess"] = sess.run(scaled, {videos: res["video"]})
    np.savez(out, **res)
    print(f"{out}: TensorFlow {tf.__version__}, {len(CASES)} resize cases and the FVD preprocess")


def check(path: str) -> None:
    import torch

    from vgbench.detectors.i3d import I3DDetector, InceptionI3d
    from vgbench.detectors.resize import resize_tf1_bilinear

    z = np.load(path)
    print(f"TensorFlow {z['tf_version']}")
    for k, (_, size) in enumerate(CASES):
        for kind in ("u8", "f"):
            images, ref = z[f"{kind}_{k}"], z[f"tf_{kind}_{k}"]
            out = resize_tf1_bilinear(torch.from_numpy(images).float(), size).numpy()
            print(f"resize_bilinear {kind:2s} {images.shape[1:3]} -> {size}: max |diff| {np.abs(out - ref).max():.3g}, "
                  f"bit-identical {np.array_equal(out, ref)}")
    from vgbench.detectors.inception import resize_tf1_bilinear as grid_sample_resize

    for k in (0, 8):  # 256 -> 224 and 256 -> 299 (FID)
        images, ref = z[f"u8_{k}"], z[f"tf_u8_{k}"]
        out = grid_sample_resize(torch.from_numpy(images).float().permute(0, 3, 1, 2), ref.shape[1:3])
        out = out.permute(0, 2, 3, 1).numpy()
        print(f"FID's grid_sample emulation (vgbench.detectors.inception) u8 {images.shape[1:3]} -> {ref.shape[1:3]}: "
              f"max |diff| {np.abs(out - ref).max():.3g}, share of values that differ {np.mean(out != ref):.2f}")
    ref = z["tf_preprocess"]
    for mode in ("tf1_resize_bilinear", "bilinear"):
        det = I3DDetector(InceptionI3d().state_dict(), resize=mode)  # preprocess only: the weights do not matter
        out = det.preprocess(torch.from_numpy(z["video"])).permute(0, 2, 3, 4, 1).numpy()
        print(f"I3DDetector(resize={mode!r}).preprocess vs the TF FVD preprocess: max |diff| "
              f"{np.abs(out - ref).max():.3g}, mean |diff| {np.abs(out - ref).mean():.3g}, "
              f"bit-identical {np.array_equal(out, ref)}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "check"):
        sys.exit(__doc__)
    (make if sys.argv[1] == "make" else check)(sys.argv[2])
