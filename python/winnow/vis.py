"""``controller.vis``: fastdup's gallery methods, made by ``winnow gallery`` and shown inline
in Jupyter."""

from __future__ import annotations

import html
import os
import shutil
from typing import TYPE_CHECKING, List, Optional, Sequence, Union

from . import _binary

if TYPE_CHECKING:
    from .controller import WinnowController

#: Labels (or splits) to keep: one, or several.
Slice = Union[str, Sequence[str], None]


class Visualizer:
    """The galleries of a controller's work_dir (``WORK_DIR/galleries/KIND.html``).

    Each method runs ``winnow gallery``, returns the page's path and, with ``show`` inside
    Jupyter / IPython, displays it inline. ``save_path`` (a file or a folder) gets a copy of
    the page; ``ascending`` ``None`` keeps the gallery's own order (most telling first).
    """

    def __init__(self, controller: "WinnowController") -> None:
        self._controller = controller

    def duplicates_gallery(
        self, save_path: Optional[str] = None, num_images: int = 20, lazy_load: bool = False,
        slice: Slice = None, ascending: Optional[bool] = None, show: bool = True,
    ) -> str:
        """Similar pairs with their similarity (``duplicates.html``)."""
        return self._gallery("duplicates", [], save_path, num_images, lazy_load, slice, ascending, show)

    def outliers_gallery(
        self, save_path: Optional[str] = None, num_images: int = 20, lazy_load: bool = False,
        slice: Slice = None, ascending: Optional[bool] = None, show: bool = True,
    ) -> str:
        """Outliers beside their nearest neighbour (``outliers.html``)."""
        return self._gallery("outliers", [], save_path, num_images, lazy_load, slice, ascending, show)

    def component_gallery(
        self, save_path: Optional[str] = None, num_images: int = 20, lazy_load: bool = False,
        slice: Slice = None, max_items: Optional[int] = None, ascending: Optional[bool] = None, show: bool = True,
    ) -> str:
        """Components with their members, at most ``max_items`` each (``components.html``)."""
        extra = [] if max_items is None else ["--max-members", str(max_items)]
        return self._gallery("components", extra, save_path, num_images, lazy_load, slice, ascending, show)

    def stats_gallery(
        self, save_path: Optional[str] = None, metric: str = "dark", num_images: int = 20, lazy_load: bool = False,
        slice: Slice = None, ascending: Optional[bool] = None, show: bool = True,
    ) -> str:
        """Images sorted by ``metric`` — ``dark``, ``bright`` or ``blur`` (``stats_METRIC.html``)."""
        extra = ["--metric", metric]
        return self._gallery("stats", extra, save_path, num_images, lazy_load, slice, ascending, show)

    def similarity_gallery(
        self, save_path: Optional[str] = None, num_images: int = 20, lazy_load: bool = False,
        slice: Slice = None, neighbors: Optional[int] = None, ascending: Optional[bool] = None, show: bool = True,
    ) -> str:
        """Images with their most similar ones, ``neighbors`` each (``similarity.html``)."""
        extra = [] if neighbors is None else ["--neighbors", str(neighbors)]
        return self._gallery("similarity", extra, save_path, num_images, lazy_load, slice, ascending, show)

    def _gallery(
        self, kind: str, extra: List[str], save_path: Optional[str], num_images: int, lazy_load: bool,
        slice: Slice, ascending: Optional[bool], show: bool,
    ) -> str:
        """Runs ``winnow gallery --kind KIND`` and returns (and shows) the page it wrote."""
        if lazy_load and save_path is not None:
            raise ValueError("lazy_load pages link thumbnails inside the work_dir: they cannot be saved elsewhere")
        arguments = ["gallery", self._controller.work_dir, "--kind", kind, "--num-images", str(num_images), *extra]
        if slice is not None:
            arguments += ["--slice", slice if isinstance(slice, str) else ",".join(slice)]
        if ascending is not None:
            arguments += ["--sort", "asc" if ascending else "desc"]
        if lazy_load:
            arguments.append("--lazy")
        path = _written_page(_binary.run(arguments), self._controller.work_dir, kind, extra)
        if save_path is not None:
            path = _copy(path, save_path)
        if show:
            display_inline(path, lazy_load)
        return path


def _written_page(output: str, work_dir: str, kind: str, extra: List[str]) -> str:
    """The page ``winnow gallery`` reports (``KIND: N of M cards → PATH``), else the path it
    writes by convention."""
    for line in output.splitlines():
        if "→" in line:
            return line.split("→", 1)[1].strip()
    name = f"stats_{extra[1]}" if kind == "stats" else kind
    return os.path.join(work_dir, "galleries", f"{name}.html")


def _copy(page: str, save_path: str) -> str:
    """Copies ``page`` to ``save_path`` (into it, if it is a folder); returns the copy's path."""
    target = os.path.join(save_path, os.path.basename(page)) if os.path.isdir(save_path) else save_path
    shutil.copyfile(page, target)
    return os.path.abspath(target)


def display_inline(path: str, linked: bool = False) -> bool:
    """Shows the page at ``path`` in the running Jupyter / IPython kernel; False outside one.

    A self-contained page goes into an ``iframe`` as its ``srcdoc`` (its script runs apart
    from the notebook's); a page with ``linked`` thumbnails is framed by its path relative to
    the notebook's folder, which the notebook server serves.
    """
    try:
        from IPython import get_ipython
        from IPython.display import HTML, IFrame, display
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    if linked:
        display(IFrame(os.path.relpath(path), width="100%", height=640))
    else:
        with open(path, encoding="utf-8") as file:
            page = html.escape(file.read(), quote=True)
        display(HTML(f'<div><iframe srcdoc="{page}" style="width:100%;height:640px;border:0"></iframe></div>'))
    return True
