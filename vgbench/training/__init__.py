"""Training StyleGAN-V-family generators (``vgbench train``): StyleGAN-V and MoStGAN-V on vgbench's native networks.

One module per job: :mod:`.config` (bundled TOML configs and ``--set``), :mod:`.data` (training clips and their
loader), :mod:`.discriminator` (the authors' video discriminator), :mod:`.augment` (ADA, the same transform for every
frame of a clip), :mod:`.loss` (non-saturating loss, lazy R1), :mod:`.loop` (the training step, snapshots, resume,
torchrun), :mod:`.media` (sample grids). docs/training.md describes the recipe and how it was checked against the
authors' code.
"""
