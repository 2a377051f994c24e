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


def test_every_sample_data_folder_is_a_listed_package():
    """Each folder of the shipped sample data is listed (else setuptools warns once per
    folder on every install, and a new folder's files would be left out of the wheel)."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(("auditor", "sample_configs") + p.relative_to(ROOT / "sample_configs").parts)
             for p in (ROOT / "sample_configs" / "fixtures").rglob("*") if p.is_dir()}
    found.add("auditor.sample_configs.fixtures")
    missing = found - set(cfg["packages"])
    assert not missing, f"add to pyproject [tool.setuptools] packages: {missing}"
    files = [p for p in (ROOT / "sample_configs" / "fixtures").rglob("*") if p.is_file()]
    for f in files:  # and a package-data pattern of its folder's package ships it
        package = ".".join(("auditor", "sample_configs")
                           + f.parent.relative_to(ROOT / "sample_configs").parts)
        patterns = cfg["package-data"].get(package, [])
        assert any(f.match(pat) for pat in patterns), (f, package, patterns)


def test_mapped_folders_exist():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package, folder in cfg["package-dir"].items():
        assert (ROOT / folder).is_dir(), (package, folder)
    assert (ROOT / "templates/report.html.j2").is_file()
    assert (ROOT / "sample_configs/clinic_demo.yaml").is_file()
