"""Readers of a work_dir's files, one per file kind, each with the file's typed columns.

The names and columns are those Winnow writes (``Sources/WinnowCore/Outputs/WorkDirSchema``),
which are fastdup's where fastdup has the file. Every reader raises ``FileNotFoundError``
when the file is missing and ``ValueError`` when a column is missing.
"""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any, Dict, List, Mapping, Tuple

import numpy as np
import pandas as pd

#: Column types: ``int`` (required integer), ``"Int64"`` (integer or empty), ``float``,
#: ``bool`` (written 0/1), ``str``.
Columns = Mapping[str, Any]

FEATURE_LIST = "atrain_features.dat.csv"
FEATURES = "atrain_features.dat"
BAD_FILES = "atrain_features.bad.csv"
STATISTICS = "atrain_stats.csv"
SIMILARITY = "similarity.csv"
OUTLIERS = "outliers.csv"
COMPONENTS = "connected_components.csv"
COMPONENT_INFO = "component_info.csv"
SCORES = "scores.csv"
LABEL_SCORES = "label_scores.csv"
REFERENCE_MATCHES = "reference_matches.csv"
SUMMARY = "summary.json"
CONFIG = "config.json"
CATALOG = "winnow.sqlite"

FEATURE_LIST_COLUMNS: Columns = {"index": int, "filename": str}
BAD_FILE_COLUMNS: Columns = {"index": int, "filename": str, "error_code": str, "filesize": int, "reason": str}
STATISTICS_COLUMNS: Columns = {
    "index": int, "width": int, "height": int, "unique": int, "blur": float, "mean": float,
    "min": float, "max": float, "stdv": float, "file_size": int, "contrast": float,
}
PAIR_COLUMNS: Columns = {"from": int, "to": int, "distance": float}
COMPONENT_COLUMNS: Columns = {
    "__id": int, "component_id": int, "count": int, "mean_distance": float,
    "min_distance": float, "max_distance": float,
}
COMPONENT_INFO_COLUMNS: Columns = {"component_id": int, "count": int, "mean": float, "min": float, "max": float}
SCORES_COLUMNS: Columns = {
    "index": int, "filename": str, "uniqueness": float, "representativeness": float,
    "representativeness_fiftyone": float, "kmeans_cluster": int, "nn_similarity": float,
    "component_id": int, "is_outlier": bool, "split": str,
}
LABEL_SCORE_COLUMNS: Columns = {"index": int, "filename": str, "label": str, "split": str}
REFERENCE_MATCH_COLUMNS: Columns = {
    "index": int, "filename": str, "reference_index": int, "reference_filename": str,
    "similarity": float, "global_similarity": float, "verified": bool,
}


def read_csv(work_dir: str, name: str, columns: Columns) -> pd.DataFrame:
    """The CSV file ``name`` of ``work_dir`` with ``columns`` typed (other columns as text).

    Only an empty field is missing (a file named ``NA`` stays a name); a missing text field
    reads as ``""``, a missing optional integer as ``<NA>``.
    """
    path = _existing(work_dir, name)
    numeric = [column for column, kind in columns.items() if kind is not str]
    frame = pd.read_csv(
        path, dtype=str, keep_default_na=False, na_values={column: [""] for column in numeric}
    )
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(missing)} (columns: {', '.join(frame.columns)})")
    for column, kind in columns.items():
        frame[column] = _typed(frame[column], kind)
    return frame


def _typed(values: pd.Series, kind: Any) -> pd.Series:
    """A column of text converted to ``kind``."""
    if kind is str:
        return values.astype(object)
    if kind is bool:
        return values.astype("int64").astype(bool)
    if kind is int:
        return values.astype("int64")
    if kind is float:
        return values.astype("float64")
    return values.astype(kind)


