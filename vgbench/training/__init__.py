"""Training of video GANs: discriminator, augmentation, data, losses and the loop."""
