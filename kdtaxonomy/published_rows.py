"""Rows of ``published_results.tsv`` as reported results of catalog entries (torch-free).

:data:`METHOD_CONFIGS` maps the sources' row labels of catalogued methods to ``(entry id, configuration)``;
teacher- and student-alone rows (:data:`ALONE_ROLES`) are results of the KD entry (:data:`ALONE_HOME`) with
their role. :func:`result_of` turns one row into the mapping written under the entry's ``results`` (the
value as printed, the source's architecture names beside their registry keys, the repository provenance).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

METHOD_CONFIGS: dict[str, tuple[str, str]] = {
    "KD": ("hinton2015-distilling", "plain"),
    "FitNet": ("romero2015-fitnets", "main"),
    "AT": ("zagoruyko2017-attention-transfer", "activation-based"),
    "SP": ("tung2019-similarity-preserving", "main"),
    "CC": ("peng2019-correlation-congruence", "main"),
    "VID": ("ahn2019-vid", "main"),
    "RKD": ("park2019-rkd", "main"),
    "PKT": ("passalis2018-pkt", "network-to-network"),
    "NST": ("huang2017-nst", "main"),
    "CRD": ("tian2020-crd", "compression"),
    "DKD": ("zhao2022-dkd", "classification"),
    "DIST": ("huang2022-dist", "classification"),
    "Tf-KD": ("yuan2020-tf-kd", "self"),
    "ICKD": ("liu2021-ickd", "classification"),
    "AB": ("heo2019-activation-boundaries", "main"),
    "FT": ("kim2018-factor-transfer", "main"),
    "FSP": ("yim2017-fsp", "main"),
    "L2": ("zhang2020-pad", "l2"),
    "PAD-L2": ("zhang2020-pad", "pad-l2"),
    "KD+DOT": ("zhao2023-dot", "kd-dot"),
    "SRD": ("miles2024-srd", "classification"),
    "KR": ("chen2021-knowledge-review", "classification"),
    "SSKD": ("xu2020-sskd", "classification"),
}
"""Row label of a catalogued method -> (entry id, configuration)."""
ALONE_ROLES: dict[str, str] = {
    "teacher": "teacher",
    "student": "student-baseline",
    "Pretrained (ResNet-18, no distillation)": "student-baseline",
}
"""Row labels of a model trained alone -> its role."""
ALONE_HOME = METHOD_CONFIGS["KD"]
"""Where the alone rows live: the KD entry, the baseline every table compares against."""
MODEL_DATASETS = frozenset({"CIFAR-100"})
"""Datasets whose architecture names are the registry's CIFAR models (ImageNet's ResNet-50 is not)."""
METRIC_ID = "accuracy"
"""The metric vocabulary's id of top-1 accuracy."""
_PRINTED = re.compile(r"(-?\d+(?:\.\d+)?)([*\u2020\u2021]*)")
_COLUMN = re.compile(r'column "([^"]+)"')
_UNIT = re.compile(r"^(.*?)\s*\((%)\)$")


def home_of(method: str) -> tuple[str, str] | None:
    """(entry id, configuration) of a row label, or None for a method the catalog lacks."""
    if method in ALONE_ROLES:
        return ALONE_HOME
    return METHOD_CONFIGS.get(method)


def printed_number(text: str) -> tuple[float, str | None] | None:
    """(number, printed text where the number alone loses it) of a printed value; None for ``N/A``."""
    match = _PRINTED.fullmatch(text.strip())
    if match is None:
        return None
    number = float(match.group(1))
    return number, (None if f"{number:g}" == text.strip() else text.strip())


def model_key(name: str, dataset: str, keys: Collection[str]) -> str | None:
    """The registry model key an architecture name spells (``ShuffleNet-V1`` -> ``shufflenetv1``)."""
    if dataset not in MODEL_DATASETS:
        return None
    low = name.strip().lower()
    for candidate in (low, low.replace("-", ""), low.replace(" ", "")):
        if candidate in keys:
            return candidate
    return None


def setting_of(table: str) -> str | None:
    """The source's column when one table holds several (torchdistill's ``original work`` / reproduction)."""
    match = _COLUMN.search(table)
    return match.group(1) if match else None


def result_of(
    row: dict[str, str], dataset_label: Callable[[str], str], keys: Collection[str]
) -> dict[str, Any] | None:
    """The reported result (YAML-ready, in field order) of a TSV row; None for a row without a number."""
    number = printed_number(row["value"])
    home = home_of(row["method"])
    if number is None or home is None:
        return None
    value, printed = number
    unit_match = _UNIT.match(row["metric"])
    metric, unit = (unit_match.group(1), unit_match.group(2)) if unit_match else (row["metric"], "")
    dataset = dataset_label(row["dataset"])
    out: dict[str, Any] = {
        "configuration": home[1],
        "dataset": dataset,
        "metric": metric,
        "metric_id": METRIC_ID,
        "value": value,
        "printed": printed,
        "unit": unit,
        "higher_is_better": True,
        "method": row["method"],
        "role": ALONE_ROLES.get(row["method"], "student-distilled"),
        "teacher": row["teacher"],
        "student": row["student"],
        "teacher_model": model_key(row["teacher"], dataset, keys),
        "student_model": model_key(row["student"], dataset, keys),
        "setting": setting_of(row["table"]),
        "source": {
            "repository": row["source"],
            "commit": row["commit"],
            "file": row["file"],
            "table": row["table"],
        },
    }
    return {k: v for k, v in out.items() if v is not None}
