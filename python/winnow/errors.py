"""The exceptions of the winnow package."""

from __future__ import annotations

from typing import Optional


class WinnowError(RuntimeError):
    """The ``winnow`` binary failed: its last one-line message and its exit status.

    ``str(error)`` is the binary's own message (for example
    ``winnow: input not found: /data/photos``); ``status`` is the exit status (64 bad usage,
    65 malformed input data, 66 input not found, 70 internal failure, 73 work_dir not writable
    or in use; negative when a signal ended it; ``None`` when the binary could not be started).
    """

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class BinaryNotFoundError(WinnowError):
    """Neither ``WINNOW_BIN`` nor ``winnow`` on ``PATH`` names a runnable binary."""
