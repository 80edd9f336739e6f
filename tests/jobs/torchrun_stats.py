"""A job that tests/test_distributed.py starts under torchrun (gloo, CPU): the real statistics of a frames folder and
the fake statistics of the tiny StyleGAN-V fixture, split over the ranks; rank 0 saves what every rank holds."""
import sys
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from conftest import MeanColorDetector  # noqa: E402

from vgbench import distributed  # noqa: E402
from vgbench.metrics.base import EvalContext  # noqa: E402
from vgbench.metrics.fvd import _fake_video_stats, compute_stats  # noqa: E402
from vgbench.models import get_adapter  # noqa: E402
from vgbench.protocols import load_protocol  # noqa: E402


def main(data: str, protocol: str, out: str) -> None:
    distributed.init("cpu", share=True)
    proto = load_protocol(protocol)
    real = compute_stats(data, proto, "real", detector=MeanColorDetector(), device="cpu", progress=False)
    adapter = get_adapter("stylegan_v", str(TESTS / "fixtures" / "stylegan_v_tiny.pkl"), device="cpu")
    ctx = EvalContext(proto, "cpu", adapter=adapter, num_fake=6, seed=3, progress=False)
    fake = _fake_video_stats(ctx, MeanColorDetector(), 6)
    rank, world = distributed.rank_world()
    # every rank holds the same merged statistics: check it here, save them on rank 0
    for st in (real, fake):
        digests = distributed.all_gather(st.digest())
        assert len(set(digests)) == 1, digests
    if rank == 0:
        np.savez(out, world=world, real_mu=real.mu, real_sigma=real.sigma, real_features=real.features,
                 real_ids=np.asarray(real.ids), real_offsets=np.asarray(real.offsets),
                 real_counts=np.asarray(str(sorted(real.manifest["counts"].items()))),
                 fake_mu=fake.mu, fake_sigma=fake.sigma, fake_features=fake.features,
                 fake_counts=np.asarray(str(sorted(fake.manifest["counts"].items()))),
                 fake_complete=fake.manifest["protocol_complete"])


if __name__ == "__main__":
    main(*sys.argv[1:4])
