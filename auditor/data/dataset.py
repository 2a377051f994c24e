"""Loading a dataset: ``load_data(cfg, seed=...) -> DataBundle``.

Sources: ``data.manifest`` (CSV ``path,label[,split]`` + attribute columns; paths relative to
``data.root``, default the manifest's folder) or ``data.image_folder`` (a folder per class,
optional ``data.attributes_csv``). ``data.synthetic`` is turned into a manifest first by
:func:`resolve_synthetic`, so all sources share one code path.

Bad input never crashes the run and is never dropped silently. Each skipped sample, of any
split, is listed in ``DataBundle.skipped`` as ``{"id", "reason"}``: missing files, unreadable,
corrupt or truncated images, decompression bombs, absolute paths, paths escaping the root with
``..``, symlinks leading outside the root (unless ``data.follow_symlinks: true``), paths the
file system refuses (too long) and samples whose region annotations are malformed (non-finite
or out-of-bounds coordinates, impossible RLE sizes: see ``RegionSource.problems``). Everything is
checked at load time (existence, header, full decode: :mod:`auditor.data.images`), so the list is
complete before training. Notes that change no sample go to ``DataBundle.warnings``:
annotations for images not in the dataset, samples without annotations (kept, all
background), audit labels never seen in training, attributes missing from the attributes CSV.
Duplicate ids are an error naming the id.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from auditor.config import DataConfig, RegionsConfig
from auditor.data.images import check_images
from auditor.data.plan import normalize_stats, preview
from auditor.data.regions import BACKGROUND, ItemRegions, load_regions, normalise_name
from auditor.data.table import read_source, unsafe_path
from auditor.errors import DataError

if TYPE_CHECKING:
    from auditor.data.torch_dataset import AuditDataset

__all__ = ["AuditDataset", "DataBundle", "load_data", "resolve_synthetic"]

log = logging.getLogger(__name__)


def __getattr__(name: str) -> Any:
    """``AuditDataset`` (torch) is loaded on first use, so reading data needs no torch."""
    if name == "AuditDataset":
        from auditor.data.torch_dataset import AuditDataset

        return AuditDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class DataBundle:
    """A loaded dataset: the sample table, classes, regions, skipped samples and warnings."""

    classes: list[str]
    attributes: list[str]
    regions: list[str]
    table: pd.DataFrame
    skipped: list[dict]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    data_hash: str
    warnings: list[str] = field(default_factory=list)
    image_size: int = 64
    resize: str = "stretch"
    image_sizes: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)
    files_stamp: str = ""  # sizes + mtimes of the image and annotation files (resume key)
    _regions: ItemRegions = field(default_factory=lambda: ItemRegions([], None, False), repr=False)

    def dataset(self, split: str) -> AuditDataset:
        """The samples of ``split`` (``train``, ``val`` or ``test``) as a torch Dataset."""
        from auditor.data.torch_dataset import AuditDataset

        if split not in ("train", "val", "test"):
            raise ValueError(f"unknown split {split!r} (train, val, test)")
        return AuditDataset(self.table[self.table["split"] == split], self._regions,
                            self.image_size, self.resize, self.mean, self.std)

    def summary(self) -> dict:
        """The ``dataset`` block of summary.json: ``{"n_samples", "n_skipped", "skipped",
        "classes", "regions", "attributes"}``."""
        return {"n_samples": len(self.table), "n_skipped": len(self.skipped),
                "skipped": [dict(s) for s in self.skipped], "classes": list(self.classes),
                "regions": list(self.regions), "attributes": list(self.attributes)}

    def raw_image(self, index: int) -> np.ndarray:
        """``uint8 [S, S, 3]``: row ``index`` of the table, resized, not normalised (decoded and
        resized with PIL, :func:`auditor.data.plan.preview`: for pictures, not for the model)."""
        row = self.table.iloc[index]
        return preview(Path(row["path"]), self.image_size, self.resize,  # type: ignore[arg-type]
                       sample_id=str(row["id"]))

    def masks(self, index: int) -> np.ndarray:
        """``bool [R, S, S]``: region masks of row ``index``, ordered as ``regions``."""
        from auditor.data.torch_dataset import AuditDataset

        ds = AuditDataset(self.table.iloc[[index]], self._regions, self.image_size,
                          self.resize, self.mean, self.std)
        return ds.resized(0)[1].numpy()


def resolve_synthetic(cfg: DataConfig, out_dir: Path, seed: int,
                      progress: Callable[[int, int], None] | None = None) -> DataConfig:
    """Generate the synthetic dataset and return the equivalent manifest-style config.

    Args:
        cfg: a ``data`` section with ``synthetic`` set (returned unchanged otherwise).
        out_dir: where the images, manifest and regions are written.
        seed: generator seed.
        progress: ``progress(done, total)`` while images are written.

    Returns:
        A copy with ``synthetic=None``, ``manifest``/``root`` set, ``attributes`` defaulting to
        ``[hair]`` (clinic) or ``[scene]`` (scenes) and COCO ``regions`` pointing at the
        generated ``regions.json`` (``auto`` kept).
    """
    if cfg.synthetic is None:
        return cfg
    if cfg.synthetic.kind == "scenes":
        from auditor.data.scenes import generate_scenes as generate
        attribute = "scene"
    else:
        from auditor.data.synthetic import generate_clinic as generate
        attribute = "hair"

    manifest = generate(Path(out_dir), cfg.synthetic, seed=seed, progress=progress)
    raw = cfg.model_dump()
    raw.update(synthetic=None, manifest=manifest, root=manifest.parent,
               attributes=list(cfg.attributes) or [attribute],
               regions=RegionsConfig(format="coco", path=manifest.parent / "regions.json",
                                     auto=list(cfg.regions.auto) if cfg.regions else []
                                     ).model_dump())
    return DataConfig.model_validate(raw)


def _real(path: Path) -> Path | None:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError, ValueError):  # symlink loop, name too long, NUL byte
        return None


def _outside(root: Path, norm: str, real_root: Path | None, sample_id: str) -> str | None:
    """Why ``root / norm`` may not be used when it leads (through a symlink) outside the root.

    Only the components below the root are inspected (one ``lstat`` each); the path is
    resolved only when one of them is a symlink.
    """
    if real_root is None:
        return f"cannot resolve the data root {root}"
    here = real_root
    try:
        for part in norm.split("/"):
            here = here / part
            if stat.S_ISLNK(os.lstat(here).st_mode):
                break
        else:
            return None
    except FileNotFoundError:
        return None  # a missing file is reported by the image check
    except (OSError, ValueError):
        return None  # name too long, NUL byte ...: reported by the image check
    real = _real(root / norm)
    if real is None:
        return f"cannot resolve the path (symlink loop?): {sample_id}"
    if real == real_root or real_root in real.parents:
        return None
    return (f"symlink leads outside the data root (to {real}); set data.follow_symlinks: true "
            f"to allow it: {sample_id}")


def _hash(table: pd.DataFrame, classes: list[str], skipped: list[dict],
          files: list[Path]) -> str:
    h = hashlib.sha256()
    plain = "weight" in table.columns and bool((table["weight"] == 1.0).all())
    cols = [c for c in table.columns if c not in ("path", "label") and not (
        plain and c == "weight")]  # unweighted data hashes as before weights existed
    rows = table[cols].assign(label=[classes[i] for i in table["label"]])
    h.update(rows.to_csv(index=False).encode("utf-8"))
    for s in skipped:
        h.update(f"skipped:{s['id']}\n".encode())
    for f in sorted(set(files)):
        h.update(Path(f).read_bytes())
    return h.hexdigest()


def _files_stamp(table: pd.DataFrame, files: list[Path]) -> str:
    """Hash of every image's and annotation file's size and modification time: a file edited
    in place changes it (the resume key of a run directory; see ``DataBundle.files_stamp``)."""
    h = hashlib.sha256()
    for p in [*table["path"], *sorted(set(files))]:
        try:
            st = Path(p).stat()
            h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{p}:gone\n".encode())
    return h.hexdigest()


def load_data(cfg: DataConfig, *, seed: int) -> DataBundle:
    """Read the samples, check every file, read the region annotations.

    Args:
        cfg: the ``data`` section (manifest or image_folder; use :func:`resolve_synthetic`
            first for ``synthetic``).
        seed: seeds the split when the source gives none.

    Returns:
        The :class:`DataBundle`.

    Raises:
        DataError: missing manifest/folder/annotations, missing columns, duplicate ids, no
            usable sample or an empty audit split (one line each).
    """
    if cfg.synthetic is not None:
        raise ValueError("data.synthetic: call resolve_synthetic(cfg, out_dir, seed) first")
    raw, root, warnings = read_source(cfg, seed=seed)
    where = cfg.manifest or cfg.image_folder
    reasons: dict[int, str] = {}
    sizes: dict[str, tuple[int, int]] = {}
    seen: dict[str, tuple[str, int]] = {}  # normalised id -> (id as written, line of the file)
    to_check: list[tuple[int, str, Path]] = []
    real_root = _real(root)
    rows = zip(raw.index, raw["id"], raw["label"].tolist(), strict=True)
    for row, (line, sample_id, label) in enumerate(rows):
        reason = unsafe_path(sample_id) or (None if label else "empty label")
        norm = normalise_name(sample_id) if sample_id else sample_id
        if reason is None and norm in seen:  # a manifest's index is the line of the file
            first, first_line = seen[norm]
            raise DataError(f"{where}: line {line}: duplicate sample id {sample_id!r} (same "
                            f"file as {first!r} on line {first_line}); every image may appear "
                            "only once (identical repeated rows are allowed in the train split, "
                            "where they count as sampling weight)")
        seen.setdefault(norm, (sample_id, line))
        if reason is None and not cfg.follow_symlinks:
            reason = _outside(root, norm, real_root, sample_id)
        if reason is None:
            to_check.append((row, sample_id, root / norm))
        else:
            reasons[row] = reason
    checked = check_images([path for _, _, path in to_check])
    for (row, sample_id, _), result in zip(to_check, checked, strict=True):
        if isinstance(result, str):
            reasons[row] = result
        else:
            sizes[sample_id] = (result[1], result[0])
    regions_cfg = cfg.regions
    source = None
    if regions_cfg is not None and regions_cfg.format is not None and (
            regions_cfg.path is not None or not regions_cfg.auto):  # {auto: [face]} alone: no file
        ok_ids = [i for i in raw["id"] if not unsafe_path(i)]
        source = load_regions(regions_cfg, ok_ids)
        bad = source.problems(sizes)
        for row, sample_id in enumerate(raw["id"]):
            if row not in reasons and sample_id in bad:
                reasons[row] = bad[sample_id]
    skipped = [{"id": raw["id"].iloc[row], "reason": reasons[row]} for row in sorted(reasons)]
    table = raw.iloc[[r for r in range(len(raw)) if r not in reasons]].reset_index(drop=True)
    kept = set(table["id"])
    sizes = {i: hw for i, hw in sizes.items() if i in kept}
    if table.empty:
        first = f" (first: {skipped[0]['reason']})" if skipped else ""
        raise DataError(f"no usable samples: all {len(skipped)} were skipped{first}")
    classes = sorted(table["label"].unique())
    table["label"] = table["label"].map({c: i for i, c in enumerate(classes)}).astype(int)
    table.insert(1, "path", [root / normalise_name(i) for i in table["id"]])
    if not (table["split"] == cfg.audit_split).any():
        lost = [r for r in sorted(reasons) if raw["split"].iloc[r] == cfg.audit_split]
        why = (f"; {len(lost)} of its samples were skipped, the first: "
               f"{raw['id'].iloc[lost[0]]}: {reasons[lost[0]]}" if lost else "")
        raise DataError(f"data.audit_split: split {cfg.audit_split!r} has no usable samples "
                        f"(splits present: {', '.join(sorted(table['split'].unique()))}){why}")
    warnings += _label_warnings(table, classes, cfg.audit_split)
    if source is not None:
        warnings += source.warnings
        missing = int((~table["id"].isin(source.annotated)).sum())
        if missing:
            warnings.append(f"{missing} sample(s) have no region annotations; they are kept "
                            "and all their pixels count as background")
        n_bad = source.size_mismatches(sizes)
        if n_bad:
            warnings.append(f"{n_bad} sample(s) were annotated at another size than the image "
                            "file; their masks were rescaled")
    auto = list(regions_cfg.auto) if regions_cfg is not None else []
    names = sorted(set(source.names if source else []) | set(auto))
    mean, std = normalize_stats(cfg.normalize)
    log.info("loaded %d samples (%d skipped, %d classes, regions %s)", len(table), len(skipped),
             len(classes), ", ".join(names) or "none")
    return DataBundle(
        classes=classes, attributes=list(cfg.attributes), regions=names + [BACKGROUND],
        table=table, skipped=skipped, mean=mean, std=std,
        data_hash=_hash(table, classes, skipped, source.files if source else []),
        files_stamp=_files_stamp(table, source.files if source else []),
        warnings=warnings, image_size=cfg.image_size, resize=cfg.resize, image_sizes=sizes,
        _regions=ItemRegions(names, source, "face" in auto))


def _label_warnings(table: pd.DataFrame, classes: list[str], audit_split: str) -> list[str]:
    if audit_split == "train" or not (table["split"] == "train").any():
        return []
    train = set(table.loc[table["split"] == "train", "label"])
    unseen = sorted(set(table.loc[table["split"] == audit_split, "label"]) - train)
    if not unseen:
        return []
    names = ", ".join(classes[i] for i in unseen)
    return [f"label(s) {names} appear in the {audit_split} split but never in train"]

