"""Config errors are one line naming the key; paths resolve relative to the config file."""

from pathlib import Path

import pytest
import yaml

from auditor.config import config_to_yaml, load_config, parse_config
from auditor.errors import ConfigError

MIN = {"data": {"synthetic": {}}, "models": [{"name": "a"}]}


def write(tmp_path: Path, obj) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(obj if isinstance(obj, str) else yaml.safe_dump(obj))
    return p


def err(tmp_path, obj) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, obj))
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_minimal_config_fills_defaults(tmp_path):
    cfg = load_config(write(tmp_path, MIN))
    assert cfg.saliency.methods == ["gradcam", "gradcam++"]
    assert cfg.data.synthetic.bias == 0.95
    assert cfg.output_dir == (tmp_path / "runs/audit").resolve()
    resolved = yaml.safe_load(config_to_yaml(cfg))
    assert resolved["analysis"]["expected_regions"] == ["object"]
    assert resolved["models"][0]["train"]["balance"] == "none"


def test_unknown_key_suggests_closest(tmp_path):
    msg = err(tmp_path, {**MIN, "models": [{"name": "a", "train": {"epoch": 3}}]})
    assert "models[0].train.epoch" in msg and "'epochs'" in msg


def test_unknown_top_level_key(tmp_path):
    msg = err(tmp_path, {**MIN, "saliancy": {}})
    assert "'saliancy'" in msg and "'saliency'" in msg


def test_wrong_type_names_key(tmp_path):
    msg = err(tmp_path, {**MIN, "seed": "zero"})
    assert msg.startswith(str(tmp_path / "c.yaml")) and "seed" in msg


def test_out_of_range(tmp_path):
    msg = err(tmp_path, {"data": {"synthetic": {"bias": 1.5}}, "models": [{"name": "a"}]})
    assert "data.synthetic.bias" in msg


def test_malformed_yaml_names_line(tmp_path):
    msg = err(tmp_path, "name: [unclosed\nmodels: 3\n")
    assert "line" in msg


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a folder, not a config file"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_config(Path("/dev/null"))


def test_not_a_mapping(tmp_path):
    assert "mapping" in err(tmp_path, "- a\n- b\n")


def test_missing_models(tmp_path):
    assert "models" in err(tmp_path, {"data": {"synthetic": {}}})


def test_two_data_sources_refused(tmp_path):
    msg = err(tmp_path, {"data": {"synthetic": {}, "manifest": "m.csv"}, "models": [{"name": "a"}]})
    assert "only one data source" in msg


def test_group_balance_needs_attributes(tmp_path):
    msg = err(tmp_path, {**MIN, "models": [{"name": "a", "train": {"balance": "group"}}]})
    assert "balance_by" in msg


def test_duplicate_model_names(tmp_path):
    assert "repeated: a" in err(tmp_path, {**MIN, "models": [{"name": "a"}, {"name": "a"}]})


def test_bad_device(tmp_path):
    assert "device" in err(tmp_path, {**MIN, "device": "tpu"})


def test_paths_relative_to_config(tmp_path):
    sub = tmp_path / "cfgs"
    sub.mkdir()
    p = sub / "c.yaml"
    p.write_text(yaml.safe_dump({"data": {"manifest": "../data/m.csv",
                                          "regions": {"format": "coco", "path": "r.json"}},
                                 "models": [{"name": "a", "checkpoint": "w.pt"}]}))
    cfg = load_config(p)
    assert cfg.data.manifest == (tmp_path / "data/m.csv").resolve()
    assert cfg.data.root == (tmp_path / "data").resolve()
    assert cfg.data.regions.path == (sub / "r.json").resolve()
    assert cfg.models[0].checkpoint == (sub / "w.pt").resolve()


def test_parse_config_rejects_unsafe_yaml_tags(tmp_path):
    p = write(tmp_path, "name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError):
        load_config(p)


def test_parse_config_direct():
    cfg = parse_config(MIN, base_dir=Path("/tmp"))
    assert cfg.models[0].arch == "simple_cnn"


def test_demo_config_is_valid():
    from auditor.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[2] / "sample_configs/clinic_demo.yaml")
    assert [m.name for m in cfg.models] == ["baseline", "rebalanced"]
    assert cfg.models[1].train.balance == "group" and cfg.models[1].train.balance_by == ["hair"]


def test_old_reliance_keys_still_load():
    from auditor.config import AnalysisConfig

    assert AnalysisConfig(reliance=False).reliance is None
    old = AnalysisConfig.model_validate({"reliance": True, "reliance_fill": "mean"})
    assert old.reliance.fill == "mean" and old.reliance.swap and old.reliance.regions == "all"
    new = AnalysisConfig.model_validate({"reliance": {"swap": False, "regions": ["face"]}})
    assert new.reliance.swap is False and new.reliance.regions == ["face"]
    again = AnalysisConfig.model_validate(new.model_dump(mode="json"))  # resolved yaml reloads
    assert again == new
    assert AnalysisConfig().lift_threshold == 1.5


@pytest.mark.parametrize("name, needle", [
    ("pred", "a column auditor writes for every sample"),
    ("confidence", "a column auditor writes for every sample"),
    ("model", "a column auditor writes for every sample"),
    ("cluster", "a column auditor writes for every sample"),
    ("weight", "a column auditor writes for every sample"),
    ("image_hash", "a column auditor writes for every sample"),
    ("mass_total", "starts with 'mass_'"),
    ("swap_donor", "starts with 'swap_'"),
])
def test_attribute_named_like_a_sample_column_is_refused(tmp_path, name, needle):
    """An attribute ``confidence`` (an annotator's) or ``model`` (a scanner's) overwrote the
    per-sample column of that name: wrong accuracies, or a crash after training."""
    msg = err(tmp_path, {"data": {"manifest": "m.csv", "attributes": ["hair", name]},
                         "models": [{"name": "a"}]})
    assert "data.attributes" in msg and needle in msg and f"{name}_attr" in msg


def test_ordinary_attribute_names_pass(tmp_path):
    cfg = load_config(write(tmp_path, {"data": {"manifest": "m.csv", "attributes": [
        "hair", "scanner_model", "masses", "predicted_by"]}, "models": [{"name": "a"}]}))
    assert cfg.data.attributes == ["hair", "scanner_model", "masses", "predicted_by"]


@pytest.mark.parametrize("section, key", [
    ("saliency", "methods"), ("analysis", "expected_regions"), ("analysis", "spurious_regions")])
def test_a_name_listed_twice_is_refused_before_any_work(tmp_path, section, key):
    """``methods: [gradcam, gradcam]`` passed validate, then failed after training."""
    msg = err(tmp_path, {**MIN, section: {key: ["gradcam", "gradcam"]}})
    assert f"{section}.{key}" in msg and "'gradcam' is listed twice" in msg


@pytest.mark.parametrize(("written", "meant"), [("on", "on"), ("off", "off"), ("'on'", "on"),
                                                ("auto", "auto")])
def test_cues_on_written_as_the_readme_writes_it(tmp_path, written, meant):
    """The README says `analysis.cues: on`; YAML reads an unquoted on as true, and the config
    answered "analysis.cues: Input should be 'auto', 'on' or 'off'" to a user who had
    written on."""
    text = ("data: {synthetic: {}}\nmodels: [{name: a}]\n"
            f"analysis: {{cues: {written}}}\n")
    assert load_config(write(tmp_path, text)).analysis.cues == meant
    assert "'auto', 'on' or 'off'" in err(tmp_path, text.replace(written, "sometimes"))
