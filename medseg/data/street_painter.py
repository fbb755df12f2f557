"""Drawing primitives of :mod:`medseg.data.synthetic_streets`: a pinhole painter and the
street objects (facades, trees, poles with signs/lights, people, two-wheelers, vehicles).

Every drawer takes the :class:`Painter` (camera, image, label map, random generator) and world
coordinates in metres (x right, y up from the ground, z forward).
"""

from __future__ import annotations

import numpy as np

# Train IDs (see medseg.labels).
ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEG, TERRAIN, SKY = range(11)
PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE = range(11, 19)

_BASE = {  # RGB base colours per class; each object jitters around them
    ROAD: (90, 90, 95),
    SIDEWALK: (150, 140, 140),
    BUILDING: (140, 120, 105),
    WALL: (160, 150, 130),
    FENCE: (110, 100, 90),
    POLE: (90, 90, 90),
    VEG: (60, 100, 40),
    TERRAIN: (120, 140, 70),
}


_BUILDING_COLOURS = (
    (140, 120, 105),
    (150, 75, 55),
    (125, 65, 50),
    (190, 170, 140),
    (130, 130, 130),
    (210, 205, 195),
    (170, 110, 80),
)


def paint_end_building(p: Painter, z: float) -> None:
    """Houses facing the camera across the end of the street, some with gables."""
    rng = p.rng
    xs = np.cumsum(np.r_[-80.0, rng.uniform(5, 15, 20)])
    for x0, x1 in zip(xs[:-1], xs[1:]):
        hb = rng.uniform(5, 15)
        col = p.jitter(_BUILDING_COLOURS[rng.integers(len(_BUILDING_COLOURS))], 25)
        p.poly([p.proj([x0, x1, x1, x0], [0, 0, hb, hb], [z] * 4)], BUILDING, col)
        if rng.random() < 0.5:
            p.poly(
                [p.proj([x0, x1, (x0 + x1) / 2], [hb, hb, hb + (x1 - x0) * 0.5], [z] * 3)],
                BUILDING,
                col * 0.9,
            )
        wx = np.arange(x0 + 1.0, x1 - 1.2, 2.2)
        wy = np.arange(1.0, hb - 1.5, 3.0)
        if wx.size and wy.size:
            xx, yy = (a.ravel() for a in np.meshgrid(wx, wy))
            q = p.proj(
                np.stack([xx, xx + 1.0, xx + 1.0, xx], 1),
                np.stack([yy, yy, yy + 1.5, yy + 1.5], 1),
                np.full((xx.size, 4), z),
            )
            p.poly(list(q), None, p.jitter((60, 70, 85), 30))


class Painter:
    """Draws world-space polygons into an RGB image and a label map at once."""

    def __init__(self, h: int, w: int, rng: np.random.Generator):
        import cv2

        self.cv2 = cv2
        self.h, self.w, self.rng = h, w, rng
        self.f = w * rng.uniform(0.55, 0.85)
        self.cx = w * (0.5 + rng.uniform(-0.08, 0.08))
        self.yh = h * rng.uniform(0.36, 0.5)
        self.hc = rng.uniform(1.3, 1.8)  # camera height (m)
        self.img = np.zeros((h, w, 3), np.uint8)
        self.lab = np.full((h, w), SKY, np.uint8)

    def proj(self, x, y, z) -> np.ndarray:
        """World points (x right, y up from ground, z forward; m) → pixel coords ×16."""
        z = np.maximum(np.asarray(z, np.float64), 0.3)
        px = self.cx + self.f * np.asarray(x) / z
        py = self.yh + self.f * (self.hc - np.asarray(y)) / z
        pts = np.empty(np.broadcast(px, py).shape + (2,))
        pts[..., 0] = px
        pts[..., 1] = py
        pts *= 16
        # Bound far-off vertices (objects behind the near plane) so int32 cannot overflow.
        return np.minimum(np.maximum(pts, -(2**20)), 2**20).astype(np.int32)

    def poly(self, pts, label: int | None, color) -> None:
        """Fill pixel polygons (``[K, P, 2]`` ×16 coords, or a list of ``[P, 2]``)."""
        pts = [np.asarray(p, np.int32) for p in pts]
        c = tuple(min(max(int(v), 0), 255) for v in color)
        self.cv2.fillPoly(self.img, pts, c, lineType=self.cv2.LINE_8, shift=4)
        if label is not None:
            self.cv2.fillPoly(self.lab, pts, int(label), lineType=self.cv2.LINE_8, shift=4)

    def ellipse(self, center, axes, label: int | None, color, thickness: int = -1) -> None:
        c = tuple(min(max(int(v), 0), 255) for v in color)
        cen = (int(center[0] * 16), int(center[1] * 16))
        ax = (max(int(axes[0] * 16), 8), max(int(axes[1] * 16), 8))
        t = thickness if thickness < 0 else max(thickness, 1)
        self.cv2.ellipse(self.img, cen, ax, 0, 0, 360, c, t, self.cv2.LINE_8, 4)
        if label is not None:
            self.cv2.ellipse(self.lab, cen, ax, 0, 0, 360, int(label), t, self.cv2.LINE_8, 4)

    def jitter(self, cls_or_rgb, amount: float = 25.0) -> np.ndarray:
        base = _BASE[cls_or_rgb] if isinstance(cls_or_rgb, int) else cls_or_rgb
        return np.asarray(base, float) + self.rng.normal(0, amount, 3)

    def box(self, x0, x1, y0, y1, z0, z1):
        """Visible faces of an axis-aligned box as pixel polygons (far faces first)."""
        P = self.proj
        faces = []
        # Side face toward the camera axis (x = x0 if the box is right of the camera).
        xs = x0 if x0 > 0 else (x1 if x1 < 0 else None)
        if xs is not None:
            faces.append(P([xs, xs, xs, xs], [y0, y1, y1, y0], [z0, z0, z1, z1]))
        if y1 < self.hc:  # top visible when below the camera
            faces.append(P([x0, x1, x1, x0], [y1, y1, y1, y1], [z0, z0, z1, z1]))
        faces.append(P([x0, x1, x1, x0], [y0, y0, y1, y1], [z0, z0, z0, z0]))
        return faces


