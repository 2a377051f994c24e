"""The v1 config file: typed, validated once, at the edge.

``load_config(path)`` reads YAML with ``yaml.safe_load``, validates it against the pydantic
models below and resolves every path relative to the config file. Errors are one line naming
the key (``models[0].train.epoch``) and, for unknown keys, the closest valid one.
Each pipeline stage receives only its own section (``cfg.data``, ``cfg.saliency`` ...).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from auditor.common.config_errors import validation_error_line
from auditor.common.names import AttributeNames, Names
from auditor.common.thresholds import LIFT_THRESHOLD, RELIANCE_THRESHOLD
from auditor.common.yaml_reader import read_yaml
from auditor.errors import ConfigError

__all__ = [
    "AnalysisConfig",
    "AuditConfig",
    "ConceptsConfig",
    "DataConfig",
    "HotspotsConfig",
    "ModelConfig",
    "NormalizeStats",
    "RegionsConfig",
    "RelianceConfig",
    "ReportConfig",
    "SaliencyConfig",
    "SyntheticConfig",
    "TrainConfig",
    "config_to_yaml",
    "load_config",
    "parse_config",
]


class _Strict(BaseModel):
    # NaN and infinity are refused for every float: a bound like ``gt=0`` lets ``.inf`` through
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class SyntheticConfig(_Strict):
    """The embedded generator (``auditor.data.synthetic``)."""

    kind: Literal["clinic", "scenes"] = "clinic"
    n_train: int = Field(3000, ge=8, le=1_000_000)
    n_val: int = Field(200, ge=0, le=1_000_000)
    n_test: int = Field(1000, ge=4, le=1_000_000)
    bias: float = Field(0.95, ge=0.0, le=1.0)
    image_size: int = Field(64, ge=32, le=512)
    # A small unannotated mark in the top-left corner (a planted cue nobody annotated): in the
    # train split it agrees with the class (present on doctors, absent on nurses) in this share
    # of the images; 0.5 makes it independent of the class; val/test are balanced over
    # class x mark. None: no mark (the default).
    corner_mark: float | None = Field(None, ge=0.0, le=1.0)


class RegionsConfig(_Strict):
    """Where region annotations come from."""

    format: Literal["coco", "masks", "boxes_csv"] | None = "coco"
    path: Path | None = None
    names: dict[int, str] | None = None  # label-PNG index -> region name (format: masks)
    auto: list[Literal["face"]] = Field(default_factory=list)


class NormalizeStats(_Strict):
    # pixels are in [0, 1]: a std below 1e-4 or a mean beyond +-1e4 only manufactures inf/NaN
    mean: list[Annotated[float, Field(ge=-1e4, le=1e4)]]
    std: list[Annotated[float, Field(ge=1e-4, le=1e4)]]

    @model_validator(mode="after")
    def _three_channels(self) -> NormalizeStats:
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("mean and std need three values (R, G, B)")
        if any(s <= 0 for s in self.std):
            raise ValueError("std values must be positive")
        return self


class DataConfig(_Strict):
    """Either ``synthetic`` or ``manifest`` (+ ``regions``)."""

    synthetic: SyntheticConfig | None = None
    manifest: Path | None = None
    image_folder: Path | None = None
    attributes_csv: Path | None = None
    root: Path | None = None
    train_manifest: Path | None = None  # rows of the train split, e.g. from `audit rebalance`
    attributes: AttributeNames = Field(default_factory=list)
    regions: RegionsConfig | None = None
    image_size: int = Field(64, ge=8, le=1024)
    resize: Literal["stretch", "center_crop", "letterbox"] = "stretch"
    normalize: Literal["imagenet", "none"] | NormalizeStats = "imagenet"
    audit_split: Literal["train", "val", "test"] = "test"
    split_ratios: list[float] | None = None
    num_workers: int = Field(0, ge=0, le=256)
    decode: Literal["auto", "workers", "device"] = "auto"
    follow_symlinks: bool = False  # allow sample files that are symlinks leading outside root

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        sources = [s for s in ("synthetic", "manifest", "image_folder") if getattr(self, s)]
        if not sources:
            raise ValueError("give one of data.synthetic, data.manifest or data.image_folder")
        if len(sources) > 1:
            raise ValueError(f"give only one data source, not {' and '.join(sources)}")
        if self.decode == "device" and self.regions is not None and "face" in self.regions.auto:
            raise ValueError("decode: 'device' cannot be combined with regions.auto: [face] "
                             "(face detection needs the decoded pixels in the data workers); "
                             "use decode: auto or workers")
        return self


class TrainConfig(_Strict):
    """Fine-tuning / training settings for one model."""

    epochs: int = Field(4, ge=0, le=10_000)
    lr: float = Field(0.001, gt=0, le=10)
    batch_size: int = Field(64, ge=1, le=65_536)
    weight_decay: float = Field(0.0, ge=0, le=10)
    balance: Literal["none", "class", "group"] = "none"
    balance_by: Names = Field(default_factory=list)
    loss: Literal["erm", "group_weighted"] = "erm"
    dfr: bool = False  # last-layer retraining on a group-balanced held-out subset
    freeze: Literal["none", "backbone"] = "none"  # backbone: train the head only ...
    unfreeze_after: int | None = Field(None, ge=0, le=10_000)  # ... this many epochs, then all
    head_lr: float | None = Field(None, gt=0, le=10)  # the head's learning rate (default: lr)

    @model_validator(mode="after")
    def _group_needs_attrs(self) -> TrainConfig:
        for flag, on in (("balance: group", self.balance == "group"),
                         ("loss: group_weighted", self.loss == "group_weighted"),
                         ("dfr: true", self.dfr)):
            if on and not self.balance_by:
                raise ValueError(f"{flag} needs balance_by (a list of attribute columns)")
        if self.unfreeze_after is not None and self.freeze != "backbone":
            raise ValueError("unfreeze_after needs freeze: backbone")
        return self


class ModelConfig(_Strict):
    name: str = Field(min_length=1)
    # a registered name, any torchvision classification model, timm:<name>, hf:<local dir>,
    # torchscript (with checkpoint), or a user's class/factory "file.py:Name" / "pkg.mod:name"
    arch: str = Field("simple_cnn", min_length=1)
    arch_kwargs: dict[str, Any] = Field(default_factory=dict)  # passed to the constructor
    checkpoint: Path | None = None  # a trained state_dict to audit as is (no training)
    pretrained: Path | None = None  # backbone weights to fine-tune from (head re-sized)
    weights: str | None = None  # torchvision weights name (DEFAULT, IMAGENET1K_V1), local cache
    trust_pickle: bool = False  # allow a checkpoint holding a fully pickled nn.Module
    # what a model file's outputs are: the class of each output, in order (default: the data's
    # classes sorted by name), and logits or probabilities (a softmax inside the model)
    classes: Names | None = Field(None, min_length=1)
    output: Literal["logits", "probabilities"] = "logits"
    train: TrainConfig | None = Field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _outputs_of_a_file(self) -> ModelConfig:
        if (self.classes is not None or self.output != "logits") and self.checkpoint is None:
            raise ValueError("classes and output describe the outputs of a model file: they "
                             "need checkpoint (a model auditor trains has the data's classes, "
                             "sorted, and returns logits)")
        return self

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not all(c.isalnum() or c in "-_." for c in v) or v.startswith("."):
            raise ValueError("model names may use letters, digits, '-', '_' and '.' only")
        return v


class SaliencyConfig(_Strict):
    methods: Names = Field(default_factory=lambda: ["gradcam", "gradcam++"], min_length=1)
    target_layer: str = "auto"
    target: Literal["predicted", "true"] = "predicted"
    batch_size: int = Field(128, ge=1, le=65_536)
    map_size: int = Field(16, ge=4, le=256)  # side of the low-resolution maps kept in maps/
    options: dict[str, dict[str, float | int | str]] = Field(default_factory=dict)
    autocast: Literal["bf16", "fp16"] | None = None  # CUDA only; ignored on CPU


class RelianceConfig(_Strict):
    """The causal tests of the audit pass (``analysis.reliance``).

    ``fill``: what a masked region is replaced with; ``swap``: also run the counterfactual
    swaps (a spurious region pasted in from a sample of another attribute value; the expected
    regions pasted in from a sample of another class); ``regions``: ``all`` (background
    included) or a list of region names to mask.
    """

    fill: Literal["blur", "mean"] = "blur"
    swap: bool = True
    regions: Literal["all"] | list[str] = "all"


class HotspotsConfig(_Strict):
    """Off-region hotspots: consistent attention outside every annotated region."""

    n: int = Field(3, ge=0, le=10)  # most hotspots kept per model (0 = off)
    min_lift: float = Field(2.0, gt=1.0)  # mean attention per pixel vs a uniform map
    max_area: float = Field(0.25, gt=0, le=1)  # largest hotspot, as a share of the image


class ConceptsConfig(_Strict):
    """Concept discovery: NMF of the target-layer activations (CRAFT / ACE style)."""

    n: int = Field(8, ge=0, le=32)  # concepts (0 = off)
    fit_images: int = Field(512, ge=8)  # images whose activations the factorisation is fit on
    importance_images: int = Field(64, ge=8)  # images the concept-removal test runs on


class AnalysisConfig(_Strict):
    expected_regions: Names = Field(default_factory=lambda: ["object"])
    spurious_regions: Names | None = None  # default: every other region
    sanity_check: bool = True
    sanity_layers: Literal["auto", "cascade", "blocks", "full"] = "auto"
    lift_threshold: float = Field(LIFT_THRESHOLD, gt=0)
    gap_threshold: float = Field(0.10, ge=0, le=1)
    disparity_tau: float = Field(0.8, gt=0, le=1)
    min_group_size: int = Field(10, ge=1, le=1_000_000)
    n_bootstrap: int = Field(1000, ge=50, le=100_000)
    ci_level: float = Field(0.95, gt=0.5, lt=1)
    reliance: RelianceConfig | None = Field(default_factory=RelianceConfig)
    reliance_threshold: float = Field(RELIANCE_THRESHOLD, gt=0, lt=1)
    hotspots: HotspotsConfig = Field(default_factory=HotspotsConfig)
    concepts: ConceptsConfig = Field(default_factory=ConceptsConfig)
    cue_images: int = Field(256, ge=8)  # audited images hotspot masking / concepts run on
    # Hotspots and concepts (cues nobody annotated): ``auto`` runs them when the data has no
    # annotated regions (their only attention evidence) and keeps only the average maps when
    # it has some; ``on`` / ``off`` force them (the average maps are always computed).
    cues: Literal["auto", "on", "off"] = "auto"

    @field_validator("cues", mode="before")
    @classmethod
    def _yaml_on_off(cls, v: Any) -> Any:
        """YAML reads an unquoted ``on`` / ``off`` as true / false: take them as meant."""
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v

    @model_validator(mode="before")
    @classmethod
    def _old_reliance_keys(cls, raw: Any) -> Any:
        """``reliance: true|false`` and ``reliance_fill`` (before 0.x) keep working."""
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        rel = raw.get("reliance", True)
        fill = raw.pop("reliance_fill", None)
        if rel is True:
            rel = {}
        if isinstance(rel, dict) and fill is not None:
            rel = {"fill": fill, **rel}
        raw["reliance"] = None if rel is False else rel
        return raw


class ReportConfig(_Strict):
    formats: list[Literal["html", "pdf"]] = Field(default_factory=lambda: ["html", "pdf"])
    examples_per_group: int = Field(6, ge=0, le=50)


class AuditConfig(_Strict):
    """The whole config file (v1)."""

    name: str = "audit"
    output_dir: Path = Path("runs/audit")
    seed: int = Field(0, ge=0, lt=2**32)
    device: str = "auto"
    data: DataConfig
    models: list[ModelConfig] = Field(min_length=1)
    saliency: SaliencyConfig = Field(default_factory=SaliencyConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    baseline: str | None = None  # model the others are compared against (default: the first)
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source_path(self) -> Path | None:
        """The config file this was read from (None when built in code)."""
        return self._source

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if v in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:[0-9]+", v):
            return v
        raise ValueError("device must be auto, cpu, cuda or cuda:N")

    @model_validator(mode="after")
    def _unique_models(self) -> AuditConfig:
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model names must be unique; repeated: {', '.join(dupes)}")
        if self.baseline is not None and self.baseline not in names:
            raise ValueError(f"baseline {self.baseline!r} is not a model name ({', '.join(names)})")
        return self


PATH_FIELDS = {
    "data": ("manifest", "image_folder", "attributes_csv", "root", "train_manifest"),
    "regions": ("path",),
    "model": ("checkpoint", "pretrained"),
}


def _resolve_paths(cfg: AuditConfig, base: Path, source: str) -> AuditConfig:
    def fix(p: Path | None, key: str) -> Path | None:
        if p is None:
            return None
        if "\x00" in str(p):
            raise ConfigError(f"{source}: {key}: path contains a NUL byte")
        try:
            p = Path(p).expanduser()
        except RuntimeError:
            raise ConfigError(f"{source}: {key}: cannot expand '~' in {str(p)!r} "
                              "(unknown user)") from None
        return p if p.is_absolute() else (base / p).resolve()

    cfg.output_dir = fix(cfg.output_dir, "output_dir")  # type: ignore[assignment]
    for key in PATH_FIELDS["data"]:
        setattr(cfg.data, key, fix(getattr(cfg.data, key), f"data.{key}"))
    if cfg.data.manifest is not None and cfg.data.root is None:
        cfg.data.root = cfg.data.manifest.parent
    if cfg.data.regions is not None:
        cfg.data.regions.path = fix(cfg.data.regions.path, "data.regions.path")
    for i, m in enumerate(cfg.models):
        m.checkpoint = fix(m.checkpoint, f"models[{i}].checkpoint")
        m.pretrained = fix(m.pretrained, f"models[{i}].pretrained")
        m.arch = _resolve_arch_path(m.arch, lambda p, k=f"models[{i}].arch": fix(p, k))
    return cfg


def _resolve_arch_path(arch: str, fix: Any) -> str:
    """``hf:<dir>`` and ``<file>.py:<Name>`` with their paths made absolute (config-relative)."""
    if arch.startswith("hf:") and len(arch) > 3:
        return "hf:" + str(fix(Path(arch[3:])))
    file, sep, name = arch.rpartition(":")
    if sep and file.endswith(".py"):
        return f"{fix(Path(file))}:{name}"
    return arch


def parse_config(raw: Any, *, base_dir: Path, source: str = "config") -> AuditConfig:
    """Validate an already-parsed mapping; paths are resolved relative to ``base_dir``.

    Raises:
        ConfigError: one line naming ``source`` and the offending key.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, not "
                          f"{type(raw).__name__}")
    try:
        cfg = AuditConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(validation_error_line(AuditConfig, source, err)) from None
    return _resolve_paths(cfg, base_dir, source)


def load_config(path: str | Path) -> AuditConfig:
    """Read and validate a config file.

    Args:
        path: YAML file. Relative paths inside it are taken relative to its folder.

    Returns:
        The validated :class:`AuditConfig` with absolute paths.

    Raises:
        ConfigError: missing file, malformed YAML, a key given twice, nesting deeper than
            :data:`~auditor.common.yaml_reader.MAX_YAML_DEPTH`, unknown key or wrong type (one
            line).
    """
    path = Path(path)
    raw = read_yaml(path)
    cfg = parse_config(raw, base_dir=path.resolve().parent, source=str(path))
    cfg._source = path.resolve()
    return cfg


def config_to_yaml(cfg: AuditConfig) -> str:
    """The config with every default filled in, as written to ``config.resolved.yaml``."""
    data = cfg.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
