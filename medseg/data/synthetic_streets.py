"""Procedural Cityscapes-style street scenes labelled with the 19 train IDs (255 = ignore).

No labelled street data installs offline, so the shipped street model learns from scenes drawn
here: a pinhole camera over a flat world (road with lane marks, sidewalks, terrain, building
facades with windows, walls, fences, hedges, trees, poles with signs and traffic lights, cars,
trucks, buses, people, riders on bicycles/motorcycles, an ego-vehicle hood marked ignore),
painted back to front with OpenCV polygons, then lit, textured, blurred and noised with a few
whole-image numpy operations. Everything is drawn from one ``numpy`` generator, so a seed
fixes the scene. About 3–5 ms per 256×512 scene on one core.

Example:
    >>> img, lab = render_scene(0)           # uint8 [256, 512, 3] RGB, uint8 [256, 512]
    >>> ds = SyntheticStreets(100, seed=1)   # torch Dataset of (image, label) pairs
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..labels import IGNORE_INDEX
from .street_painter import (
    BUS,
    CAR,
    ROAD,
    SIDEWALK,
    TERRAIN,
    TRAIN,
    TRUCK,
    Painter,
    paint_end_building,
    paint_facade,
    paint_person,
    paint_pole,
    paint_tree,
    paint_two_wheeler,
    paint_vehicle,
)


def render_scene(seed: int | np.random.SeedSequence, size: tuple[int, int] = (256, 512)):
    """Draw one scene.

    Args:
        seed: integer or ``SeedSequence``; the same seed always gives the same scene.
        size: ``(H, W)``.

    Returns:
        ``(image, label)``: ``uint8 [H, W, 3]`` RGB and ``uint8 [H, W]`` train IDs (255 ignore).
    """
    import cv2

    rng = np.random.default_rng(seed)
    h, w = size
    p = Painter(h, w, rng)
    far = 400.0
    # Sky gradient (horizon lighter), then ground = terrain.
    top, hor = p.jitter((70, 120, 190), 30), p.jitter((190, 205, 220), 20)
    if rng.random() < 0.35:  # overcast
        top = hor = p.jitter((200, 200, 205), 12)
    t = np.clip(np.linspace(0, 1, h) * h / max(p.yh, 1), 0, 1)[:, None, None]
    p.img[:] = (top * (1 - t) + hor * t).astype(np.uint8)
    p.poly(
        [p.proj([-500, 500, 500, -500], [0] * 4, [far, far, 0.5, 0.5])], TERRAIN, p.jitter(TERRAIN)
    )
    # Road and sidewalks along z; lanes of 3.2 m, camera in one of them.
    lanes = int(rng.integers(2, 5))
    lw = 3.2
    xl = -lw * (rng.integers(0, lanes) + rng.uniform(0.3, 0.7))
    xr = xl + lanes * lw
    swl, swr = rng.uniform(1.5, 4.5, 2)
    for a, b in ((xl - swl, xl), (xr, xr + swr)):
        p.poly([p.proj([a, b, b, a], [0] * 4, [far, far, 0.5, 0.5])], SIDEWALK, p.jitter(SIDEWALK))
    p.poly([p.proj([xl, xr, xr, xl], [0] * 4, [far, far, 0.5, 0.5])], ROAD, p.jitter(ROAD, 12))
    # Lane marks (road label): dashed lane boundaries, solid edges.
    zs = np.arange(rng.uniform(0, 9), 120, 9.0)
    mark = p.jitter((225, 225, 220), 10)
    for xb in [xl + lw * k for k in range(1, lanes)]:
        q = p.proj(
            np.tile([xb - 0.07, xb + 0.07, xb + 0.07, xb - 0.07], (zs.size, 1)),
            np.zeros((zs.size, 4)),
            np.stack([zs, zs, zs + 3, zs + 3], 1),
        )
        p.poly(list(q), None, mark)
    for xb in (xl + 0.2, xr - 0.2):
        p.poly(
            [p.proj([xb - 0.06, xb + 0.06, xb + 0.06, xb - 0.06], [0] * 4, [far, far, 0.5, 0.5])],
            None,
            mark,
        )
    if rng.random() < 0.2:  # crosswalk
        zc = rng.uniform(8, 25)
        xs = np.arange(xl, xr, 1.0)
        q = p.proj(
            np.stack([xs, xs + 0.5, xs + 0.5, xs], 1),
            np.zeros((xs.size, 4)),
            np.tile([zc, zc, zc + 3, zc + 3], (xs.size, 1)),
        )
        p.poly(list(q), None, mark)
    # Facades: across the street end (optional), then both sides far to near.
    z_end = rng.uniform(25, 150) if rng.random() < 0.4 else 250.0
    if z_end < 250:
        paint_end_building(p, z_end)
    for side, xedge in ((-1, -(xl - swl)), (1, xr + swr)):
        setback = rng.uniform(0, 4) if rng.random() < 0.5 else 0.0
        xb = xedge + setback
        if setback > 0 and rng.random() < 0.7:
            a, b = sorted((side * xedge, side * xb))
            p.poly(
                [p.proj([a, b, b, a], [0] * 4, [far, far, 0.5, 0.5])], TERRAIN, p.jitter(TERRAIN)
            )
        edges = np.cumsum(rng.uniform(6, 25, 40))
        edges = edges[edges < z_end]
        for z0, z1 in list(zip(edges[:-1], edges[1:]))[::-1]:
            if rng.random() < 0.88:
                paint_facade(p, side, xb, z0 + rng.uniform(0, 1.5), z1)
    # Objects sorted far to near: (z, drawer).
    objs: list[tuple[float, Callable[[], None]]] = []

    def add(z, fn, *a):
        objs.append((z, lambda: fn(p, *a)))

    for side, xs in ((-1, xl - swl * rng.uniform(0.1, 0.3)), (1, xr + swr * rng.uniform(0.1, 0.3))):
        for z in rng.uniform(4, 80, rng.integers(1, 7)):
            add(z, paint_pole, xs, z)
        for z in rng.uniform(5, 80, rng.integers(0, 5)):
            add(z, paint_tree, xs + side * rng.uniform(0, 1.0), z)
    for z in rng.uniform(4, 50, rng.integers(0, 8)):  # pedestrians (a few crossing)
        x = rng.uniform(xl - swl, xl) if rng.random() < 0.45 else rng.uniform(xr, xr + swr)
        if rng.random() < 0.1:
            x = rng.uniform(xl, xr)
        add(z, paint_person, x, z)
    for z in rng.uniform(6, 60, rng.integers(0, 3)):
        add(z, paint_two_wheeler, rng.uniform(xl + 0.5, xr - 0.5), z, bool(rng.random() < 0.35))
    for z in rng.uniform(6, 90, rng.integers(0, 9)):  # traffic and parked cars
        lane = rng.integers(0, lanes)
        x = xl + lw * (lane + 0.5) + rng.normal(0, 0.3)
        kind = rng.choice([CAR, TRUCK, BUS, TRAIN], p=[0.82, 0.08, 0.07, 0.03])
        add(z, paint_vehicle, x, z, kind)
    for _z, fn in sorted(objs, key=lambda o: -o[0]):
        fn()
    if rng.random() < 0.35:  # ego-vehicle hood: ignore, as in Cityscapes
        yb = h * rng.uniform(0.88, 0.96)
        pts = np.array([[0, h], [0, yb + 6], [w / 2, yb], [w, yb + 6], [w, h]]) * 16
        p.poly([pts.astype(np.int32)], IGNORE_INDEX, p.jitter((30, 30, 35), 10))
    # Photometric, on uint8 with lookup tables where possible (speed): low-frequency
    # texture and a cast shadow (one multiplicative field), lighting, blur, noise.
    low = cv2.resize(
        rng.normal(0, 1, (8, 16)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )
    mid = cv2.resize(
        rng.normal(0, 1, (32, 64)).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR
    )
    fine = cv2.resize(
        rng.normal(0, 1, (128, 256)).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR
    )
    field = 1 + 0.12 * low + 0.06 * mid + rng.uniform(0, 0.08) * fine
    if rng.random() < 0.5:  # a cast shadow across the ground
        y0 = rng.uniform(p.yh, h)
        pts = (
            np.array(
                [
                    [rng.uniform(-w, w), y0],
                    [rng.uniform(0, 2 * w), y0],
                    [rng.uniform(0, 2 * w), h],
                    [rng.uniform(-w, w), h],
                ]
            )
            * 16
        )
        shade = np.zeros((h, w), np.uint8)
        cv2.fillPoly(shade, [pts.astype(np.int32)], 1, shift=4)
        field[shade.astype(bool)] *= rng.uniform(0.45, 0.75)
    img = cv2.multiply(p.img, cv2.merge([field] * 3), dtype=cv2.CV_8U)
    gain = rng.uniform(0.55, 1.35) * rng.uniform(0.85, 1.15, 3)
    v = np.arange(256, dtype=np.float64)[:, None] / 255.0
    lut = 255.0 * np.clip(v * gain, 0, 1) ** rng.uniform(0.7, 1.4)
    img = cv2.LUT(img, lut.astype(np.uint8).reshape(256, 1, 3))
    if rng.random() < 0.6:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.4))
    noise = np.empty((h, w, 3), np.int16)
    cv2.setRNGSeed(int(rng.integers(2**31)))  # cv2 draws the noise fast; seed it from ours
    cv2.randn(noise, 0, float(rng.uniform(1, 8)))
    img = cv2.add(img, noise, dtype=cv2.CV_8U)
    return img, p.lab


class SyntheticStreets:
    """A map-style dataset of :func:`render_scene` outputs (a ``torch.utils.data.Dataset``).

    Item ``i`` is drawn from ``SeedSequence([seed, i])``, so different ``seed`` values give
    disjoint, reproducible sets (training seed 0, held-out evaluation seed 1).

    Args:
        length: number of scenes.
        seed: dataset seed.
        size: ``(H, W)`` of each scene.
        transforms: optional ``callable(image, label) -> (image, label)`` applied to the
            ``uint8`` numpy pair (e.g. :func:`medseg.transforms.joint.train_transforms`).
    """

    def __init__(
        self,
        length: int,
        seed: int = 0,
        size: tuple[int, int] = (256, 512),
        transforms: Callable | None = None,
    ):
        self.length, self.seed, self.size, self.transforms = (
            int(length),
            int(seed),
            tuple(size),
            transforms,
        )

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        if not 0 <= i < self.length:
            raise IndexError(f"index {i} out of range for {self.length} scenes")
        img, lab = render_scene(np.random.SeedSequence([self.seed, i]), self.size)
        if self.transforms is not None:
            return self.transforms(img, lab)
        return img, lab
