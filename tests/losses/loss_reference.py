"""Brute-force per-pixel reference implementations of the losses (float64, plain Python loops)."""

from __future__ import annotations

import math

import numpy as np


def softmax(v):
    m = max(v)
    e = [math.exp(a - m) for a in v]
    s = sum(e)
    return [a / s for a in e]


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def pixels(x, t, ignore=255):
    """Yield (scores list, label) for every non-ignored pixel of x [N,C,H,W], t [N,H,W]."""
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t)
    N, C, H, W = x.shape
    for n in range(N):
        for i in range(H):
            for j in range(W):
                lab = int(t[n, i, j])
                if ignore is not None and lab == ignore:
                    continue
                yield [float(x[n, c, i, j]) for c in range(C)], lab


def probs_and_onehot(x, t, ignore=255):
    """Per valid pixel: class probabilities (softmax, or [1-p, p] for binary) and label."""
    C = np.asarray(x).shape[1]
    out = []
    for v, lab in pixels(x, t, ignore):
        if C == 1:
            p = sigmoid(v[0])
            out.append(([1 - p, p], lab))
        else:
            out.append((softmax(v), lab))
    return out


def bf_ce(x, t, weight=None, ignore=255):
    num = den = 0.0
    C = np.asarray(x).shape[1]
    for v, lab in pixels(x, t, ignore):
        if C == 1:
            p = sigmoid(v[0])
            nll = -math.log(p if lab == 1 else 1 - p)
        else:
            nll = -math.log(softmax(v)[lab])
        w = 1.0 if weight is None else weight[lab]
        num += w * nll
        den += w
    return num / den if den else 0.0


def bf_tversky_terms(x, t, ignore=255):
    """Per class (foreground only for binary): soft TP, FP, FN, GT count."""
    C = np.asarray(x).shape[1]
    classes = [1] if C == 1 else list(range(C))
    pp = probs_and_onehot(x, t, ignore)
    terms = []
    for c in classes:
        tp = fp = fn = g = 0.0
        for probs, lab in pp:
            p = probs[c]
            y = 1.0 if lab == c else 0.0
            tp += p * y
            fp += p * (1 - y)
            fn += (1 - p) * y
            g += y
        terms.append((tp, fp, fn, g))
    return terms


def bf_dice(x, t, smooth=1.0, weight=None, ignore=255, include_background=True, ignore_empty=False):
    terms = bf_tversky_terms(x, t, ignore)
    num = den = 0.0
    for c, (tp, fp, fn, g) in enumerate(terms):
        if len(terms) > 1 and not include_background and c == 0:
            continue
        if ignore_empty and g == 0:
            continue
        d = (2 * tp + smooth) / (2 * tp + fp + fn + smooth)
        w = 1.0 if weight is None else weight[c]
        num += w * (1 - d)
        den += w
    return num / den if den else 0.0


def bf_tversky(x, t, alpha, beta, gamma=1.0, smooth=1.0, ignore=255):
    terms = bf_tversky_terms(x, t, ignore)
    losses = []
    for tp, fp, fn, _ in terms:
        ti = (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)
        losses.append((1 - ti) ** gamma)
    return sum(losses) / len(losses)


def bf_focal(x, t, alpha=None, gamma=2.0, ignore=255, reduction="mean"):
    C = np.asarray(x).shape[1]
    total, n = 0.0, 0
    for v, lab in pixels(x, t, ignore):
        if C == 1:
            p1 = sigmoid(v[0])
            pt = p1 if lab == 1 else 1 - p1
            a = 1.0 if alpha is None else (alpha if lab == 1 else 1 - alpha)
        else:
            pt = softmax(v)[lab]
            a = 1.0 if alpha is None else (alpha if isinstance(alpha, float) else alpha[lab])
        total += -a * (1 - pt) ** gamma * math.log(pt)
        n += 1
    if reduction == "sum":
        return total
    return total / n if n else 0.0


def jaccard_set_loss(mis: set, fg: set) -> float:
    """Berman et al.'s Jaccard loss of a mispredicted set: |M| / |F u M|."""
    if not mis:
        return 0.0
    return len(mis) / len(fg | mis)


def lovasz_extension(errors, fg_flags):
    """Lovász extension of the Jaccard set loss at the error vector, from the definition."""
    order = sorted(range(len(errors)), key=lambda i: -errors[i])
    fg = {i for i, f in enumerate(fg_flags) if f}
    total, prev, mis = 0.0, 0.0, set()
    for i in order:
        mis.add(i)
        cur = jaccard_set_loss(mis, fg)
        total += errors[i] * (cur - prev)
        prev = cur
    return total


def bf_lovasz_softmax(x, t, ignore=255, classes="present"):
    pp = probs_and_onehot(x, t, ignore)
    C = np.asarray(x).shape[1]
    losses = []
    for c in range(C):
        fg = [lab == c for _, lab in pp]
        if classes == "present" and not any(fg):
            continue
        errors = [abs((1.0 if f else 0.0) - probs[c]) for (probs, _), f in zip(pp, fg)]
        losses.append(lovasz_extension(errors, fg))
    return sum(losses) / len(losses) if losses else 0.0


def bf_lovasz_hinge(x, t, ignore=255):
    vals = list(pixels(x, t, ignore))
    fg = [lab == 1 for _, lab in vals]
    errors = [max(0.0, 1.0 - v[0] * (1.0 if f else -1.0)) for (v, _), f in zip(vals, fg)]
    return lovasz_extension(errors, fg) if vals else 0.0
