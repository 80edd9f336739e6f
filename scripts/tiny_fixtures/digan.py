"""Tiny DIGAN checkpoint in the official snapshot layout: tests/fixtures/digan_tiny.pkl.

A 64x64 random-init :class:`vgbench.models.digan.Generator` (``digan.tiny_config()``: the official structure at small
width) written as a StyleGAN2-ADA persistence pickle whose reconstructor lives in ``torch_utils.persistence`` (as in
the authors' snapshots). Like the official modules, the pickled ``Generator`` and every ``CoordFuser`` carry two
``torch.distributions.Beta`` objects (``dist1`` = Beta(2, 1), ``dist2`` = Beta(1, 2)), so the fixture exercises the
loader's handling of them. Biases get small seeded random values so that every bias matters, and the motion affines
(``coord_fuser.affine``) are scaled by 4 so that frames visibly change within a clip.
"""
from __future__ import annotations

from pathlib import Path

import torch

NAME = "digan_tiny.pkl"


def _beta_objects(digan):
    """``extra_state`` for write_snapshot: Beta(2, 1) / Beta(1, 2) as ``dist1`` / ``dist2`` in the state of the
    Generator and of every CoordFuser, where the official modules keep them."""
    def extra(module):
        if isinstance(module, (digan.Generator, digan.CoordFuser)):
            return {"dist1": torch.distributions.Beta(2.0, 1.0), "dist2": torch.distributions.Beta(1.0, 2.0)}
        return None

    return extra


def make(fixtures_dir: Path) -> Path:
    from vgbench.models import digan
    from vgbench.models.official_pickle import write_snapshot

    kwargs = digan.tiny_config()
    torch.manual_seed(0)
    G = digan.Generator(**kwargs).eval()
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith(".bias"):
                p.add_(0.1 * torch.randn(p.shape))
            if name.endswith("coord_fuser.affine.weight"):
                p.mul_(4.0)
    out = Path(fixtures_dir) / NAME
    write_snapshot(out, G, kwargs, dataset_cfg=None, persistence_module="torch_utils.persistence",
                   with_optimizer=False, extra_state=_beta_objects(digan))
    return out


if __name__ == "__main__":
    print(make(Path(__file__).resolve().parents[2] / "tests" / "fixtures"))
