"""synthetic-faces: cartoon faces drawn with Pillow whose expression is the label; deterministic from a seed."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from compress import CompressError

EXPRESSIONS = ("happy", "neutral", "sad", "surprise")  # the four expressions; "happy" is the cs231n study's positive
LABEL_NOISE = 0.09  # the cs231n study (Shved 2019) measured 9 % label error in its MTurk labels
SUPERSAMPLE = 2  # draw at 2x the output size, then downsample: smooth edges at 48x48

# Expression = (mouth curvature, mouth opening, mouth half-width, eye opening, brow height, inner-brow raise).
# Each face lies between NEUTRAL and its class's apex at a random intensity, plus jitter, so classes overlap a
# little at low intensity: that overlap, the nuisances and the label noise set the difficulty (BENCHMARKS.md).
NEUTRAL = np.array([0.0, 0.0, 0.42, 0.55, 0.22, 0.0])
APEX = {"happy": np.array([1.0, 0.6, 0.56, 0.3, 0.24, 0.0]),
        "neutral": NEUTRAL,
        "sad": np.array([-0.9, 0.05, 0.38, 0.35, 0.22, 0.9]),
        "surprise": np.array([0.0, 1.0, 0.22, 1.0, 0.40, 0.1])}
JITTER = np.array([0.14, 0.05, 0.05, 0.10, 0.04, 0.15])
MIN_INTENSITY = 0.5
# Nuisances, each drawn uniformly per image from (low, high); calibrated in BENCHMARKS.md.
NOISE_SIGMA = (0.005, 0.025)  # sensor noise, in [0, 1] pixel units
BLUR_RADIUS = (0.0, 0.7)  # Gaussian blur at the output size, applied to 70 % of faces
GRADIENT = (0.0, 0.6)  # lighting: gain change across the image
CONTRAST = (0.7, 1.2)
ROTATION_DEG = (-15, 15)
CLUTTER = (1, 5)  # background objects


def fingerprint() -> dict:
    """Every constant that shapes the images: part of the cache key, so retuning never reuses stale files."""
    names = ("EXPRESSIONS", "LABEL_NOISE", "SUPERSAMPLE", "NEUTRAL", "APEX", "JITTER", "MIN_INTENSITY",
             "NOISE_SIGMA", "BLUR_RADIUS", "GRADIENT", "CONTRAST", "ROTATION_DEG", "CLUTTER")
    return {n: _plain(globals()[n]) for n in names}


def _plain(value):
    return {k: _plain(v) for k, v in value.items()} if isinstance(value, dict) else np.asarray(value).tolist()


def expression_params(expression: str, rng: np.random.Generator) -> np.ndarray:
    """Continuous expression parameters: neutral + intensity x (apex - neutral) + jitter."""
    intensity = rng.uniform(MIN_INTENSITY, 1.0)
    p = NEUTRAL + intensity * (APEX[expression] - NEUTRAL) + rng.normal(0, JITTER)
    if expression == "happy":
        p[1] *= rng.uniform(0.0, 1.0)  # some smiles show teeth, some are closed
    p[1] = max(p[1], 0.0)
    p[3] = float(np.clip(p[3], 0.12, 1.1))
    return p


def _skin(rng: np.random.Generator) -> tuple[int, int, int]:
    t = rng.uniform(0, 1)  # dark to light skin
    dark, light = np.array([90, 56, 38]), np.array([250, 218, 190])
    rgb = dark + t * (light - dark) + rng.normal(0, 8, 3)
    return tuple(int(v) for v in np.clip(rgb, 0, 255))


def _color(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _clutter(draw: ImageDraw.ImageDraw, s: int, rng: np.random.Generator) -> None:
    """Background objects: rectangles, ellipses and lines of random colour, so the face is not the only edge."""
    for _ in range(rng.integers(*CLUTTER)):
        x0, y0 = rng.uniform(-0.2, 1.0, 2) * s
        w, h = rng.uniform(0.1, 0.6, 2) * s
        kind = rng.integers(3)
        if kind == 0:
            draw.rectangle((x0, y0, x0 + w, y0 + h), fill=_color(rng))
        elif kind == 1:
            draw.ellipse((x0, y0, x0 + w, y0 + h), fill=_color(rng))
        else:
            draw.line((x0, y0, x0 + w, y0 + h), fill=_color(rng), width=int(rng.uniform(0.01, 0.05) * s) + 1)


def _curve(cx, cy, rx, ry, half_w, y0, bend, t):
    """Points of a mouth line: x = half_w * t, corners raised by `bend` (head units) relative to the centre."""
    return [(cx + half_w * ti * rx, cy + (y0 - bend * ti * ti) * ry) for ti in t]


def _mouth(draw, cx, cy, rx, ry, p, lip, rng) -> None:
    curve, opening, half_w = p[0], p[1], max(p[2], 0.08)
    t = np.linspace(-1, 1, 15)
    bend = 0.26 * curve
    upper = _curve(cx, cy, rx, ry, half_w, 0.52, bend, t)
    thick = max(int(0.05 * rx), 1)
    if opening < 0.12:
        draw.line(upper, fill=lip, width=thick * 2, joint="curve")
        return
    depth = 0.34 * opening
    lower = [(x, y + depth * ry * (1 - ti * ti) ** 0.8) for (x, y), ti in zip(upper, t)]
    lift = 0.07 * opening if curve < 0.3 else 0.0  # an O-shaped mouth also opens upwards
    upper = [(x, y - lift * ry * (1 - ti * ti) ** 0.8) for (x, y), ti in zip(upper, t)]
    draw.polygon(upper + lower[::-1], fill=(60, 20, 25), outline=lip, width=thick)
    if curve > 0.3:  # teeth along the upper lip of an open smile
        teeth = [(x, y + 0.35 * depth * ry * (1 - ti * ti)) for (x, y), ti in zip(upper, t)]
        draw.polygon(upper + teeth[::-1], fill=(235, 235, 225))


def _eyes_and_brows(draw, cx, cy, rx, ry, p, rng, brow_color) -> None:
    eye_open, brow_h, inner_raise = p[3], p[4], p[5]
    ew, eh = 0.19 * rx, max(0.13 * rx * eye_open, 1.0)
    iris = rng.integers(20, 120)
    for side in (-1, 1):
        ex, ey = cx + side * 0.38 * rx, cy - 0.12 * ry
        draw.ellipse((ex - ew, ey - eh, ex + ew, ey + eh), fill=(245, 245, 240), outline=(30, 20, 20),
                     width=max(int(0.025 * rx), 1))
        r = min(0.09 * rx, eh)
        draw.ellipse((ex - r, ey - r, ex + r, ey + r), fill=(iris, iris // 2, iris // 3))
        by = ey - (brow_h + 0.1) * ry * 0.6
        inner = (cx + side * 0.14 * rx, by - 0.09 * inner_raise * ry)
        outer = (cx + side * 0.60 * rx, by + 0.03 * inner_raise * ry)
        draw.line((inner, outer), fill=brow_color, width=max(int(0.07 * rx), 1))


def draw_face(expression: str, size: int, rng: np.random.Generator) -> Image.Image:
    """One RGB face at size x size: random pose, skin, hair, clutter, lighting-free (lighting is added later)."""
    s = size * SUPERSAMPLE
    img = Image.new("RGB", (s, s), _color(rng, 30, 230))
    _clutter(ImageDraw.Draw(img), s, rng)
    layer = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    cx, cy = (0.5 + rng.uniform(-0.08, 0.08, 2)) * s
    rx = rng.uniform(0.29, 0.38) * s
    ry = rx * rng.uniform(1.1, 1.25)
    skin = _skin(rng)
    hair = _color(rng, 10, 120) if rng.uniform() < 0.8 else skin
    d.ellipse((cx - rx * 1.07, cy - ry * 1.08, cx + rx * 1.07, cy + ry * 0.45), fill=hair)  # hair behind the head
    for side in (-1, 1):  # ears
        ex = cx + side * rx * 0.97
        d.ellipse((ex - 0.12 * rx, cy - 0.2 * ry, ex + 0.12 * rx, cy + 0.1 * ry), fill=skin)
    d.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=skin)
    if hair != skin:  # fringe
        d.chord((cx - rx, cy - ry, cx + rx, cy + ry * rng.uniform(-0.2, 0.1)), 180, 360, fill=hair)
    p = expression_params(expression, rng)
    shade = tuple(int(v * 0.7) for v in skin)
    _eyes_and_brows(d, cx, cy, rx, ry, p, rng, brow_color=tuple(int(v * 0.6) for v in hair[:3]))
    d.line(((cx, cy + 0.05 * ry), (cx - 0.06 * rx, cy + 0.25 * ry), (cx + 0.04 * rx, cy + 0.27 * ry)),
           fill=shade, width=max(int(0.03 * rx), 1))  # nose
    lip = (int(skin[0] * 0.6), int(skin[1] * 0.35), int(skin[2] * 0.35))
    _mouth(d, cx, cy, rx, ry, p, lip, rng)
    layer = layer.rotate(rng.uniform(*ROTATION_DEG), resample=Image.BILINEAR, center=(cx, cy))
    img.paste(layer, (0, 0), layer)
    img = img.resize((size, size), Image.LANCZOS)
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(*BLUR_RADIUS))) if rng.uniform() < 0.7 else img


def _lighting_and_noise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A linear lighting gradient in a random direction, contrast, brightness and sensor noise; x in [0, 1]."""
    h, w = x.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w) - 0.5
    angle, strength = rng.uniform(0, 2 * math.pi), rng.uniform(*GRADIENT)
    gain = 1 + strength * (math.cos(angle) * xx + math.sin(angle) * yy)
    contrast, bright, sigma = rng.uniform(*CONTRAST), rng.uniform(-0.15, 0.15), rng.uniform(*NOISE_SIGMA)
    y = (x * gain[..., None] - 0.5) * contrast + 0.5 + bright + rng.normal(0, sigma, x.shape)
    return np.clip(np.round(y * 255), 0, 255).astype(np.uint8)


