#!/usr/bin/env python3
"""Generate the small test images used by `crates/inference/src/image_io.rs` tests.

Run from anywhere:  python3 crates/inference/tests/data/make_images.py
Needs Pillow and numpy (`pip install pillow numpy`). If opencv-python is installed, the
script also prints what `cv2.imread(path)` (IMREAD_COLOR, then BGR->RGB) returns for each
file, which is the reference the Rust tests hard-code.

PNGs are written by hand (zlib + struct) so that bit depth, colour type, palette/tRNS and
the IHDR of the "decompression bomb" file are exactly controlled. JPEGs come from Pillow.
Output is deterministic for a given Pillow/libjpeg version; the Rust tests use tolerances
for JPEG pixels so a slightly different libjpeg does not break them.
"""

import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def out(name):
    return os.path.join(HERE, name)


# ---------------------------------------------------------------- hand-written PNGs
def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(width, height, bit_depth, color_type, raw_rows: bytes, extra=()):
    """raw_rows: filtered scanlines (filter byte 0 + samples, big-endian for 16-bit)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    body = chunk(b"IHDR", ihdr)
    for kind, data in extra:  # PLTE / tRNS must come before IDAT
        body += chunk(kind, data)
    body += chunk(b"IDAT", zlib.compress(raw_rows, 9))
    body += chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def rows_from_array(arr: np.ndarray) -> bytes:
    """arr: (h, w[, c]) uint8 or uint16 -> filter-0 scanlines."""
    if arr.dtype == np.uint16:
        arr = arr.astype(">u2")
    h = arr.shape[0]
    flat = arr.reshape(h, -1)
    return b"".join(b"\x00" + flat[y].tobytes() for y in range(h))


def write(name, data: bytes):
    with open(out(name), "wb") as f:
        f.write(data)


def make_pngs():
    # 16-bit grayscale, 4x1. Values chosen so that "high byte" (v >> 8, what libpng's
    # png_set_strip_16 used by OpenCV gives) and "rounded scale" (v / 257) differ.
    g16 = np.array([[0x0000, 0x01FF, 0x80FF, 0xFFFF]], dtype=np.uint16)
    write("gray16.png", png_bytes(4, 1, 16, 0, rows_from_array(g16)))

    # 16-bit RGB, 2x1.
    rgb16 = np.array([[[0x1234, 0x80FF, 0xFFFF], [0x00FF, 0x0100, 0xFEFF]]], dtype=np.uint16)
    write("rgb16.png", png_bytes(2, 1, 16, 2, rows_from_array(rgb16)))

    # 8-bit RGBA, 2x2: a fully transparent pixel still carries colour; cv2 drops alpha
    # without compositing, so that colour must come out unchanged.
    rgba = np.array(
        [
            [[10, 20, 30, 0], [200, 100, 50, 255]],
            [[1, 2, 3, 128], [255, 255, 255, 7]],
        ],
        dtype=np.uint8,
    )
    write("rgba.png", png_bytes(2, 2, 8, 6, rows_from_array(rgba)))

    # Palette, 4-bit indices, 3x1, with tRNS making entry 1 transparent.
    palette = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])  # red, green, blue
    trns = bytes([255, 0, 255])
    idx = [0, 1, 2]
    # 4-bit packed: two indices per byte, high nibble first; row padded to a byte.
    packed = bytes([(idx[0] << 4) | idx[1], idx[2] << 4])
    write("palette.png", png_bytes(3, 1, 4, 3, b"\x00" + packed, extra=[(b"PLTE", palette), (b"tRNS", trns)]))

    # Plain 8-bit RGB 3x2 (baseline).
    rgb = np.array(
        [[[255, 0, 0], [0, 255, 0], [0, 0, 255]], [[0, 0, 0], [128, 128, 128], [255, 255, 255]]],
        dtype=np.uint8,
    )
    full = png_bytes(3, 2, 8, 2, rows_from_array(rgb))
    write("rgb8.png", full)

    # Truncated: a 64x64 noisy RGB PNG (so the IDAT is large) cut in the middle of IDAT.
    rng = np.random.default_rng(7)
    noisy = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    big = png_bytes(64, 64, 8, 2, rows_from_array(noisy))
    write("truncated.png", big[: len(big) // 2])

    # Decompression bomb header: a valid IHDR claiming 100000x100000 RGB and a tiny IDAT
    # (just one zero row, the stream then simply ends). Any decoder that trusts the header
    # would try to allocate 30 GB; ours must refuse from the dimensions alone.
    w = h = 100_000
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    tiny = zlib.compress(b"\x00" * (1 + 3 * 16), 9)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", tiny) + chunk(b"IEND", b"")
    write("huge_header.png", bomb)

    # Zero-byte file and a text file with an image extension.
    write("empty.png", b"")
    write("not_an_image.png", b"This is not a PNG, just some text a user saved with the wrong name.\n")


# ---------------------------------------------------------------- TIFFs
def tiff_rgb16_bytes(arr: np.ndarray) -> bytes:
    """Minimal little-endian, uncompressed, single-strip 16-bit RGB TIFF (Pillow cannot
    write 16-bit RGB)."""
    h, w, _ = arr.shape
    pixels = arr.astype("<u2").tobytes()
    entries = [  # (tag, type, count, value-or-offset); type 3 = SHORT, 4 = LONG
        (256, 4, 1, w),
        (257, 4, 1, h),
        (258, 3, 3, None),  # BitsPerSample 16,16,16 -> stored out of line
        (259, 3, 1, 1),  # no compression
        (262, 3, 1, 2),  # photometric RGB
        (273, 4, 1, None),  # StripOffsets
        (277, 3, 1, 3),  # SamplesPerPixel
        (278, 4, 1, h),  # RowsPerStrip
        (279, 4, 1, len(pixels)),  # StripByteCounts
        (284, 3, 1, 1),  # planar config: chunky
    ]
    ifd_offset = 8
    ifd_size = 2 + 12 * len(entries) + 4
    bps_offset = ifd_offset + ifd_size
    strip_offset = bps_offset + 6
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if tag == 258:
            value = bps_offset
        elif tag == 273:
            value = strip_offset
        if typ == 3 and count == 1:
            ifd += struct.pack("<HHIHH", tag, typ, count, value, 0)
        else:
            ifd += struct.pack("<HHII", tag, typ, count, value)
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", ifd_offset) + ifd + struct.pack("<HHH", 16, 16, 16) + pixels


def make_tiffs():
    # OpenCV converts 16-bit colour TIFF to 8 bits with rounding (v / 257), but 16-bit
    # grayscale TIFF (and all 16-bit PNG) by keeping the high byte. Same values as the PNGs.
    rgb16 = np.array([[[0x01FF, 0x80FF, 0xFFFF], [0x00FF, 0x0100, 0x7F80]]], dtype=np.uint16)
    write("rgb16.tif", tiff_rgb16_bytes(rgb16))
    g16 = np.array([[0x0000, 0x01FF, 0x80FF, 0xFFFF]], dtype=np.uint16)
    Image.fromarray(g16).save(out("gray16.tif"), compression=None)


# ---------------------------------------------------------------- JPEGs (Pillow)
def make_jpegs():
    # Grayscale JPEG 16x16: left half 40, right half 200 (8x8-block aligned, flat blocks
    # -> almost no ringing).
    g = np.zeros((16, 16), dtype=np.uint8)
    g[:, :8] = 40
    g[:, 8:] = 200
    Image.fromarray(g, "L").save(out("gray.jpg"), quality=95)

    # CMYK JPEG 32x32, four flat 16x16 quadrants. Pillow writes Adobe-style (inverted)
    # CMYK with an APP14 "Adobe" marker, transform 0 (plain CMYK, not YCCK), as Photoshop
    # does. Quadrant ink values (C, M, Y, K):
    #   top-left  (0, 255, 255, 0)   -> red
    #   top-right (255, 0, 255, 0)   -> green
    #   bottom-left (0, 0, 0, 128)   -> mid grey
    #   bottom-right (0, 0, 255, 64) -> yellow, darkened by K
    quads = {
        (0, 0): (0, 255, 255, 0),
        (0, 1): (255, 0, 255, 0),
        (1, 0): (0, 0, 0, 128),
        (1, 1): (0, 0, 255, 64),
    }
    c = np.zeros((32, 32, 4), dtype=np.uint8)
    for (qy, qx), v in quads.items():
        c[qy * 16 : qy * 16 + 16, qx * 16 : qx * 16 + 16] = v
    Image.fromarray(c, "CMYK").save(out("cmyk.jpg"), quality=95, subsampling=0)

    # EXIF orientation 6 ("rotate 90 CW to display"). Stored 32 wide x 16 high with four
    # flat 8x8-aligned corner colours; displayed (and decoded by cv2) as 16 wide x 32 high.
    s = np.zeros((16, 32, 3), dtype=np.uint8)
    s[:, :] = (128, 128, 128)
    s[:8, :8] = (255, 0, 0)  # stored top-left: red
    s[:8, -8:] = (0, 255, 0)  # stored top-right: green
    s[-8:, :8] = (0, 0, 255)  # stored bottom-left: blue
    s[-8:, -8:] = (255, 255, 0)  # stored bottom-right: yellow
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(s, "RGB").save(out("exif_rot6.jpg"), quality=95, subsampling=0, exif=exif.tobytes())


def report():
    try:
        import cv2
    except ImportError:
        print("opencv not installed; skipping the cv2 reference dump")
        return
    print("cv2", cv2.__version__)
    for name in sorted(os.listdir(HERE)):
        if name.endswith(".py"):
            continue
        path = out(name)
        try:
            img = cv2.imread(path)
        except cv2.error as e:  # the bomb trips cv2's own 1 Gpx limit (it raises)
            print(f"{name}: cv2.imread raised: {str(e).strip().splitlines()[-1]}")
            continue
        if img is None:
            print(f"{name}: cv2.imread -> None")
            continue
        rgb = img[:, :, ::-1]
        h, w = rgb.shape[:2]
        if h * w <= 8:
            print(f"{name}: {w}x{h} {rgb.tolist()}")
        else:
            # Points 4 px in from each corner: inside the flat 8x8-aligned patches.
            pts = {
                "(4,4)": rgb[4, 4].tolist(),
                "(w-5,4)": rgb[4, w - 5].tolist(),
                "(4,h-5)": rgb[h - 5, 4].tolist(),
                "(w-5,h-5)": rgb[h - 5, w - 5].tolist(),
            }
            print(f"{name}: {w}x{h} (x,y) points {pts}")


if __name__ == "__main__":
    make_pngs()
    make_tiffs()
    make_jpegs()
    report()
