"""``audit validate`` accepts exactly what ``audit run`` accepts once the data is loaded
(``preflight.fit_to_data`` serves both): a dataset without regions, an expected region the
audit split lacks, an audit split whose every sample was skipped."""

from __future__ import annotations

import json

import yaml
from helpers.reliability import (
    assert_one_line_error,
    invoke,
    make_manifest_dataset,
    manifest_config,
    random_idat_png,
)

from auditor.config import load_config
from auditor.data.dataset import load_data
from auditor.pipeline.preflight import fit_to_data


def test_data_without_regions_validates_as_it_runs(tmp_path):
    """validate refused it ('unknown region object') while run audited it."""
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    path = manifest_config(tmp_path, manifest)
    cfg = yaml.safe_load(path.read_text())
    del cfg["data"]["regions"]
    path.write_text(yaml.safe_dump(cfg))
    result = invoke("validate", path)
    assert result.exit_code == 0, result.output
    assert "analysis.expected_regions is []" in result.output
    fitted, notes = fit_to_data(load_config(path), load_data(load_config(path).data, seed=0))
    assert fitted.analysis.expected_regions == [] and len(notes) == 1


def test_expected_region_missing_from_the_audit_split_is_refused_by_both(tmp_path):
    """Annotated in train only: run audited with every pixel counted as background."""
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    regions = manifest.parent / "regions.json"
    coco = json.loads(regions.read_text())
    test_names = {line.split(",")[0] for line in manifest.read_text().splitlines()
                  if ",test," in line}
    test_ids = {im["id"] for im in coco["images"] if im["file_name"] in test_names}
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] not in test_ids]
    regions.write_text(json.dumps(coco))
    path = manifest_config(tmp_path, manifest)
    for command in ("validate", "run"):
        assert_one_line_error(invoke(command, path), "expected region 'object'",
                              "none of the 4 'test' samples", "67% of all samples",
                              "data.audit_split")
    assert not (tmp_path / "run" / "models").exists()  # refused before any training


def test_annotations_matching_no_image_are_refused_by_run_too(tmp_path):
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    regions = manifest.parent / "regions.json"
    coco = json.loads(regions.read_text())
    for im in coco["images"]:
        im["file_name"] = "other_" + im["file_name"]
    regions.write_text(json.dumps(coco))
    path = manifest_config(tmp_path, manifest)
    for command in ("validate", "run"):
        assert_one_line_error(invoke(command, path), "annotated on 0% of the 12 samples",
                              "do not match the images")


def test_an_audit_split_with_every_sample_skipped_says_why(tmp_path):
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    for line in manifest.read_text().splitlines()[1:]:
        name, _, split, _ = line.split(",")
        if split == "test":
            random_idat_png(manifest.parent / name, seed=1)
    path = manifest_config(tmp_path, manifest)
    for command in ("validate", "run"):
        assert_one_line_error(invoke(command, path), "split 'test' has no usable samples",
                              "4 of its samples were skipped", "splits present: train",
                              "the first: img_004.png: unreadable image")


def test_validate_names_the_reason_and_the_first_skipped_sample(tmp_path):
    """The warning said only '3 sample(s) skipped: /path/regions.json'."""
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    regions = manifest.parent / "regions.json"
    coco = json.loads(regions.read_text())
    for ann in coco["annotations"][:3]:
        ann["bbox"] = [0, 0, float("nan"), 4]
    regions.write_text(json.dumps(coco))
    result = invoke("validate", manifest_config(tmp_path, manifest))
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "skipped (" in x)
    assert "3 sample(s) skipped (bbox has a non-finite coordinate)" in line
    assert "the first: img_000.png:" in line and "annotation 1:" in line


def test_the_start_up_check_stops_at_the_first_annotated_sample(tmp_path):
    """The check every run makes rasterises one sample when the region is there, not the
    whole audit split (annotation_coverage gives the same answer, sample by sample)."""
    from auditor.data.describe import annotated_anywhere, annotation_coverage

    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=6)
    bundle = load_data(load_config(manifest_config(tmp_path, manifest)).data, seed=0)
    source, calls = bundle._regions.source, []
    masks = source.masks
    source.masks = lambda *a: calls.append(a) or masks(*a)
    assert annotated_anywhere(bundle, ["object", "face"], "test") == {"object": True,
                                                                       "face": None}
    assert len(calls) == 1
    assert annotation_coverage(bundle, "test")["object"] == 1.0 and len(calls) == 1 + 12


def _with_analysis(tmp_path, **analysis):
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    path = manifest_config(tmp_path, manifest)
    cfg = yaml.safe_load(path.read_text())
    cfg.setdefault("analysis", {}).update(analysis)
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_a_typo_in_reliance_regions_is_refused_by_both(tmp_path):
    """reliance.regions: [Face] validated, then the run masked and swapped nothing: the
    shortcut it would have shown was backed by attention only."""
    path = _with_analysis(tmp_path, reliance={"regions": ["object", "Object"]})
    for command in ("validate", "run"):
        assert_one_line_error(invoke(command, path), "analysis.reliance.regions",
                              "unknown region 'Object'", "the data has object")
    assert not (tmp_path / "run" / "models").exists()


def test_a_region_both_expected_and_spurious_is_refused(tmp_path):
    """expected_regions: [object] with spurious_regions: [object] dropped the face swap (here
    the data has object and background)."""
    path = _with_analysis(tmp_path, expected_regions=["object"],
                          spurious_regions=["background", "object"])
    assert_one_line_error(invoke("validate", path), "analysis.spurious_regions",
                          "'object' is also in analysis.expected_regions")


def test_auditing_the_training_split_is_a_data_warning(tmp_path):
    """audit_split: train printed 95% accuracy on the model's own training images, and nothing
    said that this split was trained on."""
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    path = manifest_config(tmp_path, manifest)
    cfg = yaml.safe_load(path.read_text())
    cfg["data"]["audit_split"] = "train"
    path.write_text(yaml.safe_dump(cfg))
    result = invoke("validate", path)
    assert result.exit_code == 0, result.output
    assert "data.audit_split is train, the split m is trained on" in " ".join(
        result.output.split())
    loaded = load_config(path)
    bundle = load_data(loaded.data, seed=0)
    fit_to_data(loaded, bundle)
    fit_to_data(loaded, bundle)  # said once, however often the config is fitted
    assert sum("audit_split is train" in w for w in bundle.warnings) == 1
    cfg["data"]["audit_split"] = "test"
    path.write_text(yaml.safe_dump(cfg))
    assert "audit_split is train" not in invoke("validate", path).output
