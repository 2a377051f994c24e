"""Fixtures of the compare tests (planted data in tests/helpers/planted_compare.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers.planted_compare import planted_samples


@pytest.fixture
def planted() -> pd.DataFrame:
    return planted_samples()
