#!/usr/bin/env python3
"""Reference values for the `rdpp-metrics` tests (writes tests/reference.json).

Run from anywhere:  python3 crates/metrics/tests/sklearn_reference.py
Needs numpy, scipy, scikit-learn, scikit-image and pandas. CI has no Python: the JSON it writes is
committed and the Rust tests only read it.

The inputs are not stored: both this script and the Rust tests regenerate them from a seed with the
same SplitMix64 generator and the same sequence of draws (see `image_case` / `pixel_case`), and the
JSON stores checksums of the generated data so a generator mismatch fails loudly.

Sources of the expected values:
  * image AUROC, ROC curves, pixel AUROC, F1-max: scikit-learn itself;
  * AUPRO: two independent implementations written here from the published definition (Bergmann
    et al., "The MVTec Anomaly Detection Dataset", IJCV 2021, and the MVTec AD evaluation code's
    description): a vectorised one (sort pixels once, cumulative sums) and a brute-force one (one
    binarisation per distinct threshold); they must agree before anything is written;
  * official PRO: a line-by-line transcription of `compute_pro` in `utils/utils_test.py` of the
    official RD++ repository (tientrandinh/Revisiting-Reverse-Distillation), using skimage, pandas
    and sklearn exactly as it does (only `np.bool`, removed from numpy, is spelled `bool`), called
    once per anomalous image and averaged with `np.mean`, as its `evaluation_multi_proj` does.
"""

import json
import math
import os
from bisect import bisect
from statistics import mean

import numpy as np
import pandas as pd
import scipy.ndimage
import sklearn
import skimage
from skimage import measure
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score, roc_curve

MASK64 = (1 << 64) - 1


class SplitMix64:
    """The SplitMix64 generator (Steele, Lea, Flood 2014); mirrored in tests/reference.rs."""

    def __init__(self, seed):
        self.s = seed & MASK64

    def next_u64(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next_u64() >> 11) * 2.0**-53

    def below(self, n):
        return self.next_u64() % n


def quantise(v, levels):
    return math.floor(v * levels) / levels if levels > 0 else v


def image_case(seed, n, levels, shift):
    """Image scores (float64) and labels; ties when levels > 0."""
    rng = SplitMix64(seed)
    labels = [rng.uniform() < 0.4 for _ in range(n)]
    scores = [quantise(rng.uniform() + (shift if lab else 0.0), levels) for lab in labels]
    return np.array(scores, dtype=np.float64), np.array(labels, dtype=bool)


