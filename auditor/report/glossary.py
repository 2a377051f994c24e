"""The report's fixed texts: what each finding kind means, the definitions of the methods
appendix, and the note of runs without annotated regions."""

from __future__ import annotations

from auditor.metrics.stats import MCNEMAR_EXACT_BELOW

__all__ = ["DEFINITIONS", "MEANING", "NO_REGIONS"]

MEANING = {
    "chance_level": "The model classifies these images no better than guessing: a cue it "
                    "relies on is broken in them, or it has not learned the task.",
    "spurious_cue": "The model leans on a region that should not decide the class.",
    "group_gap": "Some subgroup gets clearly worse accuracy than the rest.",
    "misclassification_cluster": "Errors grouped by what their images look like, and the "
                                 "attribute value they share; the title says whether the "
                                 "model fails that value more often.",
    "unreliable_saliency": "The heatmaps may not show the model's reasoning; read them with care.",
    "coarse_map": "The heatmaps are too coarse to tell regions apart; use the finer layer named.",
    "slice": "One slice of the data is misclassified far more often than the rest.",
    "ignored_region": "The model does not read the region that should decide the class.",
    "disparity": "One group's numbers differ from the reference group's by more than the "
                 "configured ratio.",
    "hotspot": "The model looks at an area nobody annotated; masking it tests whether the "
               "decision depends on it.",
    "concept": "A feature the model found by itself drives a class and goes with a subgroup "
               "or with errors.",
}

DEFINITIONS = (
    ("Attention mass", "The share of a heatmap's total (non-negative) value that falls inside a "
     "region. Over all regions of an image, including background, masses add up to 100%."),
    ("Area", "The share of the image's pixels the region covers."),
    ("Lift", "Mass divided by area. 1.0 means the model looks at the region exactly as much as "
     "its size would suggest; 2.0 means twice as much."),
    ("Background", "All pixels that no annotated region covers."),
    ("Confidence interval (CI)", "{level} intervals. Accuracy and other rates use the Wilson score "
     "interval for a binomial proportion; masses and lifts use a percentile bootstrap over "
     "samples. n is the number of samples behind each number."),
    ("Worst-group accuracy", "The lowest accuracy among the subgroups: each class within "
     "each value of an attribute (for example nurses with dark hair); without attributes, the "
     "classes. Groups smaller than the configured minimum size do not compete."),
    ("Equalized-odds difference", "The largest gap between subgroups in true-positive or "
     "false-positive rate (0 = equal)."),
    ("McNemar p", "McNemar's test on the samples that exactly one of two models gets right: "
     f"exact (binomial) below {MCNEMAR_EXACT_BELOW} such samples, chi-square with continuity "
     f"correction from {MCNEMAR_EXACT_BELOW} on; "
     "the method used is named beside the p. A small p means the accuracy change is unlikely to "
     "be chance."),
    ("Sanity check", "Model-parameter randomisation test: the model's layers are randomised "
     "from the head down; if the heatmaps stay correlated (Spearman) with the trained model's "
     "at every step, they do not reflect training."),
)


NO_REGIONS = ("The data has no annotated regions, so attention cannot be split by region and no "
              "region can be masked: every pixel counts as background. Section 6 (cues nobody "
              "annotated) shows where the model looks without annotations.")
