"""Writer of tests/fixtures/ctsvg_tiny.pt: a tiny random CTSVG in the layout of the authors' train.py checkpoints.

The file is ``torch.save({"g", "g_ema", "args", "ada_aug_p"})`` -- the same entries and formats train.py writes
(``g``/``g_ema`` plain state dicts, ``args`` an argparse.Namespace with train.py's fields); the discriminators and
optimiser states are left out to stay small. The network is 64x64 with a small channel map shaped like CTSVG's
(narrow 4x4 constant, widest at 32x32), content 16 + motion 16 dims, 4 actors x 3 actions. ``g`` differs from
``g_ema`` (a perturbed copy), so a loader that picks the wrong entry is caught. Noise strengths are set non-zero
(they start at 0 in a fresh network) so that the spatial-noise options have a visible effect, and the toRGB
weights are scaled down so the frames are not saturated.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

TINY = dict(size=64, content_dim=16, dyn_dim=16, num_person=4, num_classes=3, n_mlp=8,
            channels={4: 16, 8: 32, 16: 32, 32: 32, 64: 16})


def train_args(cfg: dict) -> argparse.Namespace:
    """The Namespace train.py saves (its argparse defaults, with this network's sizes)."""
    return argparse.Namespace(
        samplepath="./sample/", chkpath="./checkpoint/", transit_start=2000, transit_end=4000, iter=150000, batch=4,
        size=cfg["size"], r1=10.0, path_regularize=2.0, path_batch_shrink=2, d_reg_every=16, g_reg_every=4,
        ckpt=None, lr=0.002, channel_multiplier=2, augment=False, augment_p=0.0, ada_target=0.6,
        ada_length=500000, ada_every=256, latent=cfg["content_dim"] + cfg["dyn_dim"], dyn_size=cfg["dyn_dim"],
        num_classes=cfg["num_classes"], num_person=cfg["num_person"], traindata_csv="./datasets/tiny_train.csv",
        distributed=False, n_mlp=cfg["n_mlp"], start_iter=0)


def build(seed: int = 0):
    from vgbench.models.ctsvg import Generator

    torch.manual_seed(seed)
    G = Generator(**TINY).eval()
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise.weight"):
                p.copy_(0.1 + 0.2 * torch.rand_like(p))
            elif name.endswith("activate.bias"):
                p.copy_(0.1 * torch.randn_like(p))
            elif name.startswith(("to_rgb1.conv.weight", "to_rgbs.")) and name.endswith("conv.weight"):
                p.mul_(0.25)
    return G


def make(fixtures_dir: Path) -> Path:
    fixtures_dir = Path(fixtures_dir)
    fixtures_dir.mkdir(parents=True, exist_ok=True)
    g_ema = build(0)
    ema = {k: v.detach().clone() for k, v in g_ema.state_dict().items()}
    gen = torch.Generator().manual_seed(1)
    g = {k: (v + 0.05 * torch.randn(v.shape, generator=gen)) if k.split(".")[-1] in ("weight", "bias") else v.clone()
         for k, v in ema.items()}
    out = fixtures_dir / "ctsvg_tiny.pt"
    torch.save({"g": g, "g_ema": ema, "args": train_args(TINY), "ada_aug_p": 0.0}, out)
    return out


if __name__ == "__main__":
    print(make(Path(__file__).resolve().parents[2] / "tests" / "fixtures"))
