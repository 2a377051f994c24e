"""The data stage: samples, attributes and region masks from a manifest, an ImageFolder or the
embedded synthetic "clinic" generator.

Entry points: :func:`load_data` (``DataConfig`` -> :class:`DataBundle`), :func:`resolve_synthetic`
(generate the clinic data set and return the manifest-style config), :func:`describe`
(statistics for ``audit validate``) and the region-format registry
(:func:`register_region_format`, :func:`list_region_formats`).
"""

from typing import Any

from auditor.data.dataset import DataBundle, load_data, resolve_synthetic
from auditor.data.describe import describe
from auditor.data.regions import (
    BACKGROUND,
    RegionSource,
    list_region_formats,
    load_regions,
    register_region_format,
)
from auditor.data.synthetic import generate_clinic


def __getattr__(name: str) -> Any:
    """``AuditDataset`` (torch) is loaded on first use: reading data needs no torch."""
    if name == "AuditDataset":
        from auditor.data.torch_dataset import AuditDataset

        return AuditDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "BACKGROUND",
    "AuditDataset",
    "DataBundle",
    "RegionSource",
    "describe",
    "generate_clinic",
    "list_region_formats",
    "load_data",
    "load_regions",
    "register_region_format",
    "resolve_synthetic",
]
