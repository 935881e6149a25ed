"""The controller: fastdup's ``FastdupController`` vocabulary over a Winnow work_dir."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from . import _binary, options, readers
from .summary import summary_lines
from .vis import Visualizer

PathLike = Union[str, "os.PathLike[str]"]
#: Receives each progress or warning line the binary writes while it runs.
ProgressHandler = Callable[[str], None]

#: The annotation columns merged into the other frames when the run had them.
_ANNOTATION_COLUMNS = ("label", "split")


class WinnowController:
    """One work_dir: ``run()`` analyses images into it, the other methods read it.

    The DataFrame methods read the files the last run wrote (and ``issues()`` the SQLite
    catalog), with fastdup's column names; see each method. ``vis`` makes the HTML galleries.
    """

    def __init__(self, work_dir: PathLike, input_dir: Union[PathLike, Sequence[PathLike], None] = None) -> None:
        self._work_dir = os.path.abspath(os.fspath(work_dir))
        self._input_dir = input_dir
        self.vis = Visualizer(self)

    @property
    def work_dir(self) -> str:
        """The work_dir's absolute path."""
        return self._work_dir

    @property
    def input_dir(self) -> Union[PathLike, Sequence[PathLike], None]:
        """The input given to ``create()`` (or the last ``run()``)."""
        return self._input_dir

    @property
    def config(self) -> Dict[str, Any]:
        """The last run's parameters (``config.json``)."""
        return readers.read_json(self._work_dir, readers.CONFIG)

    # Running.

    def run(
        self,
        input_dir: Union[PathLike, Sequence[PathLike], None] = None,
        annotations: Union[PathLike, pd.DataFrame, Dict[str, Any], None] = None,
        embeddings: Optional[PathLike] = None,
        overwrite: bool = True,
        print_summary: bool = True,
        progress: Optional[ProgressHandler] = None,
        **kwargs: Any,
    ) -> Optional[int]:
        """Runs ``winnow run`` on ``input_dir`` into the work_dir; returns 0 (as fastdup).

        ``input_dir``: a folder, an image, a file list or an archive, or a list of them
        (default: ``create(input_dir=…)``). ``annotations``: a fastdup CSV / COCO JSON / YOLO
        yaml path, a DataFrame (``filename``, ``label``[, ``split``, box columns]) or a COCO
        dict. ``embeddings``: a ``.npy`` / ``.dat`` / ``.csv`` file of your own vectors.
        ``overwrite=False`` on a work_dir already analysed warns and does nothing (fastdup);
        ``True`` runs again, reusing the images Winnow already decoded.

        ``kwargs`` are fastdup's ``run()`` keywords (``threshold``, ``cc_threshold`` /
        ``ccthreshold``, ``nearest_neighbors_k``, ``num_images``, ``outlier_percentile``,
        ``distance``, ``model_path``, ``num_threads``, ``nnf_mode``, ``find_regex``,
        ``bounding_box``, ``min_offset``, ``max_offset``, ``min_file_size``, ``data_type``) and
        every other ``winnow run`` option in snake_case (``blurry_sharpness=50``,
        ``no_verify=True``); an unknown keyword raises ``TypeError``.

        Progress lines go to ``progress`` (default: printed to standard error) while it runs;
        the binary's summary is printed after it when ``print_summary``. A failure raises
        :class:`winnow.WinnowError` with the binary's message and exit status.
        """
        arguments = options.run_arguments(kwargs)
        inputs = self._inputs(input_dir)
        if not overwrite and os.path.isfile(os.path.join(self._work_dir, readers.CONFIG)):
            warnings.warn(f"{self._work_dir} was already analysed: use overwrite=True to run again", stacklevel=2)
            return None
        with tempfile.TemporaryDirectory(prefix="winnow-run-") as scratch:
            arguments += _annotation_arguments(annotations, scratch)
            if embeddings is not None:
                arguments += ["--embeddings", _local_path(embeddings, "embeddings")]
            output = _binary.run(
                ["run", *inputs, "--work-dir", self._work_dir, *arguments], progress or _print_progress
            )
        if print_summary:
            print(output, end="")
        return 0

    def _inputs(self, input_dir: Union[PathLike, Sequence[PathLike], None]) -> List[str]:
        """The run's inputs as absolute paths (and remembered as the controller's)."""
        given = self._input_dir if input_dir is None else input_dir
        if given is None:
            raise ValueError("no input: give run(input_dir=…) or create(input_dir=…)")
        self._input_dir = given
        paths = [given] if isinstance(given, (str, os.PathLike)) else list(given)
        return [_local_path(path, "input_dir") for path in paths]

    # The work_dir's findings.

    def annotations(self, valid_only: bool = True) -> pd.DataFrame:
        """Every file of the run: ``index, filename, error_code`` (``VALID`` or the error),
        ``is_valid``, ``reason``, plus ``label`` / ``split`` when the run had them; indexed by
        ``index`` as fastdup's. ``valid_only`` keeps the images that decoded."""
        valid = readers.read_feature_list(self._work_dir)
        valid = valid.assign(error_code="VALID", is_valid=True, reason="")
        bad = readers.read_bad_files(self._work_dir).drop(columns=["filesize"]).assign(is_valid=False)
        frame = pd.concat([valid, bad[valid.columns]], ignore_index=True) if len(bad) else valid
        frame = _merge_annotations(frame.sort_values("index", kind="stable"), self._annotation_frame())
        if valid_only:
            frame = frame[frame["is_valid"]]
        return _indexed(frame.astype({"error_code": object, "reason": object}))

    def num_instances(self, valid_only: bool = True) -> int:
        """How many files the run saw (``valid_only``: how many decoded)."""
        return len(self.annotations(valid_only=valid_only))

    def invalid_instances(self) -> pd.DataFrame:
        """The files that could not be used (``atrain_features.bad.csv``): ``index, filename,
        error_code, filesize, reason, is_valid`` (+ ``label`` / ``split``)."""
        bad = readers.read_bad_files(self._work_dir).assign(is_valid=False)
        return _indexed(_merge_annotations(bad, self._annotation_frame()))

    def similarity(self, data: bool = True, split: Union[str, List[str], None] = None) -> pd.DataFrame:
        """Similar pairs (``similarity.csv``): ``from, to, distance`` (a similarity, most
        similar first) and, with ``data``, ``filename_from``, ``filename_to`` (+ ``label_*``,
        ``split_*``). ``split`` keeps pairs whose two images are in that split (or splits)."""
        return self._with_names(readers.read_similarity(self._work_dir), ["from", "to"], data, split, True)

    def reference_matches(self) -> pd.DataFrame:
        """The images of this run that copy images of the reference work_dir given to
        ``run(reference=...)`` (``reference_matches.csv``): ``index, filename, reference_index,
        reference_filename, similarity, global_similarity, verified``, most similar first per image."""
        return readers.read_reference_matches(self._work_dir)

    def outliers(self, data: bool = True, split: Union[str, List[str], None] = None) -> pd.DataFrame:
        """One row per outlier (``outliers.csv``), most isolated first: ``outlier, nearest,
        distance`` — its nearest neighbour and their similarity — and, with ``data``,
        ``filename_outlier``, ``filename_nearest`` (+ ``label_*``, ``split_*``)."""
        pairs = readers.read_outliers(self._work_dir).rename(columns={"from": "outlier", "to": "nearest"})
        nearest = pairs.sort_values("distance", ascending=False, kind="stable").groupby("outlier").head(1)
        nearest = nearest.sort_values("distance", kind="stable").reset_index(drop=True)
        return self._with_names(nearest, ["outlier", "nearest"], data, split, True)

    def connected_components(
        self, data: bool = True, split: Union[str, List[str], None] = None
    ) -> Tuple[pd.DataFrame, pd.DataFrame]:
        """Images in components of two or more (``connected_components.csv``, fastdup's
        ``__id`` as ``index``): ``index, component_id, count, mean_distance, min_distance,
        max_distance`` (+ ``filename``, ``label``, ``split`` with ``data``), and the components
        (``component_info.csv``: ``component_id, count, mean, min, max``)."""
        members = readers.read_components(self._work_dir)
        members = members[members["count"] >= 2].rename(columns={"__id": "index"}).reset_index(drop=True)
        info = readers.read_component_info(self._work_dir)
        return self._with_names(members, ["index"], data, split, False), info

    def connected_components_grouped(
        self, sort_by: str = "comp_size", ascending: bool = True, metric: Optional[str] = None
    ) -> pd.DataFrame:
        """One row per component: ``files``, ``component_id``, ``files_ids``, ``distance``
        (its lowest similarity), ``label`` (lists, with labels), ``len`` and, given ``metric``
        (an ``img_stats()`` column such as ``blur`` or ``mean``), the members' mean of it.
        ``sort_by`` is ``comp_size`` (``len``) or a column."""
        members, _ = self.connected_components()
        if metric is not None:
            members = members.merge(self._metric(metric), on="index", how="left")
        groups = members.groupby("component_id", sort=True)
        files = groups["filename"].apply(list)
        frame = pd.DataFrame({
            "files": files.to_numpy(),
            "component_id": files.index.to_numpy(),
            "files_ids": groups["index"].apply(list).to_numpy(),
            "distance": groups["min_distance"].min().to_numpy(),
        })
        if "label" in members.columns:
            frame["label"] = groups["label"].apply(list).values
        frame["len"] = frame["files"].apply(len)
        if metric is not None:
            frame[metric] = groups[metric].mean().values
        column = "len" if sort_by == "comp_size" else sort_by
        if column not in frame.columns:
            raise ValueError(f"sort_by {sort_by!r}: not a column ({', '.join(frame.columns)})")
        return frame.sort_values(column, ascending=ascending, kind="stable").reset_index(drop=True)

    def _metric(self, metric: str) -> pd.DataFrame:
        """``index`` and one ``img_stats()`` column."""
        stats = self.img_stats(data=False)
        if metric not in stats.columns:
            raise ValueError(f"metric {metric!r}: not an img_stats() column ({', '.join(stats.columns)})")
        return stats[["index", metric]]

    def img_stats(self, data: bool = True, split: Union[str, List[str], None] = None) -> pd.DataFrame:
        """fastdup's image statistics (``atrain_stats.csv``), one row per decoded image:
        ``index, img_w, img_h, unique, blur, mean, min, max, stdv, file_size, contrast``
        (width and height named as fastdup's controller names them) + ``filename`` with ``data``."""
        stats = readers.read_statistics(self._work_dir).rename(columns={"width": "img_w", "height": "img_h"})
        return self._with_names(stats, ["index"], data, split, False)

    def issues(self) -> pd.DataFrame:
        """The quality issues found (from the SQLite catalog): ``index, filename, issue, score``,
        one row per issue of an image (``blurry``, ``dark``, ``bright``, ``low_information``,
        ``odd_aspect_ratio``, ``grayscale``, ``odd_size``, ``tiny``)."""
        return readers.read_issues(self._work_dir)

    def embeddings(self, d: Optional[int] = None) -> Tuple[List[str], np.ndarray]:
        """The file names and the float32 feature matrix (memory-mapped, one row per name) from
        ``atrain_features.dat(.csv)``. ``d``, if given, is checked against the width."""
        names = readers.read_feature_list(self._work_dir)
        matrix = readers.read_features(self._work_dir, len(names))
        if d is not None and matrix.shape[1] != d:
            raise ValueError(f"the embeddings are {matrix.shape[1]}-d, not {d}-d")
        return names["filename"].tolist(), matrix

    def summary(self, verbose: bool = True) -> List[str]:
        """The run's findings as sentences (from ``summary.json``), printed when ``verbose``."""
        lines = summary_lines(self._work_dir)
        if verbose:
            print("\nDataset Analysis Summary:\n")
            for line in lines:
                print(f"    {line}")
        return lines

    def search(self, image: PathLike, k: int = 10, threshold: Optional[float] = None) -> pd.DataFrame:
        """The ``k`` images of the work_dir most similar to ``image`` (``winnow search``), most
        similar first: ``from`` (the query), ``to`` (a file of the work_dir), ``distance``
        (their similarity, as in ``similarity()``), ``index`` (of ``to``)."""
        arguments = ["search", self._work_dir, "--image", _local_path(image, "image"), "-k", str(k), "--json"]
        if threshold is not None:
            arguments += ["--threshold", str(threshold)]
        found = json.loads(_binary.run(arguments))
        frame = pd.DataFrame({
            "from": [os.fspath(image)] * len(found),
            "to": [hit["filename"] for hit in found],
            "distance": [float(hit["similarity"]) for hit in found],
            "index": [int(hit["index"]) for hit in found],
        })
        return frame.astype({"from": object, "to": object, "distance": "float64", "index": "int64"})

    # Joining file names and annotations.

    def _annotation_frame(self) -> Optional[pd.DataFrame]:
        """``index`` with ``label`` and ``split`` of each image, when the run had them:
        ``label_scores.csv`` (annotations), else the folder splits of ``scores.csv``."""
        if os.path.isfile(os.path.join(self._work_dir, readers.LABEL_SCORES)):
            frame = readers.read_label_scores(self._work_dir)[["index", *_ANNOTATION_COLUMNS]]
        elif os.path.isfile(os.path.join(self._work_dir, readers.SCORES)):
            frame = readers.read_scores(self._work_dir)[["index", "split"]]
        else:
            return None
        keep = [column for column in _ANNOTATION_COLUMNS if column in frame and (frame[column] != "").any()]
        return frame[["index", *keep]] if keep else None

    def _names(self) -> pd.DataFrame:
        """``index, filename`` (+ ``label``, ``split``) of every file of the run."""
        return self.annotations(valid_only=False).reset_index(drop=True).drop(
            columns=["error_code", "is_valid", "reason"]
        )

    def _with_names(
        self, frame: pd.DataFrame, id_columns: List[str], data: bool, split: Union[str, List[str], None], suffix: bool
    ) -> pd.DataFrame:
        """``frame`` with the file name (and label, split) of each id column, suffixed
        ``_<column>`` when ``suffix``; filtered to ``split``; only its own columns unless ``data``."""
        if not data and split is None:
            return frame
        own = list(frame.columns)
        names = self._names()
        if split is not None and "split" not in names.columns:
            raise ValueError("split: this run has no splits (no annotations with a split column, no split folders)")
        merged = frame
        for column in id_columns:
            right = names.rename(columns={"index": column} if suffix else {})
            if suffix:
                right = right.rename(columns={name: f"{name}_{column}" for name in names.columns if name != "index"})
            merged = merged.merge(right, on=column, how="left")
        if split is not None:
            wanted = [split] if isinstance(split, str) else list(split)
            for column in id_columns:
                merged = merged[merged[f"split_{column}" if suffix else "split"].isin(wanted)]
        merged = merged.reset_index(drop=True)
        return merged if data else merged[own]


