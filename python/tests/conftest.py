"""Session fixtures: the real ``winnow`` binary run once on corpus set A (real photos with
planted copies) and once on a small folder with broken files; the tests read the results."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Tuple

import pandas as pd
import pytest

import winnow

#: The valid photos of the broken-files folder, with their label and split.
BROKEN_SET_LABELS = [("a", "train"), ("b", "train"), ("a", "val"), ("b", "val")]


def corpus_a() -> Path:
    """Corpus set A (``scripts/prepare-corpus.sh A 100 0``): ``images/``, ``pairs.csv``."""
    cache = Path(os.environ.get("WINNOW_CACHE", Path.home() / ".cache" / "winnow"))
    root = Path(os.environ.get("WINNOW_CORPUS", cache / "corpus")) / "A"
    if not (root / "images").is_dir() or not (root / "pairs.csv").is_file():
        pytest.fail(f"{root}: corpus set A missing: run `bash scripts/prepare-corpus.sh A 100 0`")
    return root


@dataclass
class Run:
    """A finished run: its controller, input folder and the progress lines it streamed."""

    controller: winnow.WinnowController
    images: Path
    lines: List[Tuple[float, str]] = field(default_factory=list)
    finished: float = 0.0


@pytest.fixture(scope="session")
def corpus() -> Path:
    return corpus_a()


@pytest.fixture(scope="session")
def copy_pairs(corpus: Path) -> pd.DataFrame:
    """The true copy pairs of set A (``file_a``, ``file_b``: base names)."""
    pairs = pd.read_csv(corpus / "pairs.csv")
    return pairs[pairs["label"] == "duplicate"].reset_index(drop=True)


@pytest.fixture(scope="session")
def set_a(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``winnow run`` (default copy model) over set A, progress lines timed as they arrive."""
    work = tmp_path_factory.mktemp("set-a") / "work"
    run = Run(winnow.create(work_dir=work, input_dir=corpus / "images"), corpus / "images")
    assert run.controller.run(progress=lambda line: run.lines.append((time.monotonic(), line)), print_summary=False) == 0
    run.finished = time.monotonic()
    return run


@pytest.fixture(scope="session")
def broken_set(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Four photos of set A, an empty ``.jpg`` and a truncated JPEG, run with labels and
    splits (a DataFrame) and fastdup keywords."""
    folder = tmp_path_factory.mktemp("broken") / "images"
    folder.mkdir()
    photos = sorted(p for p in (corpus / "images").iterdir() if p.suffix == ".jpg")[:4]
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(photos[0].read_bytes()[:4000])
    labels = pd.DataFrame({
        "filename": [p.name for p in photos],
        "label": [label for label, _ in BROKEN_SET_LABELS],
        "split": [split for _, split in BROKEN_SET_LABELS],
    })
    run = Run(winnow.create(work_dir=folder.parent / "work"), folder)
    status = run.controller.run(
        input_dir=str(folder), annotations=labels, threshold=0.0, nearest_neighbors_k=3, ccthreshold=0.5,
        progress=lambda line: run.lines.append((time.monotonic(), line)), print_summary=False,
    )
    assert status == 0
    return run