def pixel_case(seed, n_images, w, h, p_speckle, levels, shift):
    """Anomaly maps (float32, row-major h x w) and masks: speckle + an optional rectangle."""
    rng = SplitMix64(seed)
    maps, masks = [], []
    for _ in range(n_images):
        normal = rng.uniform() < 0.25
        has_rect = rng.uniform() < 0.7
        x0 = rng.below(w)
        y0 = rng.below(h)
        rw = 1 + rng.below(max(1, w // 3))
        rh = 1 + rng.below(max(1, h // 3))
        mask = np.zeros((h, w), dtype=bool)
        for y in range(h):
            for x in range(w):
                mask[y, x] = rng.uniform() < p_speckle
        if has_rect:
            mask[y0:y0 + rh, x0:x0 + rw] = True
        if normal:
            mask[:, :] = False
        amap = np.zeros((h, w), dtype=np.float32)
        for y in range(h):
            for x in range(w):
                v = rng.uniform() * 0.8 + (shift if mask[y, x] else 0.0)
                amap[y, x] = np.float32(quantise(v, levels))
        maps.append(amap)
        masks.append(mask)
    return np.stack(maps), np.stack(masks)


def checksum(maps):
    s = 0.0
    for v in maps.ravel():
        s += float(v)
    return s


# ---------------------------------------------------------------------------------------------
# AUPRO, implementation 1: sort once, cumulative sums (written from the definition).
def aupro_vectorised(maps, masks, limit):
    structure = np.ones((3, 3), dtype=int)  # 8-connectivity
    n_ok = 0
    n_regions = 0
    fp_change = np.zeros(maps.shape, dtype=np.float64)
    pro_change = np.zeros(maps.shape, dtype=np.float64)
    for i, mask in enumerate(masks):
        lab, n = scipy.ndimage.label(mask, structure)
        n_regions += n
        ok = lab == 0
        n_ok += ok.sum()
        fp_change[i][ok] = 1.0
        for k in range(1, n + 1):
            region = lab == k
            pro_change[i][region] = 1.0 / region.sum()
    scores = maps.astype(np.float64).ravel()
    order = np.argsort(-scores, kind="stable")
    scores = scores[order]
    fpr = np.cumsum(fp_change.ravel()[order]) / n_ok
    pro = np.cumsum(pro_change.ravel()[order]) / n_regions
    last_of_tie = np.append(np.diff(scores) != 0, True)
    fpr, pro, thr = fpr[last_of_tie], pro[last_of_tie], scores[last_of_tie]
    fpr = np.concatenate(([0.0], np.minimum(fpr, 1.0)))
    pro = np.concatenate(([0.0], np.minimum(pro, 1.0)))
    thr = np.concatenate(([np.inf], thr))
    return integrate(fpr, pro, limit) / limit, (fpr, pro, thr)


def integrate(x, y, limit):
    """Trapezoid area under y(x) from x[0] to `limit`, the curve interpolated at the limit."""
    x = list(x)
    y = list(y)
    area = 0.0
    if limit not in x:
        i = bisect(x, limit)  # first index with x > limit
        assert 0 < i < len(x)
        y_at = y[i - 1] + (y[i] - y[i - 1]) * (limit - x[i - 1]) / (x[i] - x[i - 1])
        area += 0.5 * (y_at + y[i - 1]) * (limit - x[i - 1])
    keep = [k for k in range(len(x)) if x[k] <= limit]
    for a, b in zip(keep[:-1], keep[1:]):
        area += 0.5 * (y[b] + y[a]) * (x[b] - x[a])
    return area


# AUPRO, implementation 2: brute force, one binarisation per distinct threshold.
def aupro_brute(maps, masks, limit):
    regions = []
    for i, mask in enumerate(masks):
        lab, n = scipy.ndimage.label(mask, np.ones((3, 3), dtype=int))
        for k in range(1, n + 1):
            regions.append((i, lab == k))
    normal = ~masks
    xs, ys = [0.0], [0.0]
    for t in sorted(set(maps.astype(np.float64).ravel()), reverse=True):
        pred = maps.astype(np.float64) >= t
        xs.append((pred & normal).sum() / normal.sum())
        ys.append(sum((pred[i] & r).sum() / r.sum() for i, r in regions) / len(regions))
    return integrate(xs, ys, limit) / limit


# ---------------------------------------------------------------------------------------------
# The official RD++ "PRO": transcription of utils/utils_test.py::compute_pro.
def official_compute_pro(masks, amaps, num_th=200):
    assert isinstance(amaps, np.ndarray), "type(amaps) must be ndarray"
    assert isinstance(masks, np.ndarray), "type(masks) must be ndarray"
    assert amaps.ndim == 3, "amaps.ndim must be 3 (num_test_data, h, w)"
    assert masks.ndim == 3, "masks.ndim must be 3 (num_test_data, h, w)"
    assert amaps.shape == masks.shape, "amaps.shape and masks.shape must be same"
    assert set(masks.flatten()) == {0, 1}, "set(masks.flatten()) must be {0, 1}"
    assert isinstance(num_th, int), "type(num_th) must be int"

    d = {'pro': [], 'fpr': [], 'threshold': []}
    binary_amaps = np.zeros_like(amaps, dtype=bool)

    min_th = amaps.min()
    max_th = amaps.max()
    delta = (max_th - min_th) / num_th

    for th in np.arange(min_th, max_th, delta):
        binary_amaps[amaps <= th] = 0
        binary_amaps[amaps > th] = 1

        pros = []
        for binary_amap, mask in zip(binary_amaps, masks):
            for region in measure.regionprops(measure.label(mask)):
                axes0_ids = region.coords[:, 0]
                axes1_ids = region.coords[:, 1]
                tp_pixels = binary_amap[axes0_ids, axes1_ids].sum()
                pros.append(tp_pixels / region.area)

        inverse_masks = 1 - masks
        fp_pixels = np.logical_and(inverse_masks, binary_amaps).sum()
        fpr = fp_pixels / inverse_masks.sum()

        d['pro'].append(mean(pros))
        d['fpr'].append(fpr)
        d['threshold'].append(th)
    df = pd.DataFrame(d)
    df = df[df["fpr"] < 0.3]
    df["fpr"] = df["fpr"] / df["fpr"].max()

    pro_auc = auc(df["fpr"], df["pro"])
    return pro_auc


def official_pro(maps, masks):
    """As evaluation_multi_proj: per anomalous image (float64 map), then np.mean."""
    values = []
    for amap, mask in zip(maps, masks):
        if not mask.any():
            continue
        try:
            v = official_compute_pro(mask.astype(int)[np.newaxis],
                                     amap.astype(np.float64)[np.newaxis])
        except (ValueError, AssertionError, ZeroDivisionError) as e:
            return None, f"{type(e).__name__}: {e}"
        if not np.isfinite(v):
            return None, f"non-finite ({v})"
        values.append(float(v))
    if not values:
        return None, "no anomalous image"
    return float(np.mean(values)), values


def arange_case(a, b):
    a, b = np.float64(a), np.float64(b)
    r = np.arange(a, b, (b - a) / 200)
    s = 0.0
    for v in r:
        s += float(v)
    return {"min": float(a), "max": float(b), "len": len(r), "last": float(r[-1]), "sum": s}


# ---------------------------------------------------------------------------------------------
def curve(fpr, tpr, thr):
    return {"fpr": [float(v) for v in fpr], "tpr": [float(v) for v in tpr],
            "thresholds": [None if not np.isfinite(v) else float(v) for v in thr]}


def f1_reference(scores, labels):
    p, r, t = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * p * r / (p + r)
    f1 = np.nan_to_num(f1[:-1], nan=0.0)  # the last point (p=1, r=0) has no threshold
    i = int(np.argmax(f1))
    return float(f1[i]), float(t[i])


IMAGE_CASES = [  # seed, n, levels, shift
    (1, 10, 0, 0.3), (2, 25, 4, 0.2), (3, 60, 8, 0.1), (4, 7, 2, 0.0),
    (5, 200, 0, 0.5), (6, 40, 3, -0.2), (7, 33, 16, 0.05), (8, 120, 5, 0.15), (9, 30, 0, 0.1),
]
PIXEL_CASES = [  # seed, n_images, width, height, p_speckle, levels, shift
    (11, 4, 12, 9, 0.08, 16, 0.3), (12, 3, 20, 15, 0.05, 0, 0.2), (13, 5, 16, 16, 0.12, 8, 0.1),
    (14, 2, 7, 5, 0.2, 4, 0.4), (15, 6, 32, 24, 0.03, 0, 0.25), (16, 3, 9, 11, 0.3, 32, 0.0),
    (17, 4, 24, 20, 0.02, 0, 0.35), (18, 5, 10, 10, 0.1, 64, 0.15),
    # Binary-ish maps: seed 19 has a per-image official PRO of exactly 0 and 1, seed 20 makes the
    # official code return NaN (every kept FPR is 0, so its rescaling divides 0 by 0).
    (19, 2, 6, 6, 0.0, 2, 0.9), (20, 2, 6, 6, 0.0, 2, 0.9),
]
MAX_STORED_CURVE = 40  # store whole curves only when they are this short (keeps the JSON small)
LIMITS = [0.3, 0.05, 1.0]


def main():
    out = {
        "generated_by": "crates/metrics/tests/sklearn_reference.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                     "scikit-learn": sklearn.__version__, "scikit-image": skimage.__version__,
                     "pandas": pd.__version__},
        "image_cases": [], "pixel_cases": [], "arange_cases": [],
    }
    for seed, n, levels, shift in IMAGE_CASES:
        scores, labels = image_case(seed, n, levels, shift)
        assert labels.any() and not labels.all(), seed
        case = {"seed": seed, "n": n, "levels": levels, "shift": shift,
                "checksum": float(sum(float(v) for v in scores)), "positives": int(labels.sum())}
        case["auroc"] = float(roc_auc_score(labels, scores))
        for key, drop in (("roc_all", False), ("roc_drop", True)):
            c = curve(*roc_curve(labels, scores, drop_intermediate=drop))
            if len(c["fpr"]) <= MAX_STORED_CURVE:
                case[key] = c
        case["f1_max"], case["f1_threshold"] = f1_reference(scores, labels)
        out["image_cases"].append(case)

    for seed, n_img, w, h, p, levels, shift in PIXEL_CASES:
        maps, masks = pixel_case(seed, n_img, w, h, p, levels, shift)
        assert masks.any() and not masks.all(), seed
        case = {"seed": seed, "n_images": n_img, "width": w, "height": h, "p_speckle": p,
                "levels": levels, "shift": shift, "checksum": checksum(maps),
                "mask_pixels": int(masks.sum())}
        flat_s = maps.astype(np.float64).ravel()
        flat_l = masks.ravel()
        case["pixel_auroc"] = float(roc_auc_score(flat_l, flat_s))
        case["regions"] = int(sum(scipy.ndimage.label(m, np.ones((3, 3), dtype=int))[1]
                                  for m in masks))
        case["aupro"] = []
        for limit in LIMITS:
            v1, (fpr, pro, thr) = aupro_vectorised(maps, masks, limit)
            v2 = aupro_brute(maps, masks, limit)
            assert abs(v1 - v2) < 1e-12, (seed, limit, v1, v2)
            case["aupro"].append({"limit": limit, "value": v1})
        case["pro_curve_points"] = len(fpr)
        if len(fpr) <= MAX_STORED_CURVE:  # few distinct values: store the curves themselves
            case["pixel_roc_all"] = curve(*roc_curve(flat_l, flat_s, drop_intermediate=False))
            case["pro_curve"] = {"fpr": [float(v) for v in fpr], "pro": [float(v) for v in pro],
                                 "thresholds": [None if not np.isfinite(v) else float(v)
                                                for v in thr]}
        value, detail = official_pro(maps, masks)
        if value is None:
            case["official_pro"] = None
            case["official_pro_error"] = detail
        else:
            case["official_pro"] = value
            case["official_pro_per_image"] = detail
        img_scores = maps.reshape(n_img, -1).max(axis=1).astype(np.float64)
        img_labels = masks.reshape(n_img, -1).any(axis=1)
        case["image_labels"] = [bool(v) for v in img_labels]
        if img_labels.any() and not img_labels.all():
            case["image_auroc_from_max"] = float(roc_auc_score(img_labels, img_scores))
        out["pixel_cases"].append(case)

    rng = SplitMix64(99)
    for k in range(24):
        scale = [1.0, 1e-3, 10.0, 3.7][k % 4]
        a = float(np.float32(rng.uniform() * scale))
        b = float(np.float32(a + rng.uniform() * scale + 1e-6))
        out["arange_cases"].append(arange_case(a, b))

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path}: {os.path.getsize(path)} bytes; "
          f"{sum(c[5] > 0 for c in PIXEL_CASES)} cases with stored curves; "
          f"arange lengths {sorted(set(c['len'] for c in out['arange_cases']))}; "
          f"official PRO errors: {[c['seed'] for c in out['pixel_cases'] if c['official_pro'] is None]}")


if __name__ == "__main__":
    main()
