"""Training StyleGAN-V-family generators: the discriminator, augmentation, training data, losses and loop.

Each job lives in its own module (:mod:`.discriminator` ...); import them directly. This file imports nothing
heavy so that ``import vgbench.training`` stays cheap.
"""
