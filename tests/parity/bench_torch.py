"""PyTorch eager benchmark of full RD++ inference (wide_resnet50_2, resnet18, efficientnet_lite0 or _lite2 teacher).

teacher (to layer3) -> projection -> OCBE -> decoder -> anomaly map (1-cos, bilinear upsampling, sum in
float64, scipy gaussian sigma 4 per image) -> score, on a preprocessed float32 batch [B,3,S,S].
Weights come from the parity formula (speed does not depend on them). Each batch size runs in a fresh
subprocess so that its peak RSS is its own. One JSON line per batch size:

    python3 tests/parity/bench_torch.py                      # threads 2, batches 1 and 8
    python3 tests/parity/bench_torch.py --threads 4 --batches 1 2 4 --runs 10
    python3 tests/parity/bench_torch.py --device cuda --batches 1 8 16   # the network on the GPU
    python3 tests/parity/bench_torch.py --backbone efficientnet_lite0

On CUDA the network and the upsampling run on the GPU and the float64 sum + Gaussian on the host, as
the official evaluation does; timings synchronize the device.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def child(args) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, HERE)
    import reference as R

    backbone = args.backbone
    teacher = R.build_teacher(backbone)
    if hasattr(teacher, "layer4"):
        teacher.layer4 = torch.nn.Identity()  # never run (the official code runs it and drops the result)
        teacher.fc = torch.nn.Identity()
    parts = R.build_student(backbone)
    parts["bn"].conv4 = torch.nn.Identity()  # present in checkpoints, never run
    parts["bn"].bn4 = torch.nn.Identity()
    t0 = time.time()
    R.fill_formula(teacher, "teacher.", lambda k: R.teacher_key_used(backbone, k))
    for part, mod in parts.items():
        R.fill_formula(mod, part + ".", lambda k, p=part: R.student_key_used(p, k))
    t_weights = time.time() - t0

    size, batch = args.size, args.batch
    device = torch.device(args.device)
    teacher.to(device)
    for mod in parts.values():
        mod.to(device)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((batch, 3, size, size), dtype=np.float32))
    x = x.to(device)

    def infer():
        with torch.inference_mode():
            E, _P, _o, D = R.rdpp_forward(teacher, parts, x)
            up = []
            for e, d in zip(E, D):
                m = 1 - torch.nn.functional.cosine_similarity(e, d)
                up.append(torch.nn.functional.interpolate(m.unsqueeze(1), size=size, mode="bilinear",
                                                          align_corners=True)[:, 0].cpu().numpy())
        scores = []
        for b in range(batch):  # as the official evaluation: float64 sum, blur, max, per image
            total = np.zeros((size, size))
            for u in up:
                total += u[b]
            scores.append(float(np.max(R.gaussian_filter(total, sigma=4))))
        return scores

    def timed():
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        infer()  # ends with a copy to the host, which synchronizes
        return time.perf_counter() - t

    first = timed()  # cuDNN/cuBLAS handles and heuristics, allocator growth
    for _ in range(args.warmup - 1):
        infer()
    times = [timed() for _ in range(args.runs)]
    med = statistics.median(times)
    gpu = {}
    if device.type == "cuda":
        gpu = {"peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1),
               "gpu": torch.cuda.get_device_name()}
    return {**gpu, "impl": f"pytorch-{device.type}", "batch": batch, "ms_per_image": round(1000 * med / batch, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "threads": args.threads, "size": size, "runs": args.runs, "warmup": args.warmup,
            "first_run_ms": round(1000 * first, 1), "backbone": backbone,
            "ms_per_batch_min": round(1000 * min(times), 1), "ms_per_batch_max": round(1000 * max(times), 1),
            "weights_s": round(t_weights, 1), "torch": torch.__version__,
            "loadavg_1m": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="wide_resnet50_2", choices=["wide_resnet50_2", "resnet18", "efficientnet_lite0", "efficientnet_lite2"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5, help="timed runs; the median is reported")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--batch", type=int, help=argparse.SUPPRESS)  # child mode
    args = ap.parse_args()
    if args.batch is not None:
        print(json.dumps(child(args)), flush=True)
        return
    for b in args.batches:
        cmd = [sys.executable, os.path.abspath(__file__), "--batch", str(b), "--backbone", args.backbone,
               "--threads", str(args.threads),
               "--size", str(args.size), "--warmup", str(args.warmup), "--runs", str(args.runs),
               "--device", args.device]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        print(out.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