def _indexed(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` indexed by its ``index`` column, as fastdup's annotation frames are."""
    frame = frame.reset_index(drop=True)
    frame.index = pd.Index(frame["index"].to_numpy(), name=None)
    return frame


def _merge_annotations(frame: pd.DataFrame, annotations: Optional[pd.DataFrame]) -> pd.DataFrame:
    """``frame`` with the label and split of each ``index`` (unlabelled: empty)."""
    if annotations is None:
        return frame
    merged = frame.merge(annotations, on="index", how="left")
    for column in annotations.columns.drop("index"):
        merged[column] = merged[column].fillna("")
    return merged


def _annotation_arguments(annotations: Union[PathLike, pd.DataFrame, Dict[str, Any], None], scratch: str) -> List[str]:
    """``--annotations FILE``: a path as given, a DataFrame as CSV, a COCO dict as JSON
    (written in ``scratch``)."""
    if annotations is None:
        return []
    if isinstance(annotations, pd.DataFrame):
        path = os.path.join(scratch, "annotations.csv")
        annotations.to_csv(path, index=False)
    elif isinstance(annotations, dict):
        path = os.path.join(scratch, "annotations.json")
        with open(path, "w", encoding="utf-8") as file:
            json.dump(annotations, file)
    else:
        path = _local_path(annotations, "annotations")
    return ["--annotations", path]


def _local_path(path: Any, name: str) -> str:
    """``path`` as an absolute path; ``TypeError`` for something that is not a path."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), not {type(path).__name__}")
    return os.path.abspath(os.fspath(path))


def _print_progress(line: str) -> None:
    """The default progress handler: the line on standard error."""
    print(line, file=sys.stderr, flush=True)
