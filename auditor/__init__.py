"""auditor: dataset-bias auditing for image classifiers.

Where does the model look — per region, class and subgroup, for right and wrong answers —
with counts and confidence intervals, in one command: ``audit run config.yaml``.
"""

__version__ = "0.1.0"
