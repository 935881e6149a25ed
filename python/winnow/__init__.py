"""Winnow from Python, in fastdup's words.

>>> import winnow
>>> fd = winnow.create(work_dir="work", input_dir="photos/")
>>> fd.run(threshold=0.6)                # winnow run photos/ --work-dir work --threshold 0.6
>>> fd.similarity().head()               # from, to, distance, filename_from, filename_to
>>> fd.vis.duplicates_gallery()          # work/galleries/duplicates.html, shown in Jupyter

Only the ``winnow`` binary is needed: ``$WINNOW_BIN``, else ``winnow`` on ``PATH``.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence, Union

from ._binary import find_binary
from .controller import WinnowController
from .errors import BinaryNotFoundError, WinnowError
from .vis import Visualizer

__all__ = ["create", "find_binary", "BinaryNotFoundError", "Visualizer", "WinnowController", "WinnowError"]
__version__ = "0.1.0"


def create(
    work_dir: Union[str, "os.PathLike[str]"],
    input_dir: Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]], None] = None,
) -> WinnowController:
    """A controller for ``work_dir`` (an existing work_dir is read as it is; ``run()`` writes
    it), analysing ``input_dir`` (a folder, image, file list or archive, or a list) on ``run()``."""
    return WinnowController(work_dir, input_dir)
