#!/usr/bin/env bash
# RD++ on one GPU: rdpp through wgpu (Vulkan) side by side with PyTorch CUDA eager, in one call.
#
# Two halves, because the GPU machine has PyTorch, CUDA and the NVIDIA driver but no Rust and no
# network:
#
#   bash scripts/gpu-bench.sh prepare   on a machine with Rust and the package registries: builds
#                                       rdpp and rdpp-train (release, wgpu), fetches the Vulkan
#                                       loader package, and puts everything into .gpu/ (ignored
#                                       by git; about 20 MB, compressed)
#   bash scripts/gpu-bench.sh run       on the GPU machine, from the repository root with .gpu/
#                                       beside it: installs the loader, then prints
#                                       - inference ms/image at batch 1, 8 and 32 for
#                                         wide_resnet50_2 and efficientnet_lite0 at 256², with
#                                         the first run (compilation and autotuning) apart,
#                                       - the first run again with autotune's cache already
#                                         filled (what a second `rdpp infer` pays),
#                                       - the training step's images/s at batch 16
#                                         (wide_resnet50_2, 256²),
#                                       - peak GPU memory of each side (nvidia-smi, sampled),
#                                       with the ratios rdpp/PyTorch. Everything ends well inside
#                                       10 minutes (each part has its own time limit).
#
# With the device tool (one call):
#   run(command="bash scripts/gpu-bench.sh run 2>&1 | tee $OUT/gpu-bench.log", carry=[".gpu"],
#       timeout_s=570)
#
# For a reduced run (e.g. here, on Mesa's lavapipe, to test the script) set any of:
#   GPU_BENCH_SIZE (256)  GPU_BENCH_BATCHES (1,8,32)  GPU_BENCH_TRAIN_BATCH (16)
#   GPU_BENCH_ITERS (10)  GPU_BENCH_BACKBONES ("wide_resnet50_2 efficientnet_lite0")
#   GPU_BENCH_TORCH_DEVICE (cuda; cpu where there is no CUDA)  GPU_BENCH_BIN (.gpu/bin)
#   GPU_BENCH_THREADS (16)  GPU_BENCH_LIMIT_S (150: the limit of each part)
#   GPU_BENCH_TRAIN_BACKBONE (wide_resnet50_2)
set -euo pipefail
cd "$(dirname "$0")/.."

prepare() {
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rdpp/target}"
  cargo build --release --locked -p rdpp-cli -p rdpp-training --bins
  rm -rf .gpu && mkdir -p .gpu/bin .gpu/debs
  for b in rdpp rdpp-train; do
    strip -o ".gpu/bin/$b" "$CARGO_TARGET_DIR/release/$b"
    xz -T0 -6 ".gpu/bin/$b"
  done
  # The Vulkan loader (the GPU machine has the NVIDIA driver's ICD but maybe no loader).
  local lists=/tmp/rdpp-amd64-lists
  mkdir -p "$lists/partial"
  local o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
  apt-get "${o[@]}" update -qq
  (cd .gpu/debs && apt-get "${o[@]}" download libvulkan1)
  du -sh .gpu
  echo "ready: carry .gpu and run 'bash scripts/gpu-bench.sh run' on the GPU machine"
}

SIZE="${GPU_BENCH_SIZE:-256}"
BATCHES="${GPU_BENCH_BATCHES:-1,8,32}"
TRAIN_BATCH="${GPU_BENCH_TRAIN_BATCH:-16}"
ITERS="${GPU_BENCH_ITERS:-10}"
BACKBONES="${GPU_BENCH_BACKBONES:-wide_resnet50_2 efficientnet_lite0}"
TORCH_DEVICE="${GPU_BENCH_TORCH_DEVICE:-cuda}"
THREADS="${GPU_BENCH_THREADS:-16}"
LIMIT="${GPU_BENCH_LIMIT_S:-150}"
TRAIN_BACKBONE="${GPU_BENCH_TRAIN_BACKBONE:-wide_resnet50_2}"

