"""Write the parity fixtures under tests/fixtures/parity/ (see tests/parity/README.md).

    python3 tests/parity/make_fixtures.py            # all backbones + preprocessing fixture
    python3 tests/parity/make_fixtures.py --only wide_resnet50_2

Weights come from the formula in reference.py (nothing downloaded, nothing committed but activations).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "parity")
SIZE = 64  # model fixtures
PRE_SIZE = 256  # preprocessing fixture
FORMULA_TEXT = (
    "seed=FNV-1a64(utf8(name)); z=seed+(i+1)*0x9E3779B97F4A7C15 (mod 2^64, i = flat C-order index); "
    "z=(z^(z>>30))*0xBF58476D1CE4E5B9; z=(z^(z>>27))*0x94D049BB133111EB; z^=z>>31; "
    "u=(z>>40)/2^24; r=2u-1; running_mean: 0.1r; running_var: 1+0.5u; rank-4: r*sqrt(3/(s1*s2*s3)); "
    "rank-1 .weight: 1+0.1r; rank-1 .bias: 0.1r; computed in float64, stored float32. "
    "name = 'teacher.'+key | 'proj.'+key | 'bn.'+key | 'decoder.'+key")


def versions() -> dict:
    import cv2
    import scipy
    import safetensors
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "opencv": cv2.__version__, "safetensors": safetensors.__version__}


# ----------------------------------------------------------------------------------------------------
# Synthetic images: integer arithmetic only, so they are identical on every machine.
# ----------------------------------------------------------------------------------------------------

def _tri(v, period):
    """Triangle wave 0..255 (integer)."""
    m = v % (2 * period)
    return np.abs(m - period) * 255 // period


def synthetic_rgb(h: int = 83, w: int = 97) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    r = _tri(3 * x + 2 * y, 37)
    g = (x * 255) // (w - 1) * 3 // 4 + _tri(y, 11) // 4
    b = (_tri(x, 9) * _tri(y + 5, 13)) // 255
    img = np.stack([r, g, b], axis=-1)
    img[20:45, 30:61] = (250, 20, 30)  # sharp-edged rectangle
    img[(x - 2 * y + 40 >= 0) & (x - 2 * y + 40 < 3)] = (255, 255, 255)  # diagonal line
    corner = (x >= w - 20) & (y >= h - 16)  # checkerboard corner
    img[corner] = 255
    img[corner & ((x // 4 + y // 4) % 2 == 0)] = 0
    img[5, :] = 0  # one dark row
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_gray(h: int, w: int, salt: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    g = (_tri(x + salt, 23) + _tri(2 * y + x // 3, 17) + (x * y + salt) % 7 * 9) // 2
    g[(x // 10 + y // 10) % 5 == 0] = 255 - g[(x // 10 + y // 10) % 5 == 0]
    g[h // 3: h // 3 + 7, :] = 0
    g[:, w // 2] = 255
    return np.clip(g, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------

def check_resize(img01: np.ndarray, size: int, stored: np.ndarray) -> dict:
    """Compare `stored` (the reference formula) with cv2 as installed, IPP on and off, and with the
    other formulas (summaries for the JSON sidecar)."""
    import cv2

    ipp_was = cv2.ipp.useIPP()
    meta = {}
    cv2.ipp.setUseIPP(True)
    default = cv2.resize(img01, (size, size))
    meta["cv2_default_equal"] = bool(np.array_equal(default, stored))
    meta["cv2_default_max_abs_diff"] = float(np.abs(default - stored).max())
    cv2.ipp.setUseIPP(False)
    noipp = cv2.resize(img01, (size, size))
    cv2.ipp.setUseIPP(ipp_was)
    opencv = R.resize_opencv(img01, size, size)
    assert np.array_equal(noipp, opencv), "resize_opencv no longer matches cv2 with IPP disabled"
    nofma = R.resize_ipp(img01, size, size, fused=False)
    for tag, arr in (("opencv_noipp", opencv), ("ipp_nofma", nofma)):
        meta[f"{tag}_fnv1a64"] = R.fnv1a64_array(arr)
        meta[f"{tag}_max_abs_diff"] = float(np.abs(arr - stored).max())
    return meta


def keys_listing(module: torch.nn.Module, used) -> list:
    rows = []
    for key, t in module.state_dict().items():
        rows.append({"key": key, "shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
                     "used": bool(used(key)), "formula": R.formula_rule(key, tuple(t.shape)) if used(key) else None})
    return rows


def formula_checks(module: torch.nn.Module, prefix: str, used, limit: int = 1 << 19) -> list:
    """Per part, the first small tensor of each kind (rule x key suffix, plus a ConvTranspose2d weight) with
    its first values and FNV-1a 64 of all its float32 little-endian bytes."""
    seen, out = set(), []
    for key, t in module.state_dict().items():
        rule = R.formula_rule(key, tuple(t.shape))
        kind = (rule, key.rsplit(".", 1)[-1], ".upsample.0." in key)
        if not used(key) or rule is None or t.numel() > limit or kind in seen:
            continue
        seen.add(kind)
        v = R.formula_values(prefix + key, key, tuple(t.shape))
        out.append({"name": prefix + key, "shape": list(t.shape), "seed_hex": f"{R.fnv1a64(prefix + key):016x}",
                    "rule": rule, "first8": [float(a) for a in v.ravel()[:8]], "f32_le_fnv1a64": R.fnv1a64_array(v)})
    return out


def make_backbone(backbone: str, img: np.ndarray) -> dict:
    t0 = time.time()
    teacher = R.build_teacher(backbone)
    parts = R.build_student(backbone)
    R.fill_formula(teacher, "teacher.", lambda k: R.teacher_key_used(backbone, k))
    for part, mod in parts.items():
        R.fill_formula(mod, part + ".", lambda k, p=part: R.student_key_used(p, k))
    t_weights = time.time() - t0

    resized, x = R.preprocess(img, SIZE, backbone, resize=R.resize_reference)
    resize_meta = check_resize(R.to_rgb_u8(img) / 255.0, SIZE, resized)
    E, P, o, D = R.rdpp_forward(teacher, parts, x)
    raw, _up, total, blurred, score = R.anomaly_maps(E, D, SIZE)

    tensors = {"input_rgb": img, "x": x.numpy()}
    for i in range(3):
        tensors[f"f{i + 1}"] = E[i].numpy()
        tensors[f"p{i + 1}"] = P[i].numpy()
        tensors[f"d{i + 1}"] = D[i].numpy()
        tensors[f"m{i + 1}"] = raw[i]
    tensors["ocbe"] = o.numpy()
    tensors["map_sum"] = total
    tensors["map_blur"] = blurred
    tensors["score"] = np.array([score], dtype=np.float64)
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    for k, v in tensors.items():
        assert np.all(np.isfinite(v.astype(np.float64))), k

    mags = {k: float(np.abs(v.astype(np.float64)).max()) for k, v in tensors.items()
            if k not in ("input_rgb",)}
    meta = {"image_hw": list(img.shape[:2]),
            "resize": "reference.resize_ipp(fused=True) (= cv2.resize float64 INTER_LINEAR via IPP AVX2/AVX-512)",
            "resize_check": resize_meta, "max_abs": mags, "score": score, "versions": versions(),
            "torch_threads": torch.get_num_threads(),
            "tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in tensors.items()}}
    path = os.path.join(OUT, f"{backbone}.safetensors")
    # one metadata entry only: safetensors writes its metadata map in random order
    save_file(tensors, path, metadata={"about": f"see {backbone}.keys.json -> fixture"})

    listing = {
        "backbone": backbone, "input_size": SIZE, "formula": FORMULA_TEXT, "fixture": meta,
        "notes": "State-dict order. 'used': read by the RD++ forward pass (teacher layer4/fc, lite0 blocks "
                 "11-15/head/fc, OCBE conv4/bn4 and every num_batches_tracked are not). Unused entries are "
                 "not filled by the formula. ConvTranspose2d weights are [C_in, C_out, k, k] and their "
                 "formula uses shape[1] = C_out.",
        "teacher": keys_listing(teacher, lambda k: R.teacher_key_used(backbone, k)),
        **{part: keys_listing(mod, lambda k, p=part: R.student_key_used(p, k)) for part, mod in parts.items()},
        "formula_checks": formula_checks(teacher, "teacher.", lambda k: R.teacher_key_used(backbone, k))
        + [c for part, mod in parts.items()
           for c in formula_checks(mod, part + ".", lambda k, p=part: R.student_key_used(p, k))],
    }
    with open(os.path.join(OUT, f"{backbone}.keys.json"), "w") as fh:
        json.dump(listing, fh, indent=1)
        fh.write("\n")

    n_params = {p: sum(t.numel() for k, t in m.state_dict().items() if R.student_key_used(p, k))
                for p, m in parts.items()}
    n_params["teacher"] = sum(t.numel() for k, t in teacher.state_dict().items()
                              if R.teacher_key_used(backbone, k))
    print(f"[{backbone}] weights {t_weights:.1f}s, used values {n_params}, total {time.time() - t0:.1f}s")
    print(f"  resize vs cv2: {resize_meta}")
    for k in ("f1", "f2", "f3", "p1", "p2", "p3", "ocbe", "d1", "d2", "d3", "m1", "m2", "m3"):
        v = tensors[k]
        print(f"  {k:5s} {str(list(v.shape)):18s} max|.| {np.abs(v).max():10.4g}  mean {v.mean():10.4g}  std {v.std():.4g}")
    print(f"  map_sum [{total.min():.5f}, {total.max():.5f}]  map_blur [{blurred.min():.5f}, {blurred.max():.5f}]"
          f"  score {score!r}")
    return {"path": path}


def make_preprocess(rgb: np.ndarray) -> None:
    import cv2

    images = {"up_gray": synthetic_gray(47, 61, 3),  # upscale 5.45 x 4.20
              "down_gray": synthetic_gray(283, 301, 11),  # non-integer downscale 1.105 x 1.176
              "rgb": rgb}  # 83 x 97 RGB, resized to 64 (as in the model fixtures); 256 only as hashes
    tensors, meta = {}, {"size": PRE_SIZE, "opencv": cv2.__version__,
                         "ipp": cv2.ipp.getIppVersion() if hasattr(cv2.ipp, "getIppVersion") else "?",
                         "stored": "reference.resize_ipp(fused=True) of to_rgb_u8(img)/255.",
                         "note": "gray images are replicated to 3 channels before resizing; all 3 output "
                                 "channels equal the stored [S,S] array"}
    for name, img in images.items():
        img01 = R.to_rgb_u8(img) / 255.0
        tensors[f"{name}_input"] = img
        sizes = (PRE_SIZE,) if img.ndim == 2 else (SIZE, PRE_SIZE)
        for s in sizes:
            out = R.resize_reference(img01, s)
            assert np.array_equal(out[..., 0], out[..., 1]) or img.ndim == 3
            tag = f"{name}_s{s}"
            for k, v in check_resize(img01, s, out).items():
                meta[f"{tag}_{k}"] = v
            meta[f"{tag}_fnv1a64"] = R.fnv1a64_array(out if img.ndim == 3 else out[..., 0])
            if img.ndim == 2:
                tensors[f"{name}_resized"] = np.ascontiguousarray(out[..., 0])
            elif s == SIZE:
                tensors[f"{name}_resized_s{s}"] = np.ascontiguousarray(out)
            print(f"[preprocess] {tag}: {img.shape} -> {s}: cv2 default equal {meta[f'{tag}_cv2_default_equal']}, "
                  f"|opencv(no IPP) - stored| {meta[f'{tag}_opencv_noipp_max_abs_diff']}, "
                  f"|ipp no-FMA - stored| {meta[f'{tag}_ipp_nofma_max_abs_diff']}")
    save_file(tensors, os.path.join(OUT, "preprocess.safetensors"), metadata={"about": "see preprocess.json"})
    with open(os.path.join(OUT, "preprocess.json"), "w") as fh:
        json.dump({"tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in tensors.items()},
                   **meta, "versions": versions()}, fh, indent=1, sort_keys=True)
        fh.write("\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=R.BACKBONES, nargs="*", default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(OUT, exist_ok=True)
    t0 = time.time()
    img = synthetic_rgb()
    for backbone in args.only or R.BACKBONES:
        make_backbone(backbone, img)
    if not args.only:
        make_preprocess(img)
    total = 0
    for f in sorted(os.listdir(OUT)):
        size = os.path.getsize(os.path.join(OUT, f))
        total += size
        print(f"  {f:40s} {size / 1024:9.1f} KiB")
    print(f"  total {total / 1024 / 1024:.2f} MiB; {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
