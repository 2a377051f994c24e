"""Error types for user mistakes.

Every error a user can cause (a bad config key, a missing file, a checkpoint that does not fit)
is an :class:`AuditorError` subclass whose message is one line naming the file, key or sample.
The CLI prints that line and exits 1; anything else escaping is a bug in auditor.
"""

from __future__ import annotations


class AuditorError(Exception):
    """Base class of every user-facing error. ``str(err)`` is a single line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class ConfigError(AuditorError):
    """The config file is malformed, has an unknown key or a value of the wrong type."""


class DataError(AuditorError):
    """A data file, manifest or annotation file is missing or unusable."""


class ModelError(AuditorError):
    """An architecture is unknown or a checkpoint cannot be loaded into it."""


class SaliencyError(AuditorError):
    """A saliency method or target layer is unknown or unusable for the model."""


class ReportError(AuditorError):
    """The report could not be rendered."""


class RunDirError(AuditorError):
    """The output directory cannot be used (exists, not writable, not a run directory)."""


class CompareError(AuditorError):
    """Two runs cannot be compared (different datasets, missing files)."""
