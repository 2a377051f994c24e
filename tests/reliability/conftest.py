"""Shared fixture of the hostile-input tests (test_reliability_battery.py defines its own,
larger ``dataset``)."""

import pytest
from helpers.reliability import make_manifest_dataset, manifest_config


@pytest.fixture
def dataset(tmp_path):
    """A tiny manifest dataset (4 train, 2 test images) and its config, without a report."""
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    return manifest, manifest_config(tmp_path, manifest, report={"formats": []})