def paint_facade(p: Painter, side: int, xb: float, z0: float, z1: float) -> None:
    rng = p.rng
    kind = rng.choice(4, p=[0.62, 0.1, 0.1, 0.18])
    x = side * xb
    if kind == 0:  # building with a window grid
        hb = rng.uniform(6, 30)
        col = p.jitter(_BUILDING_COLOURS[rng.integers(len(_BUILDING_COLOURS))], 25)
        p.poly([p.proj([x] * 4, [0, 0, hb, hb], [z0, z1, z1, z0])], BUILDING, col)
        fh, ww = rng.uniform(2.8, 3.6), rng.uniform(0.8, 1.6)
        rows = np.arange(rng.uniform(0.8, 1.5), hb - 1.0, fh)
        cols = np.arange(z0 + 0.8, z1 - ww, ww * rng.uniform(1.6, 2.6))
        if rows.size and cols.size:
            zz, yy = np.meshgrid(cols, rows)
            zz, yy = zz.ravel(), yy.ravel()
            wh = fh * rng.uniform(0.35, 0.6)
            xs = np.full((zz.size, 4), x)
            ys = np.stack([yy, yy, yy + wh, yy + wh], 1)
            zs = np.stack([zz, zz + ww, zz + ww, zz], 1)
            wcol = p.jitter((60, 70, 85), 30) if rng.random() < 0.7 else col * 0.6
            p.poly(list(p.proj(xs, ys, zs)), None, wcol)
    elif kind == 1:  # wall
        hw = rng.uniform(1.0, 3.0)
        p.poly([p.proj([x] * 4, [0, 0, hw, hw], [z0, z1, z1, z0])], WALL, p.jitter(WALL))
    elif kind == 2:  # fence: a slatted panel, labelled as a whole (as in Cityscapes)
        hf = rng.uniform(1.0, 2.2)
        col = p.jitter(FENCE)
        p.poly([p.proj([x] * 4, [0, 0, hf, hf], [z0, z1, z1, z0])], FENCE, col)
        zs = np.arange(z0, z1, rng.uniform(0.15, 0.4))
        bars = p.proj(
            np.full((zs.size, 4), x),
            np.tile([0, 0, hf, hf], (zs.size, 1)),
            np.stack([zs, zs + 0.05, zs + 0.05, zs], 1),
        )
        p.poly(list(bars), None, col * 0.6)
    else:  # hedge / bushes
        hh = rng.uniform(0.8, 4.0)
        p.poly([p.proj([x] * 4, [0, 0, hh, hh], [z0, z1, z1, z0])], VEG, p.jitter(VEG, 20))


