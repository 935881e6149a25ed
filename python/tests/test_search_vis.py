"""search() and the galleries: the real binary's answers and pages."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import winnow


def test_search_finds_the_image_itself_first(set_a, copy_pairs) -> None:
    query = set_a.images / copy_pairs["file_a"][0]
    found = set_a.controller.search(query, k=3)
    assert list(found.columns) == ["from", "to", "distance", "index"]
    assert len(found) == 3 and found["distance"].is_monotonic_decreasing
    assert os.path.basename(found["to"][0]) == query.name
    assert found["distance"][0] == pytest.approx(1.0, abs=1e-3)


def test_search_with_a_copy_from_outside_finds_the_original_or_its_copy(set_a, copy_pairs, tmp_path: Path) -> None:
    original = copy_pairs["file_a"][1]
    outside = tmp_path / "query.jpg"
    shutil.copy(set_a.images / original, outside)
    copies = {original} | set(copy_pairs[copy_pairs["file_a"] == original]["file_b"]) | set(
        copy_pairs[copy_pairs["file_b"] == original]["file_a"]
    )
    found = set_a.controller.search(outside, k=5)
    assert os.path.basename(found["to"][0]) in copies
    assert (found["from"] == str(outside)).all()
    names, _ = set_a.controller.embeddings()
    assert names[found["index"][0]] == found["to"][0]


def test_search_of_a_missing_image_raises_winnow_error(set_a, tmp_path: Path) -> None:
    missing = tmp_path / "missing.jpg"
    with pytest.raises(winnow.WinnowError) as raised:
        set_a.controller.search(missing)
    assert str(missing) in str(raised.value)


def test_galleries_write_html_pages(set_a, tmp_path: Path) -> None:
    pages = {
        "duplicates.html": set_a.controller.vis.duplicates_gallery(num_images=5, show=False),
        "outliers.html": set_a.controller.vis.outliers_gallery(show=False),
        "components.html": set_a.controller.vis.component_gallery(max_items=3, show=False),
        "stats_blur.html": set_a.controller.vis.stats_gallery(metric="blur", ascending=True, show=False),
    }
    for name, page in pages.items():
        assert page == os.path.join(set_a.controller.work_dir, "galleries", name)
        text = Path(page).read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>") and "data:image/jpeg;base64," in text
    assert "5 of " in Path(pages["duplicates.html"]).read_text(encoding="utf-8")


def test_a_gallery_saved_elsewhere_is_a_copy(set_a, tmp_path: Path) -> None:
    saved = set_a.controller.vis.similarity_gallery(save_path=str(tmp_path), neighbors=2, show=False)
    assert saved == str(tmp_path / "similarity.html") and Path(saved).is_file()
    with pytest.raises(ValueError, match="lazy_load"):
        set_a.controller.vis.duplicates_gallery(save_path=str(tmp_path), lazy_load=True, show=False)


def test_a_gallery_of_a_work_dir_never_run_raises_winnow_error(tmp_path: Path) -> None:
    with pytest.raises(winnow.WinnowError, match="not a Winnow work_dir"):
        winnow.create(work_dir=tmp_path).vis.duplicates_gallery(show=False)

