"""Error types for user mistakes.

Every error a user can cause (a bad config key, a missing file, a checkpoint that does not fit)
is an :class:`AuditorError` subclass whose message is one line naming the file, key or sample.
The CLI prints that line and exits 1; anything else escaping is a bug in auditor.
"""

from __future__ import annotations

import re

# terminal escape sequences (CSI ... final byte, OSC ... BEL/ST) and other C0/C1 controls
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# bidirectional overrides/isolates/marks: they reorder the text shown after them
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")


def strip_controls(text: str) -> str:
    """``text`` without terminal escape sequences and control characters (tab and newline
    kept), with bidirectional controls neutralised: safe to print or render."""
    return neutralise_bidi(_CONTROLS.sub("", _ANSI.sub("", str(text))))


def neutralise_bidi(text: str) -> str:
    """Show each bidirectional control character as ``‹U+202E›`` instead of letting it
    reverse or reorder the text after it (in HTML, PDF, CSV and the terminal)."""
    return _BIDI.sub(lambda m: f"\u2039U+{ord(m.group()):04X}\u203a", str(text))


class AuditorError(Exception):
    """Base class of every user-facing error. ``str(err)`` is a single line, free of
    terminal escape codes and control characters (file names and labels come from data)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(strip_controls(str(message)).split()))


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


class StorageError(AuditorError):
    """A file cannot be written: the disk is full (the bytes needed are named), the folder is
    read-only, the name too long."""


class CompareError(AuditorError):
    """Two runs cannot be compared (different datasets, missing files)."""