def paint_tree(p: Painter, x: float, z: float) -> None:
    rng = p.rng
    ht = rng.uniform(3, 9)
    tw = rng.uniform(0.12, 0.3)
    p.poly(
        [p.proj([x - tw, x + tw, x + tw, x - tw], [0, 0, ht, ht], [z] * 4)],
        VEG,
        p.jitter((80, 60, 40), 15),
    )
    for _ in range(rng.integers(3, 7)):
        cx, cy = x + rng.normal(0, 1.0), ht + rng.normal(0, 0.8)
        c = p.proj(cx, cy, z) / 16.0
        r = p.f * rng.uniform(0.8, 2.2) / z
        p.ellipse(c, (r, r * rng.uniform(0.7, 1.1)), VEG, p.jitter(VEG, 20))


def paint_pole(p: Painter, x: float, z: float) -> None:
    rng = p.rng
    hp = rng.uniform(3, 7)
    r = rng.uniform(0.05, 0.12)
    p.poly([p.proj([x - r, x + r, x + r, x - r], [0, 0, hp, hp], [z] * 4)], POLE, p.jitter(POLE))
    kind = rng.random()
    if kind < 0.35:  # traffic sign: disc, triangle or rectangle
        s = rng.uniform(0.3, 0.5)
        y = hp - rng.uniform(0.3, 1.5)
        col = [(200, 30, 30), (30, 60, 180), (230, 230, 230), (230, 200, 30)][rng.integers(4)]
        shape = rng.integers(3)
        if shape == 0:
            c = p.proj(x, y, z) / 16.0
            p.ellipse(c, (p.f * s / z,) * 2, SIGN, p.jitter(col, 15))
        elif shape == 1:
            p.poly(
                [p.proj([x - s, x + s, x], [y + s, y + s, y - s], [z] * 3)], SIGN, p.jitter(col, 15)
            )
        else:
            p.poly(
                [p.proj([x - s, x + s, x + s, x - s], [y - s, y - s, y + s, y + s], [z] * 4)],
                SIGN,
                p.jitter(col, 15),
            )
    elif kind < 0.65:  # traffic light: dark housing with three lamps
        w, hl = 0.18, 0.5
        y = hp - 0.1
        xl = x + (rng.uniform(-1.5, 1.5) if rng.random() < 0.3 else 0)
        p.poly(
            [p.proj([xl - w, xl + w, xl + w, xl - w], [y - 2 * hl, y - 2 * hl, y, y], [z] * 4)],
            LIGHT,
            p.jitter((35, 35, 35), 10),
        )
        on = rng.integers(3)
        for k, lc in enumerate([(230, 40, 30), (240, 180, 20), (40, 220, 90)]):
            c = p.proj(xl, y - hl * (0.35 + 0.65 * k), z) / 16.0
            p.ellipse(c, (p.f * 0.1 / z,) * 2, LIGHT, lc if k == on else (60, 55, 50))


def paint_person(
    p: Painter, x: float, z: float, label: int = PERSON, y0: float = 0.0, seated: bool = False
) -> None:
    rng = p.rng
    h = rng.uniform(1.55, 1.9)
    shirt, pants = p.jitter((rng.integers(0, 255),) * 3, 60), p.jitter((50, 50, 70), 30)
    sw = h * 0.13
    legs = 0.0 if seated else h * 0.47
    top = y0 + legs + h * 0.38
    if not seated:
        st = rng.uniform(0.0, 0.15)
        for dx in (-1, 1):
            p.poly(
                [
                    p.proj(
                        [
                            x + dx * st - 0.07,
                            x + dx * st + 0.07,
                            x + 0.02 * dx,
                            x + 0.02 * dx - 0.07 * dx,
                        ],
                        [y0, y0, legs + y0, legs + y0],
                        [z] * 4,
                    )
                ],
                label,
                pants,
            )
    else:
        p.poly(
            [p.proj([x - sw, x + sw, x + sw, x - sw], [y0 - 0.25, y0 - 0.25, y0, y0], [z] * 4)],
            label,
            pants,
        )
    p.poly(
        [
            p.proj(
                [x - sw, x + sw, x + sw * 0.9, x - sw * 0.9],
                [y0 + legs, y0 + legs, top, top],
                [z] * 4,
            )
        ],
        label,
        shirt,
    )
    for dx in (-1, 1):  # arms
        p.poly(
            [
                p.proj(
                    [x + dx * sw, x + dx * (sw + 0.07), x + dx * (sw + 0.1), x + dx * sw],
                    [top, top, top - 0.6, top - 0.6],
                    [z] * 4,
                )
            ],
            label,
            shirt * 0.9,
        )
    c = p.proj(x, top + 0.13, z) / 16.0
    p.ellipse(c, (p.f * 0.1 / z, p.f * 0.13 / z), label, p.jitter((200, 160, 130), 30))