def generate(n: int, *, seed: int = 0, size: int = 48, channels: int = 1, priors=(0.25, 0.25, 0.25, 0.25),
             progress=None):
    """n faces: (x uint8 NHWC, true expression codes, label-flip mask, flip draws in [0, 1)); progress(): called
    once per face drawn (8,000 take ~15 s).

    Image i depends only on (seed, i), so a larger n extends a smaller set instead of reshuffling it.
    """
    if not (n >= 1 and size >= 1 and channels in (1, 3) and seed >= 0):
        raise CompressError(f"synthetic-faces: need samples >= 1, size >= 1, 1 or 3 channels and a seed >= 0; got "
                            f"{n}, {size}, {channels}, {seed}")
    x = np.empty((n, size, size, channels), np.uint8)
    codes = np.empty(n, np.int64)
    flips, draws = np.empty(n, bool), np.empty(n)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        codes[i] = rng.choice(len(EXPRESSIONS), p=priors)
        flips[i], draws[i] = rng.uniform() < LABEL_NOISE, rng.uniform()
        img = draw_face(EXPRESSIONS[codes[i]], size, rng)
        pixels = np.asarray(img.convert("L"))[..., None] if channels == 1 else np.asarray(img)
        x[i] = _lighting_and_noise(pixels / 255.0, rng)
        if progress is not None:
            progress()
    return x, codes, flips, draws
