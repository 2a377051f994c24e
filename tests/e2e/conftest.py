"""A tiny end-to-end run shared by the CLI tests (synthetic data, 32 px, one epoch)."""

import pytest
from helpers.tiny_config import write_config
from typer.testing import CliRunner

from auditor.cli import app


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(config path, CliRunner result) of one tiny audit."""
    folder = tmp_path_factory.mktemp("tiny")
    path = write_config(folder)
    result = CliRunner().invoke(app, ["run", str(path)])
    return path, result
