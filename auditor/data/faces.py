"""Automatic face regions (``regions: {auto: [face]}``) from OpenCV's bundled Haar cascade.

The frontal-face cascade shipped inside ``opencv-python-headless`` (``cv2.data.haarcascades``)
needs no download. Detected boxes are united into a ``face`` mask (OR-ed with any annotated
``face`` region). Detection runs on the image at its original size in its displayed
orientation. Haar cascades find upright frontal faces of at least about 24 pixels; profile,
rotated or tiny faces are missed, so check the annotation coverage that ``audit validate``
prints.
"""

from __future__ import annotations

import numpy as np

from auditor.errors import DataError

__all__ = ["CASCADE_FILE", "detect_faces", "face_mask"]

CASCADE_FILE = "haarcascade_frontalface_default.xml"
_CASCADE = None


def _cascade():
    """The cascade classifier, loaded once per process."""
    global _CASCADE
    if _CASCADE is None:
        try:
            import cv2
        except ImportError:
            raise DataError("data.regions.auto: face detection needs OpenCV; install it with "
                            "pip install 'auditor[faces]'") from None
        if not hasattr(cv2, "CascadeClassifier"):
            raise DataError(f"data.regions.auto: OpenCV {cv2.__version__} has no Haar cascades "
                            "(removed in OpenCV 5); pip install 'opencv-python-headless<5'")
        path = cv2.data.haarcascades + CASCADE_FILE
        clf = cv2.CascadeClassifier(path)
        if clf.empty():
            raise DataError(f"{path}: OpenCV's face cascade could not be loaded; reinstall "
                            "with pip install 'auditor[faces]'")
        _CASCADE = clf
    return _CASCADE


def detect_faces(image: np.ndarray, *, scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_size: float = 0.08) -> list[tuple[int, int, int, int]]:
    """Detect upright frontal faces.

    Args:
        image: ``uint8 [H, W, 3]`` RGB.
        scale_factor: image pyramid step of the cascade.
        min_neighbors: overlapping detections needed to keep a box (higher = fewer, surer).
        min_size: smallest face side as a share of the shorter image side (at least 20 px).

    Returns:
        Boxes ``(x, y, w, h)`` in pixels, largest first.
    """
    clf = _cascade()  # first: raises a DataError when OpenCV is missing
    import cv2
    gray = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY))
    side = max(20, int(min_size * min(image.shape[:2])))
    boxes = clf.detectMultiScale(gray, scaleFactor=scale_factor, minNeighbors=min_neighbors,
                                 minSize=(side, side))
    out = [tuple(int(v) for v in b) for b in (boxes if len(boxes) else [])]
    return sorted(out, key=lambda b: -b[2] * b[3])


def face_mask(image: np.ndarray) -> np.ndarray:
    """``bool [H, W]``: the union of the boxes :func:`detect_faces` finds in ``image``."""
    mask = np.zeros(image.shape[:2], dtype=bool)
    for x, y, w, h in detect_faces(image):
        mask[y:y + h, x:x + w] = True
    return mask
