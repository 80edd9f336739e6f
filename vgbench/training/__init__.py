"""Training StyleGAN-V / MoStGAN-V with ``vgbench train``: data, discriminator, augmentation, loss and loop."""
