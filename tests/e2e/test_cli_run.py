"""`audit run` end to end on a tiny synthetic config: every output of the run-dir contract."""

import html
import json

import pandas as pd
import yaml
from typer.testing import CliRunner

from auditor.cli import app


def test_run_succeeds_and_prints_report_path(tiny_run):
    path, result = tiny_run
    assert result.exit_code == 0, result.output
    assert "Report:" in result.output and "report.html" in result.output


def test_run_directory_contract(tiny_run):
    path, _ = tiny_run
    run = path.parent / "run"
    for name in ("report.html", "report.pdf", "summary.json", "samples.parquet",
                 "config.resolved.yaml", "run.log", "models/baseline.pt",
                 "models/baseline.json", "maps/baseline.npz", "maps/rebalanced.npz"):
        assert (run / name).is_file(), name
    assert not (run / "shards").exists()
    assert (run / "report.pdf").read_bytes()[:5] == b"%PDF-"
    text = (run / "config.resolved.yaml").read_text()
    resolved = yaml.safe_load(text)
    assert resolved["analysis"]["lift_threshold"] == 1.5  # defaults written back
    # what the run used: `cues: auto` on annotated data turned hotspots and concepts off, and
    # the report's "Resolved configuration" is this file, word for word
    assert resolved["analysis"]["cues"] == "auto"
    assert resolved["analysis"]["hotspots"]["n"] == resolved["analysis"]["concepts"]["n"] == 0
    assert html.escape(text, quote=False) in (run / "report.html").read_text()


def test_summary_schema(tiny_run):
    path, _ = tiny_run
    s = json.loads((path.parent / "run/summary.json").read_text())
    assert s["schema"] == "auditor.summary/1"
    assert {"name", "auditor_version", "created", "dataset", "models", "comparisons"} <= set(s)
    d = s["dataset"]
    assert d["n_samples"] == 32 and d["classes"] == ["doctor", "nurse"]
    assert d["regions"] == ["face", "object", "background"] and d["attributes"] == ["hair"]
    assert {"n_skipped", "skipped"} <= set(d)
    for name in ("baseline", "rebalanced"):
        m = s["models"][name]
        assert set(m["metrics"]) >= {"accuracy", "balanced_accuracy", "worst_group_accuracy",
                                     "worst_group", "accuracy_gap",
                                     "equalized_odds_difference"}
        for value in ("dark", "blond"):
            g = m["by_group"]["hair"][value]
            assert {"n", "accuracy", "error_rate", "ci"} <= set(g) and g["n"] == 16
        for method in ("gradcam", "gradcam++"):
            for region in ("face", "object", "background"):
                a = m["attention"][method][region]
                assert {"mass", "area", "lift", "ci"} <= set(a)
            masses = [m["attention"][method][r]["mass"] for r in ("face", "object", "background")]
            assert 0.0 <= min(masses)
            for cls in ("doctor", "nurse"):
                assert set(m["attention_by_class"][method][cls]) == {"face", "object",
                                                                     "background"}
        assert m["verdict"]["status"] in {"not_ready", "review", "ok"} and m["verdict"]["text"]
        assert set(m["reliance"]) == {"face", "object", "background"}
        assert set(m["swaps"]) == {"object", "hair:face", "hair:background"}
        assert {"flip_rate", "ci", "n", "follow_rate", "follow_ci", "n_follow", "placebo_rate",
                "placebo_ci", "placebo_flip_rate"} <= set(m["swaps"]["hair:background"])
        assert m["swaps"]["hair:background"]["placebo"] == "same_value"  # same-value pastes ran
        assert m["swaps"]["object"]["placebo"] == "agreeing_rows"
        for f in m["findings"]:
            assert f["kind"] in {"spurious_cue", "group_gap", "misclassification_cluster",
                                 "unreliable_saliency", "disparity", "slice", "ignored_region",
                                 "hotspot", "concept", "chance_level"}
            assert f["severity"] in {"high", "medium", "low"} and f["title"]
        assert m["sanity"]["test"] == "model_parameter_randomization"
        assert m["sanity"]["layers"] == "auto" and len(m["sanity"]["per_layer"]) == 9  # cascade
        ci = m["metrics_ci"]
        assert set(ci) == {"balanced_accuracy", "accuracy_gap", "equalized_odds_difference"}
        eod = m["metrics"]["equalized_odds_difference"]
        assert 0 <= ci["equalized_odds_difference"][0] <= ci["equalized_odds_difference"][1] <= 1
        assert 0 <= eod <= 1
        assert isinstance(m["clusters"], list)
    comp = s["comparisons"][0]
    assert comp["baseline"] == "baseline" and comp["candidate"] == "rebalanced"
    assert 0.0 <= comp["mcnemar_p"] <= 1.0 and "accuracy" in comp["delta"]


def test_samples_parquet_columns(tiny_run):
    path, _ = tiny_run
    df = pd.read_parquet(path.parent / "run/samples.parquet")
    assert len(df) == 64 and set(df["model"]) == {"baseline", "rebalanced"}
    need = {"model", "id", "split", "label", "pred", "confidence", "correct", "hair", "cluster",
            "area_face", "area_object", "area_background"}
    need |= {f"mass_{m}_{r}" for m in ("gradcam", "gradcam++")
             for r in ("face", "object", "background")}
    assert need <= set(df.columns)
    assert set(df["label"]) <= {"doctor", "nurse"} and set(df["pred"]) <= {"doctor", "nurse"}
    mass = df[[f"mass_gradcam_{r}" for r in ("face", "object", "background")]].sum(axis=1)
    # every pixel is in some region (background = the rest), so masses sum to 1 or more,
    # except for an all-zero map (Grad-CAM's ReLU can remove everything), which has no mass
    assert ((mass >= 0.999) | (mass == 0)).all()
    assert (mass >= 0.999).mean() > 0.9
    area = df[["area_face", "area_object", "area_background"]].sum(axis=1)
    assert (area >= 0.999).all()


def test_report_escapes_run_name(tiny_run):
    path, _ = tiny_run
    html = (path.parent / "run/report.html").read_text()
    assert "tiny &lt;b&gt;audit&lt;/b&gt;" in html and "<b>audit</b>" not in html


def test_second_run_resumes_fast(tiny_run):
    path, _ = tiny_run
    before = json.loads((path.parent / "run/summary.json").read_text())
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    assert "(resumed)" in result.output
    after = json.loads((path.parent / "run/summary.json").read_text())
    for name in before["models"]:
        assert after["models"][name]["metrics"] == before["models"][name]["metrics"]
        assert after["models"][name]["attention"] == before["models"][name]["attention"]
