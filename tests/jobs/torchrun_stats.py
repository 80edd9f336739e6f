"""A job that tests/test_distributed.py starts under torchrun (gloo, CPU): split over the ranks, the FVD statistics
of a frames folder and of the tiny StyleGAN-V fixture, FID's frame statistics of both, and the video IS of the
generator; rank 0 saves what every rank holds."""
import sys
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from conftest import MeanColorDetector  # noqa: E402
from test_distributed import ClipClasses  # noqa: E402
from test_fid import FrameStats  # noqa: E402

from vgbench import distributed  # noqa: E402
from vgbench.metrics import inception_score  # noqa: E402
from vgbench.metrics.base import EvalContext  # noqa: E402
from vgbench.metrics.fid import _fake_frames, compute_frame_stats  # noqa: E402
from vgbench.metrics.fvd import _fake_video_stats, compute_stats  # noqa: E402
from vgbench.models import get_adapter  # noqa: E402
from vgbench.protocols import load_protocol  # noqa: E402


def main(data: str, protocol: str, out: str, fid_protocol: str) -> None:
    distributed.init("cpu", share=True)
    proto = load_protocol(protocol)
    real = compute_stats(data, proto, "real", detector=MeanColorDetector(), device="cpu", progress=False)
    adapter = get_adapter("stylegan_v", str(TESTS / "fixtures" / "stylegan_v_tiny.pkl"), device="cpu")
    ctx = EvalContext(proto, "cpu", adapter=adapter, num_fake=6, seed=3, progress=False)
    fake = _fake_video_stats(ctx, MeanColorDetector(), 6)
    fidp = load_protocol(fid_protocol)
    fid_real = compute_frame_stats(data, fidp, "real", detector=FrameStats(), device="cpu", progress=False,
                                   frame_batch=5)
    fid_ctx = EvalContext(fidp, "cpu", adapter=adapter, seed=3, progress=False, batch_size=5)
    fid_fake = _fake_frames(fid_ctx, FrameStats(), 7)
    classes = ClipClasses()
    is_ctx = EvalContext(load_protocol("is_ucf101"), "cpu", adapter=adapter, seed=3, progress=False, num_fake=13,
                         detector=classes)
    is_entry = inception_score._compute(is_ctx)
    rank, world = distributed.rank_world()
    # the work was split: each rank classified only its share of the videos, and the FID sides were merged parts
    classified = distributed.all_gather(classes.videos)
    assert sum(classified) == 13 and (world == 1 or max(classified) < 13), classified
    for st in (fid_real, fid_fake):
        assert (st.manifest.get("merged") or {}).get("shards", 1) == world
    # every rank holds the same merged statistics: check it here, save them on rank 0
    for st in (real, fake, fid_real, fid_fake):
        digests = distributed.all_gather(st.digest())
        assert len(set(digests)) == 1, digests
    if rank == 0:
        np.savez(out, world=world, real_mu=real.mu, real_sigma=real.sigma, real_features=real.features,
                 real_ids=np.asarray(real.ids), real_offsets=np.asarray(real.offsets),
                 real_counts=np.asarray(str(sorted(real.manifest["counts"].items()))),
                 fake_mu=fake.mu, fake_sigma=fake.sigma, fake_features=fake.features,
                 fake_counts=np.asarray(str(sorted(fake.manifest["counts"].items()))),
                 fake_complete=fake.manifest["protocol_complete"],
                 fid_real_mu=fid_real.mu, fid_real_sigma=fid_real.sigma,
                 fid_real_counts=np.asarray(str(sorted(fid_real.manifest["counts"].items()))),
                 fid_fake_mu=fid_fake.mu, fid_fake_sigma=fid_fake.sigma,
                 fid_fake_counts=np.asarray(str(sorted(fid_fake.manifest["counts"].items()))),
                 is_value=is_entry["value"], is_std=is_entry["std"], is_splits=np.asarray(is_entry["splits"]),
                 is_counts=np.asarray(str(sorted(is_entry["counts"]["fake"].items()))))


if __name__ == "__main__":
    main(*sys.argv[1:5])