def _existing(work_dir: str, name: str) -> str:
    """The path of ``name`` in ``work_dir``; ``FileNotFoundError`` when it is not there."""
    path = os.path.join(work_dir, name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: run winnow on this work_dir first (run())")
    return path


def read_feature_list(work_dir: str) -> pd.DataFrame:
    """``atrain_features.dat.csv``: ``index,filename`` of the images that decoded, in the order
    of the feature rows."""
    return read_csv(work_dir, FEATURE_LIST, FEATURE_LIST_COLUMNS)


def read_bad_files(work_dir: str) -> pd.DataFrame:
    """``atrain_features.bad.csv``: ``index,filename,error_code,filesize,reason`` of each file
    that could not be used."""
    return read_csv(work_dir, BAD_FILES, BAD_FILE_COLUMNS)


def read_statistics(work_dir: str) -> pd.DataFrame:
    """``atrain_stats.csv``: fastdup's statistics, one row per decoded image."""
    return read_csv(work_dir, STATISTICS, STATISTICS_COLUMNS)


def read_similarity(work_dir: str) -> pd.DataFrame:
    """``similarity.csv``: ``from,to,distance`` (distance is a similarity, as in fastdup)."""
    return read_csv(work_dir, SIMILARITY, PAIR_COLUMNS)


def read_reference_matches(work_dir: str) -> pd.DataFrame:
    """``reference_matches.csv`` (``run(reference=...)``): each image that copies a reference image."""
    return read_csv(work_dir, REFERENCE_MATCHES, REFERENCE_MATCH_COLUMNS)


def read_outliers(work_dir: str) -> pd.DataFrame:
    """``outliers.csv``: ``from,to,distance`` — each outlier, a near neighbour, their similarity."""
    return read_csv(work_dir, OUTLIERS, PAIR_COLUMNS)


def read_components(work_dir: str) -> pd.DataFrame:
    """``connected_components.csv``: every image (``__id``) with its component and the
    component's size and similarities."""
    return read_csv(work_dir, COMPONENTS, COMPONENT_COLUMNS)


def read_component_info(work_dir: str) -> pd.DataFrame:
    """``component_info.csv``: one row per component of two or more images."""
    return read_csv(work_dir, COMPONENT_INFO, COMPONENT_INFO_COLUMNS)


def read_scores(work_dir: str) -> pd.DataFrame:
    """``scores.csv``: uniqueness, representativeness, nearest similarity, component and
    split of every embedded image."""
    return read_csv(work_dir, SCORES, SCORES_COLUMNS)


def read_label_scores(work_dir: str) -> pd.DataFrame:
    """``label_scores.csv`` (runs with annotations): each labelled image's label, split and
    label scores (the columns beyond ``index,filename,label,split`` as text)."""
    return read_csv(work_dir, LABEL_SCORES, LABEL_SCORE_COLUMNS)


def read_features(work_dir: str, rows: int) -> np.ndarray:
    """``atrain_features.dat``: raw float32 rows, ``rows`` of them, memory-mapped read-only.

    The width is the file's size over ``rows``; a size that is not a whole number of rows
    raises ``ValueError``.
    """
    path = _existing(work_dir, FEATURES)
    size = os.path.getsize(path)
    if rows == 0 or size == 0:
        return np.zeros((rows, 0), dtype=np.float32)
    if size % (4 * rows):
        raise ValueError(f"{path}: {size} bytes is not {rows} rows of float32")
    return np.memmap(path, dtype=np.float32, mode="r", shape=(rows, size // (4 * rows)))


def read_json(work_dir: str, name: str) -> Dict[str, Any]:
    """A JSON file of the work_dir (``summary.json``, ``config.json``)."""
    with open(_existing(work_dir, name), encoding="utf-8") as file:
        return json.load(file)


def read_issues(work_dir: str) -> pd.DataFrame:
    """The catalog's quality issues (``winnow.sqlite``): ``index,filename,issue,score`` for each
    issue of each image the last run listed, the score being the measurement that decided."""
    path = _existing(work_dir, CATALOG)
    query = (
        "SELECT s.id AS \"index\", s.filename AS filename, i.issue AS issue, i.score AS score "
        "FROM issues i JOIN samples s ON s.id = i.sample_id WHERE s.listed = 1 ORDER BY s.id, i.issue"
    )
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows: List[Tuple[Any, ...]] = connection.execute(query).fetchall()
    finally:
        connection.close()
    frame = pd.DataFrame(rows, columns=["index", "filename", "issue", "score"])
    return frame.astype({"index": "int64", "filename": object, "issue": object, "score": "float64"})
