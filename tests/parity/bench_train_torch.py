"""PyTorch eager benchmark of one RD++ training step, the twin of `rdpp-train bench`.

The step is the one `training/src/trainer.rs` runs (docs/method.md §7), written here the same way so
that both sides do the same work:

    teacher (eval mode, no_grad) on the clean and the noisy batch -> E, Ñ
    P = proj(E), P̃ = proj(Ñ) (train mode), D = decoder(OCBE(P)) (train mode: BatchNorm batch statistics)
    L_KD   = Σ_i mean_b [1 − cos(flatten(E_i[b]), flatten(D_i[b]))]
    L_rec  = Σ_i mean_{b,h,w} [1 − cos_channel(P̃_i, P_i)]
    L_con  = Σ_i mean_b max(0, cos(flatten(Ñ_i[b]), flatten(P_i[b])) + 0.5)          (push; official margin −0.5)
    L_SSOT = Σ_i mean_b S_ε(points(P_i[b]), points(P_i[b+1 mod B]))  — points: adaptive average pool to
             8×8, softmax over channels; S_ε: debiased log-domain Sinkhorn divergence, p = 2, blur 0.05,
             ε-scaling 0.95, symmetric updates without gradients, one last extrapolation with gradients
             (training/src/sinkhorn.rs)
    L = L_KD + 0.2 · (L_SSOT + 0.01·L_rec + 0.1·L_con) / 1.11
    read the five loss values, backward, Adam (betas 0.5, 0.999, eps 1e-8 as PyTorch's default and rdpp's trainer): lr 0.005 on
    OCBE + decoder, 0.001 on the projection; gradient accumulation 1.

Weights come from the parity formula (tests/parity/reference.py, speed does not depend on them) and the
input from the formula `rdpp-train bench` uses, so the first step's losses can be compared with rdpp's.
Prints one JSON line (the shape of rdpp's bench worker):

    python3 tests/parity/bench_train_torch.py --threads 2 --batch 16 --steps 3 --warmup 1 --size 256
    python3 tests/parity/bench_train_torch.py --device cuda --batch 16

Peak memory: `peak_rss_mb` is the process's peak resident set (ru_maxrss); on CUDA
`peak_cuda_allocated_mb` is torch.cuda.max_memory_allocated (tensors only, without the CUDA context and
the caching allocator's slack).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EPS = 1e-8
ADAM_EPS = 1e-8


# ----------------------------------------------------------------------------------------------------
# Losses (training/src/losses.rs)
# ----------------------------------------------------------------------------------------------------

def flat_cosine(a, b):
    """Per-sample cosine of flattened maps -> [B] (each vector divided by its norm clamped to 1e-8)."""
    n = a.shape[0]
    a, b = a.reshape(n, -1), b.reshape(n, -1)
    na = a.square().sum(1, keepdim=True).sqrt().clamp_min(EPS)
    nb = b.square().sum(1, keepdim=True).sqrt().clamp_min(EPS)
    return ((a / na) * (b / nb)).sum(1)


def channel_cosine(a, b):
    """Cosine over channels per pixel -> [B*H*W]."""
    na = a.square().sum(1, keepdim=True).sqrt().clamp_min(EPS)
    nb = b.square().sum(1, keepdim=True).sqrt().clamp_min(EPS)
    return ((a / na) * (b / nb)).sum(1).flatten()


def half_sq_dist(x, y):
    """C[p, i, j] = |x[p,i] − y[p,j]|² / 2 for clouds [P, N, D], [P, M, D]."""
    xx = x.square().sum(2, keepdim=True)
    yy = y.square().sum(2, keepdim=True).transpose(1, 2)
    xy = x @ y.transpose(1, 2)
    return (xx + yy - xy * 2.0).clamp_min(0.0) / 2.0


def softmin(eps, c, h):
    """−ε log Σ_j exp(h_j − C_ij / ε) over the last axis; h is [P, 1, M] -> [P, N, 1]."""
    z = h - c / eps
    m = z.amax(2, keepdim=True)
    return ((z - m).exp().sum(2, keepdim=True).log() + m) * (-eps)


def epsilon_schedule(diameter, blur, scaling):
    target = blur * blur
    eps, e, factor = [diameter * diameter], diameter * diameter, scaling * scaling
    while e * factor > target:
        e *= factor
        eps.append(e)
    eps.append(target)
    return eps


def sinkhorn_divergence(x, y, blur, scaling):
    """Debiased Sinkhorn divergence per pair of clouds, [P] (training/src/sinkhorn.rs)."""
    import torch

    p, n, _ = x.shape
    m = y.shape[1]
    a_log = torch.full((p, 1, n), -math.log(n), device=x.device)
    b_log = torch.full((p, 1, m), -math.log(m), device=x.device)

    def t(v):
        return v.transpose(1, 2)

    with torch.no_grad():
        xd, yd = x.detach(), y.detach()
        c_xy = half_sq_dist(xd, yd)
        c_yx = t(c_xy)
        c_xx = half_sq_dist(xd, xd)
        c_yy = half_sq_dist(yd, yd)
        max_cost = max(float(c.max()) for c in (c_xy, c_xx, c_yy))
        diameter = max(math.sqrt(2.0 * max_cost), blur)
        eps_list = epsilon_schedule(diameter, blur, scaling)
        e0 = eps_list[0]
        g_ab = softmin(e0, c_yx, a_log)
        f_ba = softmin(e0, c_xy, b_log)
        f_aa = softmin(e0, c_xx, a_log)
        g_bb = softmin(e0, c_yy, b_log)
        for eps in eps_list:
            ft_ba = softmin(eps, c_xy, b_log + t(g_ab) / eps)
            gt_ab = softmin(eps, c_yx, a_log + t(f_ba) / eps)
            ft_aa = softmin(eps, c_xx, a_log + t(f_aa) / eps)
            gt_bb = softmin(eps, c_yy, b_log + t(g_bb) / eps)
            f_ba = (f_ba + ft_ba) / 2.0
            g_ab = (g_ab + gt_ab) / 2.0
            f_aa = (f_aa + ft_aa) / 2.0
            g_bb = (g_bb + gt_bb) / 2.0

    eps = eps_list[-1]
    c_xy = half_sq_dist(x, y)
    c_yx = t(c_xy)
    c_xx = half_sq_dist(x, x)
    c_yy = half_sq_dist(y, y)
    f_ba_new = softmin(eps, c_xy, b_log + t(g_ab) / eps)
    g_ab_new = softmin(eps, c_yx, a_log + t(f_ba) / eps)
    f_aa_new = softmin(eps, c_xx, a_log + t(f_aa) / eps)
    g_bb_new = softmin(eps, c_yy, b_log + t(g_bb) / eps)
    s = (f_ba_new - f_aa_new).mean(1) + (g_ab_new - g_bb_new).mean(1)
    return s.reshape(p)


def ssot_loss(P, grid=8, blur=0.05, scaling=0.95):
    import torch
    import torch.nn.functional as F

    b = P[0].shape[0]
    if b < 2:
        return torch.zeros((), device=P[0].device)
    total = None
    for p in P:
        _, c, h, w = p.shape
        g = max(min(grid, h, w), 1)
        pooled = F.adaptive_avg_pool2d(p, (g, g))
        points = torch.softmax(pooled.reshape(b, c, g * g).transpose(1, 2), dim=2)  # [B, g², C]
        shifted = torch.cat([points[1:], points[:1]], 0)
        term = sinkhorn_divergence(points, shifted, blur, scaling).mean()
        total = term if total is None else total + term
    return total


def rdpp_loss(E, En, P, Pn, D, weight_projection=0.2):
    kd = sum((1 - flat_cosine(e, d)).mean() for e, d in zip(E, D))
    rec = sum((1 - channel_cosine(pn, p)).mean() for pn, p in zip(Pn, P))
    con = sum((flat_cosine(en, p) + 0.5).clamp_min(0.0).mean() for en, p in zip(En, P))
    ssot = ssot_loss(P)
    total = kd + (ssot + rec * 0.01 + con * 0.1) / 1.11 * weight_projection
    return {"kd": kd, "reconstruction": rec, "contrast": con, "ssot": ssot, "total": total}


# ----------------------------------------------------------------------------------------------------
# Input (the formula of training/src/bench.rs `bench_images`)
# ----------------------------------------------------------------------------------------------------

def bench_images(R, batch: int, size: int):
    """-> clean, noisy float64 [B, S, S, 3] in [0, 1] (noisy has a perturbed square per image)."""
    import numpy as np

    n = batch * size * size * 3
    clean = R.splitmix_u(R.fnv1a64("bench.clean"), 0, n).reshape(batch, size, size, 3)
    noise = R.splitmix_u(R.fnv1a64("bench.noise"), 0, n).reshape(batch, size, size, 3)
    clean = clean.astype(np.float32).astype(np.float64)  # rdpp stores the image in f32 first
    noisy = clean.copy()
    lo, hi = size // 4, size // 4 + max(size // 8, 1)
    noisy[:, lo:hi, lo:hi] = (clean[:, lo:hi, lo:hi] + 0.2 * (2.0 * noise[:, lo:hi, lo:hi] - 1.0)).astype(
        np.float32)
    return clean, noisy


def to_batch(R, images, backbone: str, device):
    """HWC [0,1] float64 -> normalized NCHW float32 (normalization in float64, as rdpp's to_batch)."""
    import numpy as np
    import torch

    if backbone in R.LITE:
        mean, std = np.full(3, 127.0 / 255.0), np.full(3, 128.0 / 255.0)
    else:
        mean, std = R.IMAGENET_MEAN, R.IMAGENET_STD
    x = ((images - mean) / std).astype(np.float32).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(x)).to(device)


