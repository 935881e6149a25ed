"""``summary()``: the run's counts (``summary.json``) as fastdup's summary sentences."""

from __future__ import annotations

import os
from typing import Any, Dict, List

from . import readers


def summary_lines(work_dir: str) -> List[str]:
    """The sentences of the summary of the run that wrote ``work_dir``."""
    counts = readers.read_json(work_dir, readers.SUMMARY)
    analysis = _analysis_config(work_dir)
    total = int(counts.get("files", 0))
    lines = _validity_lines(counts, total)
    lines += _component_lines(counts, total, work_dir, analysis)
    lines += _outlier_lines(counts, total, analysis)
    lines += _duplicate_lines(counts)
    lines += _issue_lines(counts, total)
    return lines


def _pct(part: int, total: int) -> str:
    """``part`` as a percentage of ``total``, two decimals."""
    return f"{100 * part / total:.2f}%" if total else "0.00%"


def _analysis_config(work_dir: str) -> Dict[str, Any]:
    """The ``analysis`` parameters of ``config.json`` (empty when there is none)."""
    if not os.path.isfile(os.path.join(work_dir, readers.CONFIG)):
        return {}
    return readers.read_json(work_dir, readers.CONFIG).get("analysis", {})


def _validity_lines(counts: Dict[str, Any], total: int) -> List[str]:
    """How many files, how many decoded, and the invalid ones by error code."""
    valid, invalid = int(counts.get("valid", 0)), int(counts.get("invalid", 0))
    lines = [
        f"Dataset contains {total:,d} images",
        f"Valid images are {_pct(valid, total)} ({valid:,d}) of the data, "
        f"invalid are {_pct(invalid, total)} ({invalid:,d}) of the data",
    ]
    if invalid:
        codes = ", ".join(f"{code} {n:,d}" for code, n in sorted(counts.get("invalidByCode", {}).items()))
        lines.append(f"Invalid files by error: {codes}. For a detailed analysis, use `.invalid_instances()`.")
    return lines


def _component_lines(counts: Dict[str, Any], total: int, work_dir: str, analysis: Dict[str, Any]) -> List[str]:
    """The similarity clusters: how many images are in one, the largest."""
    clustered, components = int(counts.get("imagesInComponents", 0)), int(counts.get("components", 0))
    lines = [
        f"Similarity:  {_pct(clustered, total)} ({clustered:,d}) belong to {components:,d} similarity clusters (components).",
        f"{_pct(total - clustered, total)} ({total - clustered:,d}) images do not belong to any similarity cluster.",
    ]
    if components and os.path.isfile(os.path.join(work_dir, readers.COMPONENT_INFO)):
        largest = int(readers.read_component_info(work_dir)["count"].max())
        lines.append(f"Largest cluster has {largest:,d} ({_pct(largest, total)}) images.")
    if "threshold" in analysis:
        lines.append(
            "For a detailed analysis, use `.connected_components()` (similarity threshold used is "
            f"{analysis['threshold']}, connected component threshold used is {analysis.get('componentThreshold')})."
        )
    return lines


def _outlier_lines(counts: Dict[str, Any], total: int, analysis: Dict[str, Any]) -> List[str]:
    """How many outliers, at which percentile."""
    outliers = int(counts.get("outliers", 0))
    percentile = 100 * float(analysis.get("outlierPercentile", 0.05))
    return [
        f"Outliers: {_pct(outliers, total)} ({outliers:,d}) of images are possible outliers, and fall in the "
        f"bottom {percentile:.2f}% of similarity values. For a detailed list of outliers, use `.outliers()`."
    ]


def _duplicate_lines(counts: Dict[str, Any]) -> List[str]:
    """Similar pairs, near duplicates, exact copies and leaks across splits."""
    lines = [
        f"Duplicates: {int(counts.get('similarPairs', 0)):,d} similar pairs (`.similarity()`), "
        f"{int(counts.get('nearDuplicates', 0)):,d} near duplicates, "
        f"{int(counts.get('exactDuplicateFiles', 0)):,d} exact copies in "
        f"{int(counts.get('exactDuplicateGroups', 0)):,d} groups."
    ]
    if int(counts.get("leaks", 0)):
        lines.append(f"Leaks: {int(counts['leaks']):,d} near copies across splits (leaks.csv).")
    return lines


def _issue_lines(counts: Dict[str, Any], total: int) -> List[str]:
    """One sentence per quality issue."""
    lines = [
        f"{issue.replace('_', ' ').capitalize()}: {_pct(int(n), total)} of images ({int(n):,d}) are flagged {issue}."
        for issue, n in sorted(counts.get("issues", {}).items())
    ]
    return lines + ["For more information, use `.img_stats()` and `.issues()`."]
