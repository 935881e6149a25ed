"""run(): options reach the binary, progress streams, failures become exceptions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import winnow
from winnow.options import run_arguments


def test_progress_lines_arrive_while_the_binary_runs(set_a) -> None:
    progress = [(when, line) for when, line in set_a.lines if line.startswith("decode:")]
    assert progress, f"no decode progress among {set_a.lines[:5]}"
    first, _ = progress[0]
    assert set_a.finished - first > 0.5, "progress arrived only when the run ended"
    assert progress[-1][1].startswith("decode: 248/248")


def test_fastdup_keywords_reach_the_run(broken_set) -> None:
    analysis = broken_set.controller.config["analysis"]
    assert analysis["threshold"] == 0.0
    assert analysis["nearestNeighborsK"] == 3
    assert analysis["componentThreshold"] == 0.5


def test_broken_files_are_reported_in_progress(broken_set) -> None:
    warnings = [line for _, line in broken_set.lines if line.startswith("warning:")]
    assert any("empty.jpg" in line and "ZERO_SIZE_FILE" in line for line in warnings), warnings
    assert any("truncated.jpg" in line for line in warnings), warnings


def test_a_missing_input_raises_winnow_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    with pytest.raises(winnow.WinnowError) as raised:
        winnow.create(work_dir=tmp_path / "work", input_dir=missing).run(progress=lambda line: None)
    assert str(missing) in str(raised.value)
    assert raised.value.status == 66
    assert isinstance(raised.value, RuntimeError)
    assert "\n" not in raised.value.message


def test_an_option_out_of_range_raises_the_binarys_message(broken_set, tmp_path: Path) -> None:
    controller = winnow.create(work_dir=tmp_path / "work", input_dir=broken_set.images)
    with pytest.raises(winnow.WinnowError, match=r"--threshold must be in") as raised:
        controller.run(threshold=2, progress=lambda line: None)
    assert raised.value.status == 64


def test_an_unknown_keyword_raises_type_error_naming_it(tmp_path: Path) -> None:
    controller = winnow.create(work_dir=tmp_path / "work", input_dir=tmp_path)
    with pytest.raises(TypeError, match="turbo_mode"):
        controller.run(turbo_mode=True)
    with pytest.raises(TypeError, match="ccthreshold"):
        controller.run(cc_threshold=0.9, ccthreshold=0.8)
    assert not (tmp_path / "work").exists()


def test_overwrite_false_leaves_an_analysed_work_dir_alone(set_a) -> None:
    with pytest.warns(UserWarning, match="already analysed"):
        assert set_a.controller.run(overwrite=False) is None


def test_keywords_map_to_winnow_options() -> None:
    arguments = run_arguments({
        "num_images": 10, "nnf_mode": "HNSW32", "model_path": Path("/m.onnx"), "mean": [0.5, 0.4, 0.3],
        "no_verify": True, "export_npy": False, "outlier_percentile": None, "blurry_sharpness": 50.5,
    })
    assert arguments == [
        "--num-images", "10", "--index", "hnsw", "--model", "/m.onnx", "--mean", "0.5,0.4,0.3",
        "--no-verify", "--blurry-sharpness", "50.5",
    ]
    with pytest.raises(ValueError):
        run_arguments({"no_verify": "yes"})


def test_a_missing_binary_says_to_set_winnow_bin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WINNOW_BIN", str(tmp_path / "nothing-here"))
    with pytest.raises(winnow.BinaryNotFoundError, match="WINNOW_BIN"):
        winnow.find_binary()
    monkeypatch.delenv("WINNOW_BIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(winnow.BinaryNotFoundError, match="WINNOW_BIN"):
        winnow.create(work_dir=tmp_path / "w").search(tmp_path / "q.jpg")


def test_a_reference_run_finds_its_images_in_the_reference(set_a, corpus: Path, tmp_path: Path) -> None:
    folder = tmp_path / "new"
    folder.mkdir()
    photos = sorted(p for p in (corpus / "images").iterdir() if p.suffix == ".jpg")[:3]
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    controller = winnow.create(work_dir=tmp_path / "work", input_dir=folder)
    assert controller.run(reference=set_a.controller.work_dir, progress=lambda line: None, print_summary=False) == 0
    matches = controller.reference_matches()
    assert list(matches.columns) == ["index", "filename", "reference_index", "reference_filename", "similarity",
                                     "global_similarity", "verified"]
    found = {(Path(a).name, Path(b).name) for a, b in zip(matches["filename"], matches["reference_filename"])}
    assert {(p.name, p.name) for p in photos} <= found, found