def paint_two_wheeler(p: Painter, x: float, z: float, motor: bool) -> None:
    rng = p.rng
    cls = MOTORCYCLE if motor else BICYCLE
    col = p.jitter((40, 40, 40) if motor else (rng.integers(0, 255),) * 3, 40)
    r = 0.33
    sideways = rng.random() < 0.5  # side view (crossing) or seen from behind
    if sideways:
        for dz in (-0.55, 0.55):
            c = p.proj(x + dz, r, z) / 16.0
            p.ellipse(
                c,
                (p.f * r / z,) * 2,
                cls,
                (20, 20, 20),
                int(p.f * (0.12 if motor else 0.05) / z) + 1,
            )
        body = 0.35 if motor else 0.05
        p.poly(
            [
                p.proj(
                    [x - 0.55, x + 0.55, x + 0.3, x - 0.3],
                    [r, r, r + 0.4 + body, r + 0.4 + body],
                    [z] * 4,
                )
            ],
            cls,
            col,
        )
    else:
        w = 0.1 if not motor else 0.25
        p.poly(
            [p.proj([x - w, x + w, x + w, x - w], [0, 0, 2 * r, 2 * r], [z] * 4)], cls, (25, 25, 25)
        )
        p.poly(
            [p.proj([x - 0.3, x + 0.3, x + 0.3, x - 0.3], [0.85, 0.85, 0.95, 0.95], [z] * 4)],
            cls,
            col,
        )
    paint_person(p, x, z - 0.01, RIDER, y0=r + 0.45 + (0.2 if motor else 0.25), seated=True)


def paint_vehicle(p: Painter, x: float, z: float, kind: int) -> None:
    rng = p.rng
    w, h, ln, cls = {
        CAR: (rng.uniform(1.6, 2.0), rng.uniform(1.3, 1.7), 4.4, CAR),
        TRUCK: (2.4, rng.uniform(2.8, 3.8), 7.0, TRUCK),
        BUS: (2.5, 3.1, 11.0, BUS),
        TRAIN: (2.6, 3.4, 25.0, TRAIN),
    }[kind]
    body = p.jitter((rng.integers(20, 230),) * 3 if kind == CAR else (200, 200, 190), 50)
    x0, x1 = x - w / 2, x + w / 2
    # soft shadow on the road (image only)
    p.poly(
        [
            p.proj(
                [x0 - 0.2, x1 + 0.2, x1 + 0.2, x0 - 0.2],
                [0, 0, 0, 0],
                [z - 0.3, z - 0.3, z + ln, z + ln],
            )
        ],
        None,
        (30, 30, 32),
    )
    faces = p.box(x0, x1, 0.25, h * (0.6 if kind == CAR else 1.0), z, z + ln)
    for i, f in enumerate(faces):
        p.poly([f], cls, body * (0.75 if i < len(faces) - 1 else 1.0))
    for dx in (x0 + 0.15, x1 - 0.45):  # wheels
        p.poly([p.proj([dx, dx + 0.3, dx + 0.3, dx], [0, 0, 0.5, 0.5], [z] * 4)], cls, (15, 15, 15))
    if kind == CAR:  # cabin with a rear window
        cz0, cz1 = z + 1.0, z + 3.2
        for f in p.box(x0 + 0.1, x1 - 0.1, h * 0.6, h, cz0, cz1):
            p.poly([f], cls, body * 0.85)
        p.poly(
            [
                p.proj(
                    [x0 + 0.25, x1 - 0.25, x1 - 0.3, x0 + 0.3],
                    [h * 0.65] * 2 + [h * 0.95] * 2,
                    [cz0] * 4,
                )
            ],
            None,
            p.jitter((40, 50, 60), 15),
        )
    else:  # window band
        p.poly(
            [
                p.proj(
                    [x0 + 0.1, x1 - 0.1, x1 - 0.1, x0 + 0.1],
                    [h * 0.55, h * 0.55, h * 0.85, h * 0.85],
                    [z] * 4,
                )
            ],
            None,
            p.jitter((40, 50, 60), 15),
        )
    for dx in (x0 + 0.1, x1 - 0.35):  # tail lights (image only)
        p.poly(
            [p.proj([dx, dx + 0.25, dx + 0.25, dx], [0.75, 0.75, 0.9, 0.9], [z] * 4)],
            None,
            (200, 30, 25),
        )
