"""The DataFrame readers: fastdup's columns, filled from the work_dir the real binary wrote."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from conftest import BROKEN_SET_LABELS


def _base(path: str) -> str:
    return os.path.basename(path)


def test_similarity_has_fastdups_columns_and_finds_the_planted_copies(set_a, copy_pairs) -> None:
    similarity = set_a.controller.similarity()
    assert list(similarity.columns) == ["from", "to", "distance", "filename_from", "filename_to"]
    assert similarity["from"].dtype == np.int64 and similarity["distance"].dtype == np.float64
    threshold = set_a.controller.config["analysis"]["threshold"]
    assert (similarity["distance"] >= threshold - 1e-6).all()
    found = {frozenset((_base(a), _base(b))) for a, b in zip(similarity["filename_from"], similarity["filename_to"])}
    truth = {frozenset(pair) for pair in zip(copy_pairs["file_a"], copy_pairs["file_b"])}
    assert len(found & truth) >= 1
    assert len(found & truth) >= len(truth) / 2, f"{len(found & truth)} of {len(truth)} copy pairs"
    assert len(found & truth) >= len(found) / 2, f"{len(found - truth)} of {len(found)} pairs are not copies"
    assert list(set_a.controller.similarity(data=False).columns) == ["from", "to", "distance"]


def test_connected_components_have_fastdups_columns(set_a) -> None:
    members, info = set_a.controller.connected_components()
    assert list(members.columns) == [
        "index", "component_id", "count", "mean_distance", "min_distance", "max_distance", "filename",
    ]
    assert list(info.columns) == ["component_id", "count", "mean", "min", "max"]
    assert len(members) > 0 and (members["count"] >= 2).all()
    sizes = members.groupby("component_id").size()
    assert (sizes == info.set_index("component_id")["count"].reindex(sizes.index)).all()


def test_components_grouped_list_each_components_files(set_a) -> None:
    grouped = set_a.controller.connected_components_grouped(metric="blur")
    assert list(grouped.columns) == ["files", "component_id", "files_ids", "distance", "len", "blur"]
    members, _ = set_a.controller.connected_components()
    assert grouped["len"].sum() == len(members)
    assert grouped["len"].is_monotonic_increasing
    row = grouped.iloc[-1]
    assert sorted(row["files_ids"]) == sorted(members[members["component_id"] == row["component_id"]]["index"])
    assert all(len(files) == n for files, n in zip(grouped["files"], grouped["len"]))


def test_outliers_one_row_per_outlier_most_isolated_first(set_a) -> None:
    outliers = set_a.controller.outliers()
    assert list(outliers.columns) == ["outlier", "nearest", "distance", "filename_outlier", "filename_nearest"]
    assert outliers["outlier"].is_unique and outliers["distance"].is_monotonic_increasing
    summary = json.loads((Path(set_a.controller.work_dir) / "summary.json").read_text())
    assert len(outliers) == summary["outliers"]
    scores = pd.read_csv(Path(set_a.controller.work_dir) / "scores.csv").set_index("index")
    nearest = scores.loc[outliers["outlier"], "nn_similarity"].to_numpy()
    assert np.allclose(outliers["distance"].to_numpy(), nearest, atol=1e-6), "not each outlier's nearest neighbour"
    assert set(scores.index[scores["is_outlier"] == 1]) == set(outliers["outlier"])


def test_img_stats_one_row_per_valid_image(set_a, broken_set) -> None:
    stats = set_a.controller.img_stats()
    assert list(stats.columns) == [
        "index", "img_w", "img_h", "unique", "blur", "mean", "min", "max", "stdv", "file_size", "contrast", "filename",
    ]
    names = {p.name for p in set_a.images.iterdir()}
    assert len(stats) == len(names) and {_base(f) for f in stats["filename"]} == names
    assert (stats["img_w"] > 0).all() and (stats["file_size"] > 0).all()
    broken = broken_set.controller.img_stats()
    assert len(broken) == 4 and not {"empty.jpg", "truncated.jpg"} & {_base(f) for f in broken["filename"]}


def test_invalid_instances_list_the_broken_files(broken_set) -> None:
    invalid = broken_set.controller.invalid_instances()
    assert list(invalid.columns)[:6] == ["index", "filename", "error_code", "filesize", "reason", "is_valid"]
    codes = {_base(name): code for name, code in zip(invalid["filename"], invalid["error_code"])}
    assert codes["empty.jpg"] == "ERROR_ZERO_SIZE_FILE"
    assert codes["truncated.jpg"] == "ERROR_TRUNCATED_IMAGE"
    assert len(invalid) == 2 and not invalid["is_valid"].any()
    assert list(invalid.index) == list(invalid["index"])


def test_annotations_carry_validity_labels_and_splits(broken_set) -> None:
    everything = broken_set.controller.annotations(valid_only=False)
    assert list(everything.columns) == ["index", "filename", "error_code", "is_valid", "reason", "label", "split"]
    assert len(everything) == 6 and everything["is_valid"].sum() == 4
    valid = broken_set.controller.annotations()
    assert sorted(zip(valid["label"], valid["split"])) == sorted(BROKEN_SET_LABELS)
    assert broken_set.controller.num_instances() == 4


def test_split_keeps_pairs_inside_the_split(broken_set) -> None:
    similarity = broken_set.controller.similarity()
    assert {"label_from", "split_from", "label_to", "split_to"} <= set(similarity.columns)
    train = broken_set.controller.similarity(split="train")
    assert len(train) > 0 and len(train) < len(similarity)
    assert (train["split_from"] == "train").all() and (train["split_to"] == "train").all()


def test_embeddings_match_the_file_list(set_a) -> None:
    names, matrix = set_a.controller.embeddings()
    assert matrix.dtype == np.float32 and matrix.shape[0] == len(names) == 248
    summary = json.loads((Path(set_a.controller.work_dir) / "summary.json").read_text())
    assert matrix.shape[1] == summary["featureDimension"]
    assert np.isfinite(np.asarray(matrix)).all() and {_base(n) for n in names} == {p.name for p in set_a.images.iterdir()}
    try:
        set_a.controller.embeddings(d=matrix.shape[1] + 1)
    except ValueError as error:
        assert str(matrix.shape[1]) in str(error)
    else:
        raise AssertionError("a wrong d was accepted")


def test_issues_come_from_the_catalog(set_a) -> None:
    issues = set_a.controller.issues()
    assert list(issues.columns) == ["index", "filename", "issue", "score"]
    summary = json.loads((Path(set_a.controller.work_dir) / "summary.json").read_text())
    counts = issues.groupby("issue").size().to_dict()
    assert counts == {issue: n for issue, n in summary["issues"].items() if n}
    assert set(issues["index"]) <= set(set_a.controller.img_stats()["index"])


def test_summary_sentences_state_the_counts(broken_set, capsys) -> None:
    lines = broken_set.controller.summary()
    assert lines[0] == "Dataset contains 6 images"
    assert "invalid are 33.33% (2)" in lines[1]
    assert any("ZERO_SIZE_FILE 1" in line and "TRUNCATED_IMAGE 1" in line for line in lines)
    assert "Dataset Analysis Summary" in capsys.readouterr().out
    assert broken_set.controller.summary(verbose=False) == lines
    assert capsys.readouterr().out == ""


def test_frames_keep_names_that_look_like_missing_values(tmp_path: Path) -> None:
    from winnow import readers

    (tmp_path / "atrain_features.dat.csv").write_text("index,filename\n0,NA\n1,null\n")
    frame = readers.read_feature_list(str(tmp_path))
    assert frame["filename"].tolist() == ["NA", "null"] and frame["index"].dtype == np.int64
    assert isinstance(frame, pd.DataFrame)
