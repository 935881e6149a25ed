"""``run(**kwargs)`` keywords → ``winnow run`` options.

fastdup's keyword names map to the Winnow option that does the same; every other
``winnow run`` option is also accepted under its own name in snake_case
(``--blurry-sharpness`` → ``blurry_sharpness``). A keyword that maps to nothing raises
``TypeError`` naming it: nothing is silently ignored.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Tuple

#: fastdup's ``run()`` keywords (and their spellings in fastdup's ``turi_param``) that have a
#: Winnow equivalent → the ``winnow run`` option.
FASTDUP_OPTIONS: Dict[str, str] = {
    "model_path": "--model",
    "distance": "--distance",
    "nearest_neighbors_k": "--nearest-neighbors-k",
    "threshold": "--threshold",
    "outlier_percentile": "--outlier-percentile",
    "num_threads": "--threads",
    "num_images": "--num-images",
    "cc_threshold": "--cc-threshold",
    "ccthreshold": "--cc-threshold",
    "nnf_mode": "--index",
    "find_regex": "--find-regex",
    "bounding_box": "--bounding-box",
    "min_offset": "--min-offset",
    "max_offset": "--max-offset",
    "min_file_size": "--min-file-size",
    "data_type": "--data-type",
}

#: Winnow's own ``winnow run`` options that take a value, by keyword.
VALUE_OPTIONS: Tuple[str, ...] = (
    "model", "input_size", "mean", "std", "outlier_how", "near_duplicate_distance", "index",
    "dark_brightness", "bright_brightness", "blurry_sharpness", "blurry_directional_sharpness",
    "low_information_entropy", "odd_aspect_ratio", "tiny_side", "predictions", "annotation_format",
    "label_column", "alpha", "slice", "slice_split", "max_image_pixels", "max_file_bytes",
    "threads", "max_memory", "reference",
)

#: Winnow's ``winnow run`` switches (``True`` adds the switch, ``False`` leaves it out).
FLAG_OPTIONS: Tuple[str, ...] = (
    "bgr", "no_embeddings", "export_npy", "no_verify", "no_screen", "use_logits", "copy_missing",
    "force_square", "stages", "wait", "quiet",
)

#: fastdup's ``nnf_mode`` values → Winnow's ``--index`` kinds.
_NNF_MODES: Dict[str, str] = {"hnsw": "hnsw", "flat": "flat", "ivf": "ivf"}


def option_for(keyword: str) -> str:
    """The ``winnow run`` option of a keyword; ``TypeError`` naming an unknown keyword."""
    if keyword in FASTDUP_OPTIONS:
        return FASTDUP_OPTIONS[keyword]
    if keyword in VALUE_OPTIONS or keyword in FLAG_OPTIONS:
        return "--" + keyword.replace("_", "-")
    raise TypeError(
        f"run() got an unexpected keyword argument {keyword!r} (no matching `winnow run` option; "
        "see `winnow run --help`)"
    )


def run_arguments(keywords: Mapping[str, Any]) -> List[str]:
    """The ``winnow run`` arguments for ``keywords`` (``None`` values are left out).

    Raises ``TypeError`` for an unknown keyword or two keywords for the same option
    (``cc_threshold`` and ``ccthreshold``), ``ValueError`` for a value the option cannot take.
    """
    arguments: List[str] = []
    given: Dict[str, str] = {}
    for keyword, value in keywords.items():
        option = option_for(keyword)
        if value is None:
            continue
        if option in given:
            raise TypeError(f"run() got {given[option]!r} and {keyword!r}, which both set {option}")
        given[option] = keyword
        arguments += _option_arguments(keyword, option, value)
    return arguments


def _option_arguments(keyword: str, option: str, value: Any) -> List[str]:
    """One option's arguments: a switch, or the option and its value as text."""
    if keyword in FLAG_OPTIONS:
        if not isinstance(value, bool):
            raise ValueError(f"{keyword} is a switch: True or False, not {value!r}")
        return [option] if value else []
    if keyword == "nnf_mode":
        value = _index_kind(value)
    return [option, _text(value)]


def _index_kind(nnf_mode: str) -> str:
    """fastdup's ``nnf_mode`` (``HNSW32``, ``Flat``, ``IVF…``) as a Winnow index kind."""
    for prefix, kind in _NNF_MODES.items():
        if str(nnf_mode).lower().startswith(prefix):
            return kind
    raise ValueError(f"nnf_mode {nnf_mode!r}: Winnow's indexes are HNSW, Flat and IVF")


def _text(value: Any) -> str:
    """An option value as the command line takes it: lists comma-separated, paths as text."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a value for an option that takes one")
    if isinstance(value, (list, tuple)):
        return ",".join(_text(item) for item in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)
