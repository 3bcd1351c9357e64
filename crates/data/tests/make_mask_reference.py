"""Reference values for rdpp-data's mask resizing (Pillow's bilinear resample, as used by the
official RD++ code through `torchvision.transforms.Resize((size, size))` + `ToTensor()`).

Run from anywhere: `python3 crates/data/tests/make_mask_reference.py` (needs numpy and Pillow;
torchvision, when installed, is used to check that its Resize + ToTensor + `> 0.5` agrees with
the Pillow values written here). Writes into `crates/data/tests/data/masks/`:

* `<name>.png|.bmp` — an input mask, made here from a fixed numpy seed;
* `<name>.expected<size>.png` — what Pillow's `Image.resize((size, size), BILINEAR)` returns
  (8-bit gray; for mode "1" and "P" images Pillow uses NEAREST and ToTensor gives 0/1, stored
  as 0/255), i.e. `round(ToTensor(Resize(img)) * 255)`;
* `cases.json` — the list of (input, size, expected, pil_mode).

Generated with Pillow 13.0.0 and numpy 2.4.6; the files are committed, the Rust tests only read them.
"""
import json
import os

import numpy as np
from PIL import Image, ImageDraw

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "masks")
os.makedirs(HERE, exist_ok=True)
rng = np.random.default_rng(20240611)


def blobs(w, h, n, gray_levels=False):
    img = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(img)
    for _ in range(n):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(2, w / 4), rng.uniform(2, h / 4)
        fill = int(rng.integers(1, 256)) if gray_levels else 255
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=fill)
    # A thin diagonal line: the hardest case for a downscale.
    d.line([(0, h * 0.9), (w - 1, h * 0.1)], fill=255, width=1)
    return img


cases = []


def case(name, img, size, ext="png"):
    src = f"{name}.{ext}"
    img.save(os.path.join(HERE, src))
    back = Image.open(os.path.join(HERE, src))
    out = back.resize((size, size), Image.BILINEAR)
    arr = np.array(out, dtype=np.uint8)
    if back.mode == "1":
        arr = arr.astype(np.uint8) * 255  # np.array of mode "1" is bool
    expected = f"{name}.expected{size}.png"
    Image.fromarray(arr, "L").save(os.path.join(HERE, expected))
    cases.append({"input": src, "size": size, "expected": expected, "pil_mode": back.mode})
    try:
        import torch  # noqa: F401
        from torchvision import transforms

        t = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor()])(back)
        assert t.shape[0] == 1, (name, t.shape)
        tv = (t[0].numpy() > 0.5)
        assert (tv == (arr > 127)).all(), f"{name}: torchvision disagrees with Pillow"
        if back.mode in ("L", "1"):
            assert (np.round(t[0].numpy() * 255).astype(np.uint8) == arr).all(), name
    except ImportError:
        pass


# MVTec-like: 1024x1024 binary mask down to 256 (factor 4) and to 64 (factor 16).
big = blobs(1024, 1024, 6)
case("mvtec_like_1024", big, 256)
cases.append({**cases[-1], "size": 64, "expected": "mvtec_like_1024.expected64.png"})
Image.fromarray(np.array(big.resize((64, 64), Image.BILINEAR)), "L").save(
    os.path.join(HERE, "mvtec_like_1024.expected64.png"))
# Non-integer downscale factors, non-square input.
case("odd_300x217", blobs(300, 217, 5), 64)
# Upscale (support 1, no antialiasing widening) with gray levels.
case("small_37x53", blobs(37, 53, 4, gray_levels=True), 64)
# Every gray level, a non-integer factor: checks the 8-bit rounding thoroughly.
case("noise_97x61", Image.fromarray(rng.integers(0, 256, (61, 97), dtype=np.uint8), "L"), 40)
# Same size: a copy.
case("same_48", blobs(48, 48, 3), 48)
# Mode "1" (1-bit PNG): Pillow resizes with NEAREST whatever filter is asked.
case("onebit_200x150", blobs(200, 150, 4).convert("1", dither=Image.NONE), 64)
# Palette PNG: also NEAREST; the palette maps index 1 to white, so the gray value is 255.
pal = blobs(120, 90, 3).point(lambda v: 1 if v > 0 else 0).convert("P")
pal.putpalette([0, 0, 0, 255, 255, 255] + [0, 0, 0] * 254)
case("palette_120x90", pal, 50)
# 8-bit grayscale BMP (BTAD's product 03 masks are BMP): Pillow opens it as "L".
case("gray_bmp_130x70", blobs(130, 70, 3), 64, ext="bmp")

for c in cases:
    if c["pil_mode"] == "P":
        # ToTensor on a "P" image yields palette INDICES / 255 (here 0 or 1/255): the official
        # code would see an empty mask. rdpp-data reads the palette colour instead; the expected
        # file holds the colour (0/255) of Pillow's nearest-neighbour choice.
        arr = np.array(Image.open(os.path.join(HERE, c["input"])).resize((c["size"],) * 2, Image.NEAREST).convert("L"))
        Image.fromarray(arr, "L").save(os.path.join(HERE, c["expected"]))

with open(os.path.join(HERE, "cases.json"), "w") as f:
    json.dump(cases, f, indent=1)
print(json.dumps(cases, indent=1))