# Unpack the carried binaries (and the loader where the system has none).
install_carried() {
  local bin="${GPU_BENCH_BIN:-.gpu/bin}"
  mkdir -p /tmp/rdpp-gpu
  for b in rdpp rdpp-train; do
    if [ -f "$bin/$b.xz" ]; then
      xz -dc "$bin/$b.xz" >"/tmp/rdpp-gpu/$b"
    elif [ -x "$bin/$b" ]; then
      cp "$bin/$b" "/tmp/rdpp-gpu/$b"
    else
      echo "error: $bin/$b(.xz) is missing: run 'bash scripts/gpu-bench.sh prepare' first" >&2
      exit 1
    fi
    chmod +x "/tmp/rdpp-gpu/$b"
  done
  if ! ldconfig -p | grep -q libvulkan.so.1; then
    for f in .gpu/debs/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; fi
  RDPP=/tmp/rdpp-gpu/rdpp
  RDPP_TRAIN=/tmp/rdpp-gpu/rdpp-train
}

# Peak GPU memory per process name while a command runs (nvidia-smi sampled every 100 ms).
SAMPLES=/tmp/rdpp-gpu/memory.csv
start_sampler() {
  : >"$SAMPLES"
  if command -v nvidia-smi >/dev/null; then
    (while :; do
      nvidia-smi --query-compute-apps=process_name,used_memory --format=csv,noheader,nounits \
        >>"$SAMPLES" 2>/dev/null || true
      sleep 0.1
    done) &
    SAMPLER=$!
  else
    SAMPLER=""
  fi
}
stop_sampler() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null && wait "$SAMPLER" 2>/dev/null || true
  if [ -s "$SAMPLES" ]; then
    awk -F', *' '{ n = ($1 ~ /python/) ? "PyTorch" : ($1 ~ /rdpp/ ? "rdpp" : $1);
                   if ($2 + 0 > peak[n]) peak[n] = $2 + 0 }
                 END { for (n in peak) printf "  peak GPU memory %s: %d MiB\n", n, peak[n] }' "$SAMPLES"
  else
    echo "  peak GPU memory: not sampled (no nvidia-smi)"
  fi
}

part() { # title, then the command; each part has its own time limit and may fail alone
  local title="$1"
  shift
  echo
  echo "== $title"
  local t0=$SECONDS
  start_sampler
  if timeout "$LIMIT" "$@"; then :; else echo "  (failed or hit the ${LIMIT} s limit: exit $?)"; fi
  stop_sampler
  echo "  ($((SECONDS - t0)) s)"
}

run() {
  install_carried
  echo "machine: $(nproc) cores; $(nvidia-smi --query-gpu=name,driver_version,memory.total \
    --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi')"
  python3 -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda,
    torch.cuda.get_device_name() if torch.cuda.is_available() else "(no CUDA device)")' ||
    echo "PyTorch: not importable"
  # A fresh autotune cache, so the first runs below show the whole tuning cost.
  export RDPP_CACHE=/tmp/rdpp-gpu/cache
  rm -rf "$RDPP_CACHE"
  local common=(--backend wgpu --torch-device "$TORCH_DEVICE" --threads "$THREADS"
    --input-size "$SIZE")
  for backbone in $BACKBONES; do
    part "inference, $backbone, ${SIZE}², empty autotune cache" \
      "$RDPP" bench "${common[@]}" --backbone "$backbone" --batches "$BATCHES" \
      --iters "$ITERS" --warmup 3
  done
  local first="${BATCHES%%,*}"
  part "inference, ${BACKBONES%% *}, batch $first, autotune cache filled by the run above" \
    "$RDPP" bench "${common[@]}" --backbone "${BACKBONES%% *}" --batches "$first" \
    --iters "$ITERS" --warmup 1 --no-torch
  part "training step, $TRAIN_BACKBONE, ${SIZE}², batch $TRAIN_BATCH" \
    "$RDPP_TRAIN" bench "${common[@]}" --backbone "$TRAIN_BACKBONE" --batch "$TRAIN_BATCH" \
    --steps 5 --warmup 2
  echo
  echo "autotune cache: $(du -sh "$RDPP_CACHE" 2>/dev/null | cut -f1) in $RDPP_CACHE"
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *)
    echo "usage: bash scripts/gpu-bench.sh prepare|run (see the top of the file)" >&2
    exit 2
    ;;
esac
