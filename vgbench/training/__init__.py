"""Training generators (``vgbench train``): StyleGAN-V, MoStGAN-V and CTSVG on vgbench's native networks.

One module per job: :mod:`.config` (bundled TOML configs and ``--set``), :mod:`.data` (training clips and their
loader), :mod:`.discriminator` (the authors' video discriminator), :mod:`.augment` (ADA, the same transform for every
frame of a clip), :mod:`.loss` (non-saturating loss, lazy R1), :mod:`.loop` (the training step, snapshots, resume,
torchrun; ``TrainerBase`` is the core every model shares), :mod:`.media` (sample grids), :mod:`.ctsvg` and
:mod:`.ctsvg_nets` (CTSVG's data, step and discriminators). docs/training.md describes the recipes and how they
were checked against the authors' code.
"""
