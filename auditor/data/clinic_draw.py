"""Drawing of one "clinic" cartoon: a person with dark or blond hair holding a small object.

Scenes are sampled in a 64-unit coordinate frame and scaled to the image size. Every visible
part is built from polygons; the same polygons (grown by ``pad`` pixels) are the COCO
annotations, so annotations match the drawn pixels by construction:

- ``face``: head + hair (+ eyes and mouth, which lie inside the head);
- ``object``: the held glyph. ``doctor`` holds a stethoscope (a ring with a tube and ear
  pieces), ``nurse`` holds a syringe (barrel, plunger and needle). Both are drawn in the same
  two colours (silver and near-black), so only the shape tells the class apart.

Drawing is supersampled ``SUPERSAMPLE`` times and box-filtered down (anti-aliased edges).
Layers can be switched off (``layers=("object",)`` renders the object alone on black), which
the tests use to check that the annotation masks cover the drawn pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["ClinicStyle", "Scene", "render_scene", "sample_scene", "scene_polygons"]

SUPERSAMPLE = 4
UNITS = 64.0
LAYERS = ("background", "body", "face", "object")

SKIN_TONES = [(255, 224, 196), (241, 194, 160), (224, 172, 125), (198, 134, 86),
              (160, 102, 62), (110, 70, 45)]
COATS = [(236, 236, 236), (170, 200, 230), (120, 170, 140), (140, 140, 150), (50, 60, 100),
         (120, 50, 60), (200, 180, 140), (90, 120, 160)]
HAIR_COLOURS = {"dark": (40, 28, 20), "blond": (235, 200, 95)}
HAIR_STYLES = ("short", "long", "bun", "bob")
SILVER = (205, 205, 212, 255)  # both objects use the same two colours: only the shape differs
DARK = (30, 30, 36, 255)

Polygon = list[tuple[float, float]]


@dataclass(frozen=True)
class ClinicStyle:
    """Tuning knobs of the generator (all sizes in pixels at 64 px image size).

    Attributes:
        object_size: length of the held object (stethoscope/syringe), about 8-12 px.
        object_contrast: opacity of the object, 0 (invisible) .. 1 (full colour).
        hair_contrast: 1 = dark vs blond at full strength, 0 = both the same mid colour.
        noise_std: std of the per-pixel Gaussian noise, in 0..255 grey levels.
        texture_std: amplitude of the low-frequency background texture, in grey levels.
    """

    object_size: float = 11.0
    object_contrast: float = 0.92
    hair_contrast: float = 1.0
    noise_std: float = 6.0
    texture_std: float = 14.0


@dataclass
class Scene:
    """The sampled parameters of one image (64-unit frame)."""

    label: str
    hair: str
    head: tuple[float, float, float, float]  # cx, cy, rx, ry
    hair_style: str
    hair_colour: tuple[int, int, int]
    skin: tuple[int, int, int]
    coat: tuple[int, int, int]
    body: tuple[float, float, float, float]  # cx, top y, top width, bottom width
    hands: tuple[tuple[float, float], tuple[float, float]]
    side: int  # 0 = object at the left hand, 1 = right
    obj_centre: tuple[float, float]
    obj_size: float
    obj_angle: float  # degrees
    bg: tuple[tuple[int, int, int], tuple[int, int, int]]
    bg_angle: float
    texture: np.ndarray = field(repr=False)  # [4, 4] low-frequency texture in -1..1


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def sample_scene(rng: np.random.Generator, label: str, hair: str, style: ClinicStyle) -> Scene:
    """Sample one scene. ``label`` in {doctor, nurse}, ``hair`` in {dark, blond}."""
    rx = _u(rng, 7.5, 9.5)
    head = (32 + _u(rng, -5, 5), 21 + _u(rng, -3, 3), rx, rx * _u(rng, 1.05, 1.2))
    body_top = head[1] + head[3] - 1.0
    body = (head[0] + _u(rng, -2, 2), body_top, _u(rng, 16, 20), _u(rng, 30, 38))
    hand_y = _u(rng, 46, 54)
    half = _body_half_width(body, hand_y)
    hands = ((body[0] - half - 1.5, hand_y), (body[0] + half + 1.5, hand_y))
    side = int(rng.integers(2))
    hx, hy = hands[side]
    direction = -1 if side == 0 else 1
    obj_size = style.object_size * _u(rng, 0.85, 1.15)
    centre = (hx + direction * _u(rng, 2.0, 4.0), hy - _u(rng, 3.0, 6.0))
    mean = np.mean(list(HAIR_COLOURS.values()), axis=0)
    base = np.array(HAIR_COLOURS[hair], dtype=float)
    tint = base + rng.normal(0, 10, 3)
    hair_colour = mean + style.hair_contrast * (tint - mean)
    bg1 = tuple(int(v) for v in rng.integers(40, 230, 3))
    bg2 = tuple(int(v) for v in np.clip(np.array(bg1) + rng.integers(-70, 70, 3), 0, 255))
    return Scene(
        label=label, hair=hair, head=head, hair_style=str(rng.choice(HAIR_STYLES)),
        hair_colour=tuple(int(v) for v in np.clip(hair_colour, 0, 255)),
        skin=SKIN_TONES[int(rng.integers(len(SKIN_TONES)))],
        coat=COATS[int(rng.integers(len(COATS)))], body=body, hands=hands, side=side,
        obj_centre=centre, obj_size=obj_size, obj_angle=_u(rng, -35, 35),
        bg=(bg1, bg2), bg_angle=_u(rng, 0, 2 * math.pi), texture=rng.uniform(-1, 1, (4, 4)),
    )


def _body_half_width(body: tuple[float, float, float, float], y: float) -> float:
    cx, top, w_top, w_bottom = body
    t = min(max((y - top) / (UNITS - top), 0.0), 1.0)
    return (w_top + t * (w_bottom - w_top)) / 2


def _ellipse(cx: float, cy: float, rx: float, ry: float, a0: float = 0.0, a1: float = 360.0,
             n: int = 40) -> Polygon:
    angles = np.radians(np.linspace(a0, a1, n, endpoint=a1 - a0 < 360))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


def _thick_line(points: list[tuple[float, float]], width: float) -> list[Polygon]:
    """One quadrilateral per segment (ends extended by half the width so joints close)."""
    quads = []
    h = width / 2
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:], strict=True):
        length = math.hypot(x1 - x0, y1 - y0) or 1.0
        dx, dy = (x1 - x0) / length, (y1 - y0) / length
        nx, ny = -dy * h, dx * h
        ax, ay, bx, by = x0 - dx * h, y0 - dy * h, x1 + dx * h, y1 + dy * h
        quads.append([(ax + nx, ay + ny), (bx + nx, by + ny), (bx - nx, by - ny),
                      (ax - nx, ay - ny)])
    return quads


def _rect(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _grow(poly: Polygon, pad: float) -> Polygon:
    """Offset a convex polygon outwards by ``pad`` (mitred corners, capped at 3 x pad)."""
    if pad == 0 or len(poly) < 3:
        return poly
    n = len(poly)
    area = sum(poly[i][0] * poly[(i + 1) % n][1] - poly[(i + 1) % n][0] * poly[i][1]
               for i in range(n))
    sign = 1.0 if area > 0 else -1.0

    def normal(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
        ex, ey = b[0] - a[0], b[1] - a[1]
        length = math.hypot(ex, ey) or 1.0
        return sign * ey / length, -sign * ex / length

    out = []
    for i in range(n):
        n1 = normal(poly[i - 1], poly[i])
        n2 = normal(poly[i], poly[(i + 1) % n])
        bx, by = n1[0] + n2[0], n1[1] + n2[1]
        blen = math.hypot(bx, by)
        if blen < 1e-9:
            bx, by, blen = n1[0], n1[1], 1.0
        bx, by = bx / blen, by / blen
        cos_half = max(bx * n1[0] + by * n1[1], 1 / 3)
        out.append((poly[i][0] + bx * pad / cos_half, poly[i][1] + by * pad / cos_half))
    return out


def _object_parts(scene: Scene) -> list[tuple[Polygon, tuple[int, int, int, int]]]:
    """The held object as (polygon, RGBA colour) pairs in object-local units, then placed."""
    s = scene.obj_size
    parts: list[tuple[Polygon, tuple[int, int, int, int]]] = []
    if scene.label == "doctor":  # stethoscope: chest-piece ring + tube + ear pieces
        r = 0.26 * s
        ring_y = 0.5 * s - r
        parts.append((_ellipse(0, ring_y, r, r, n=24), SILVER))
        parts.append((_ellipse(0, ring_y, 0.45 * r, 0.45 * r, n=16), (0, 0, 0, 0)))
        tube = [(0, ring_y - r), (0.18 * s, 0.0), (0.0, -0.28 * s), (-0.12 * s, -0.5 * s)]
        parts += [(q, DARK) for q in _thick_line(tube, max(0.13 * s, 1.2))]
        ears = [(-0.32 * s, -0.42 * s), (-0.12 * s, -0.5 * s), (0.08 * s, -0.42 * s)]
        parts += [(q, DARK) for q in _thick_line(ears, max(0.1 * s, 1.0))]
    else:  # syringe: barrel with outline, plunger rod + handle, needle
        bw, top, bottom = 0.14 * s, -0.3 * s, 0.22 * s
        parts.append((_rect(-bw - 0.6, top - 0.6, bw + 0.6, bottom + 0.6), DARK))
        parts.append((_rect(-bw, top, bw, bottom), SILVER))
        parts.append((_rect(-0.05 * s, -0.44 * s, 0.05 * s, top), DARK))
        parts.append((_rect(-0.2 * s, -0.5 * s, 0.2 * s, -0.42 * s), DARK))
        parts += [(q, (120, 120, 130, 255)) for q in _thick_line(
            [(0, bottom + 0.6), (0, 0.5 * s)], max(0.07 * s, 0.9))]
    ang = math.radians(scene.obj_angle)
    ca, sa = math.cos(ang), math.sin(ang)
    ox, oy = scene.obj_centre
    return [([(ox + x * ca - y * sa, oy + x * sa + y * ca) for x, y in poly], colour)
            for poly, colour in parts]


def _hair_parts(scene: Scene) -> list[Polygon]:
    cx, cy, rx, ry = scene.head
    cap = _ellipse(cx, cy - 0.5, rx + 1.5, ry + 1.5, 190, 350, n=30)
    cap += [(cx + rx * 0.75, cy - ry * 0.35), (cx - rx * 0.75, cy - ry * 0.35)]
    parts = [cap]
    if scene.hair_style in ("long", "bob"):
        bottom = cy + (ry + 9 if scene.hair_style == "long" else ry * 0.6)
        for sgn in (-1, 1):
            x_out, x_in = cx + sgn * (rx + 1.8), cx + sgn * (rx - 1.2)
            parts.append([(x_in, cy - ry * 0.5), (x_out, cy - ry * 0.5), (x_out, bottom),
                          (x_in, bottom)])
    elif scene.hair_style == "bun":
        parts.append(_ellipse(cx, cy - ry - 2.2, 3.8, 3.2, n=20))
    return parts


def scene_polygons(scene: Scene, size: int, pad_px: float = 0.0) -> dict[str, list[Polygon]]:
    """Annotation polygons in pixel coordinates of a ``size`` image, grown by ``pad_px``.

    Returns:
        ``{"face": [...], "object": [...]}``; holes (the stethoscope ring) are not cut out.
    """
    k = size / UNITS
    pad = pad_px / k
    cx, cy, rx, ry = scene.head
    face = [_grow(p, pad) for p in [_ellipse(cx, cy, rx, ry)] + _hair_parts(scene)]
    obj = [_grow(p, pad) for p, colour in _object_parts(scene) if colour[3] > 0]
    return {name: [[(x * k, y * k) for x, y in p] for p in polys]
            for name, polys in {"face": face, "object": obj}.items()}


def _background(scene: Scene, side: int, texture_std: float) -> np.ndarray:
    yy, xx = np.mgrid[0:side, 0:side] / max(side - 1, 1)
    t = (np.cos(scene.bg_angle) * (xx - 0.5) + np.sin(scene.bg_angle) * (yy - 0.5)) / 1.42 + 0.5
    c1, c2 = np.array(scene.bg[0], float), np.array(scene.bg[1], float)
    img = c1 + t[..., None] * (c2 - c1)
    tex = Image.fromarray(((scene.texture + 1) * 127.5).astype(np.uint8)).resize(
        (side, side), Image.BICUBIC)
    return img + texture_std * (np.asarray(tex, float) / 127.5 - 1)[..., None]


def _composite_object(canvas: Image.Image, parts: list[tuple[list[tuple[float, float]], tuple]],
                      contrast: float) -> Image.Image:
    """Alpha-blend the object's polygons (canvas pixels, RGBA colours) onto ``canvas`` at
    ``contrast`` opacity. Only the object's bounding box (plus a margin) is composited: the
    same pixels as blending a whole-canvas layer, at a fraction of the cost."""
    xs = [x for poly, _ in parts for x, _ in poly]
    ys = [y for poly, _ in parts for _, y in poly]
    if not xs:
        return canvas
    x0, y0 = max(math.floor(min(xs)) - 2, 0), max(math.floor(min(ys)) - 2, 0)
    x1, y1 = min(math.ceil(max(xs)) + 3, canvas.width), min(math.ceil(max(ys)) + 3, canvas.height)
    if x1 <= x0 or y1 <= y0:
        return canvas
    layer = Image.new("RGBA", (x1 - x0, y1 - y0), (0, 0, 0, 0))
    ldraw = ImageDraw.Draw(layer)
    for poly, colour in parts:
        ldraw.polygon([(x - x0, y - y0) for x, y in poly], fill=colour)
    alpha = np.asarray(layer.getchannel("A"), float) * contrast
    layer.putalpha(Image.fromarray(alpha.astype(np.uint8)))
    box = (x0, y0, x1, y1)
    canvas.paste(Image.alpha_composite(canvas.crop(box).convert("RGBA"), layer).convert("RGB"),
                 box[:2])
    return canvas


def render_scene(scene: Scene, size: int, style: ClinicStyle, *,
                 noise_rng: np.random.Generator | None = None,
                 layers: tuple[str, ...] = LAYERS) -> np.ndarray:
    """Render a scene to ``uint8 [size, size, 3]``.

    Args:
        scene: from :func:`sample_scene`.
        size: output side in pixels.
        style: generator knobs.
        noise_rng: source of pixel noise; None = no noise.
        layers: subset of ``background, body, face, object``; missing layers are not drawn
            (a missing background leaves black).
    """
    big = size * SUPERSAMPLE
    k = big / UNITS

    def px(poly: Polygon) -> list[tuple[float, float]]:
        return [(x * k, y * k) for x, y in poly]

    if "background" in layers:
        bg = np.clip(_background(scene, size, style.texture_std), 0, 255)  # smooth: no need
        canvas = Image.fromarray(np.rint(bg).astype(np.uint8)).resize((big, big), Image.BILINEAR)
    else:
        canvas = Image.new("RGB", (big, big))
    draw = ImageDraw.Draw(canvas)
    if "body" in layers:
        cx, top, w_top, w_bot = scene.body
        hx, hy = scene.head[0], scene.head[1] + scene.head[3]
        draw.polygon(px(_rect(hx - 2.2, hy - 2, hx + 2.2, top + 2)), fill=scene.skin)
        draw.polygon(px([(cx - w_top / 2, top), (cx + w_top / 2, top),
                         (cx + w_bot / 2, UNITS + 1), (cx - w_bot / 2, UNITS + 1)]),
                     fill=scene.coat)
        for hand in scene.hands:
            draw.polygon(px(_ellipse(hand[0], hand[1], 2.3, 2.3, n=16)), fill=scene.skin)
    if "face" in layers:
        cx, cy, rx, ry = scene.head
        draw.polygon(px(_ellipse(cx, cy, rx, ry)), fill=scene.skin)
        for poly in _hair_parts(scene):
            draw.polygon(px(poly), fill=scene.hair_colour)
        for sgn in (-1, 1):
            draw.polygon(px(_ellipse(cx + sgn * rx * 0.38, cy + ry * 0.1, 0.9, 0.9, n=10)),
                         fill=(20, 20, 25))
        draw.polygon(px(_rect(cx - rx * 0.3, cy + ry * 0.5, cx + rx * 0.3, cy + ry * 0.58)),
                     fill=(150, 60, 60))
    if "object" in layers:
        canvas = _composite_object(canvas, [(px(p), c) for p, c in _object_parts(scene)],
                                   style.object_contrast)
    small = np.asarray(canvas.reduce(SUPERSAMPLE), dtype=float)
    if noise_rng is not None and style.noise_std > 0:
        small = small + noise_rng.normal(0, style.noise_std, small.shape)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)
