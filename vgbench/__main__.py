"""``python -m vgbench ...``: the same as the ``vgbench`` console script."""
from .cli import entry_point

entry_point()
