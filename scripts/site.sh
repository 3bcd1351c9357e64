#!/usr/bin/env bash
# Builds the demo site (dist/, with the default models and samples) and serves it on
# http://127.0.0.1:${PORT:-8080}/. Installs what it needs on a fresh Debian machine with Rust and
# Node (wasm target, wasm-bindgen-cli, trunk, node packages). Idempotent.
#
#   bash scripts/site.sh            build, then serve
#   bash scripts/site.sh build      build only (dist/ can go to any static host, any sub-path)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/web-tools.sh
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

rdpp_ensure_web_tools
rdpp_build_site
if [ "${1:-serve}" = "build" ]; then
  echo "built dist/; serve it with any static server (wasm needs the application/wasm type)"
  exit 0
fi
exec node scripts/serve.mjs dist --port "${PORT:-8080}"
