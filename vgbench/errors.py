"""The base class of every error vgbench raises about its input, files or setup.

Each module defines its own error type (``VideoReadError``, ``ProtocolError``, ``CheckpointError`` ...), always as
a subclass of :class:`VgbenchError` and of the built-in type it is closest to (``ValueError``, ``RuntimeError``),
so that callers can catch either. The CLI turns any ``VgbenchError`` into a one-line message without a traceback;
anything else is a bug in vgbench and keeps its traceback.
"""
from __future__ import annotations

__all__ = ["VgbenchError", "ProtocolError"]


class VgbenchError(Exception):
    """A problem with what vgbench was given (a file, an option, a checkpoint, missing weights), not a bug."""


class ProtocolError(VgbenchError, ValueError):
    """A protocol file is missing, malformed, or a result/statistics file does not match its protocol.

    Defined here (and re-exported by :mod:`vgbench.protocols`) so that detectors can raise it without importing the
    protocol loader, which reads the metric specs."""
