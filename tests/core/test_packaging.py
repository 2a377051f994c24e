"""The wheel ships every package, the templates and the sample configs."""

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "auditor").rglob("__init__.py")}
    assert found <= listed, f"add to pyproject [tool.setuptools] packages: {found - listed}"
    assert {"auditor.templates", "auditor.sample_configs"} <= listed


def test_mapped_folders_exist():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package, folder in cfg["package-dir"].items():
        assert (ROOT / folder).is_dir(), (package, folder)
    assert (ROOT / "templates/report.html.j2").is_file()
    assert (ROOT / "sample_configs/clinic_demo.yaml").is_file()