# ----------------------------------------------------------------------------------------------------

def run(args) -> dict:
    import torch

    sys.path.insert(0, HERE)
    import reference as R

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but torch.cuda.is_available() is False")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    backbone = args.backbone

    t0 = time.time()
    teacher = R.build_teacher(backbone)
    if backbone in R.LITE:  # never run past the last tap
        teacher._blocks = torch.nn.ModuleList(list(teacher._blocks)[: teacher.TAP_BLOCKS[-1] + 1])
        teacher._conv_head = teacher._bn1 = teacher._fc = torch.nn.Identity()
    else:
        teacher.layer4 = torch.nn.Identity()  # never run (rdpp has no layer4)
        teacher.fc = torch.nn.Identity()
    parts = R.build_student(backbone)
    parts["bn"].conv4 = torch.nn.Identity()  # present in checkpoints, never run
    parts["bn"].bn4 = torch.nn.Identity()
    R.fill_formula(teacher, "teacher.", lambda k: R.teacher_key_used(backbone, k))
    for part, mod in parts.items():
        R.fill_formula(mod, part + ".", lambda k, p=part: R.student_key_used(p, k))
    teacher = teacher.to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    proj, bn, decoder = (parts[k].to(device).train() for k in ("proj", "bn", "decoder"))
    t_weights = time.time() - t0

    clean, noisy = bench_images(R, args.batch, args.size)
    x = to_batch(R, clean, backbone, device)
    xn = to_batch(R, noisy, backbone, device)
    del clean, noisy

    # eps 1e-8: PyTorch's default, used by the official code and by rdpp's trainer (`adam_epsilon`), so the two
    # sides' losses stay together over steps.
    opt_student = torch.optim.Adam(list(bn.parameters()) + list(decoder.parameters()), lr=0.005,
                                   betas=(0.5, 0.999), eps=ADAM_EPS)
    opt_proj = torch.optim.Adam(proj.parameters(), lr=0.001, betas=(0.5, 0.999), eps=ADAM_EPS)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step():
        with torch.no_grad():
            E = teacher(x)
            En = teacher(xn)
        P = proj(E)
        Pn = proj(En)
        D = decoder(bn(P))
        terms = rdpp_loss(E, En, P, Pn, D)
        values = {k: float(v.detach()) for k, v in terms.items()}  # the trainer reads every term each batch
        opt_student.zero_grad(set_to_none=True)
        opt_proj.zero_grad(set_to_none=True)
        terms["total"].backward()
        opt_proj.step()
        opt_student.step()
        sync()
        return values

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    first, first_ms, times = None, None, []
    for i in range(args.warmup + args.steps):
        t = time.perf_counter()
        values = step()
        ms = 1000 * (time.perf_counter() - t)
        if not math.isfinite(values["total"]):
            raise SystemExit(f"error: the loss became {values['total']} at step {i}")
        first = first or values
        first_ms = first_ms or ms
        timed = i >= args.warmup
        print(f"pytorch: step {i + 1}/{args.warmup + args.steps} {ms:.0f} ms{'' if timed else ' (warm-up)'} "
              f"(loss {values['total']:.6f})", file=sys.stderr, flush=True)
        if timed:
            times.append(ms)
    med = statistics.median(times)
    out = {"impl": "pytorch", "device": args.device, "backbone": backbone, "size": args.size,
           "batch": args.batch, "threads": args.threads, "steps": args.steps, "warmup": args.warmup,
           "images_per_s": args.batch / (med / 1000), "ms_per_step": med, "ms_per_step_min": min(times),
           "ms_per_step_max": max(times), "first_step_ms": first_ms,
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "peak_cuda_allocated_mb": (round(torch.cuda.max_memory_allocated() / 2**20, 1)
                                      if device.type == "cuda" else None),
           "first_losses": first, "weights": "formula-official-names",
           "weights_s": round(t_weights, 1), "torch": torch.__version__,
           "loadavg_1m": round(os.getloadavg()[0], 2)}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name()
        out["cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
        out["matmul_allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="wide_resnet50_2", choices=("wide_resnet50_2", "resnet18", "efficientnet_lite0", "efficientnet_lite2"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3, help="timed optimizer steps; the median is reported")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = ap.parse_args()
    if args.size < 32 or args.size % 32:
        ap.error("--size must be a positive multiple of 32")
    if args.batch < 1 or args.steps < 1 or args.warmup < 0 or args.threads < 1:
        ap.error("--batch, --steps and --threads must be at least 1, --warmup at least 0")
    print(json.dumps(run(args)), flush=True)


if __name__ == "__main__":
    main()
