"""``python -m vgbench.cli ...``: the same as the ``vgbench`` console script."""
from . import entry_point

entry_point()
