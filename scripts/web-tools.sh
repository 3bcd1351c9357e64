# Sourced by scripts/site.sh and scripts/test.sh: installs what building and testing the web
# site needs on a fresh Debian machine with Rust and Node. Each step is skipped when done.

# wasm-bindgen's CLI must equal the library version in Cargo.lock exactly.
rdpp_wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

# The tools only drive the build, so a quick optimized build of them is plenty: trunk's own release
# profile asks for fat LTO with one codegen unit, which costs more than the rest of its build on 2
# cores. Config (these variables) overrides the installed package's profile. A temporary target dir
# keeps the tools' artifacts out of the project's caches.
rdpp_cargo_install() {
  env -u CARGO_TARGET_DIR CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo install "$@"
}

rdpp_ensure_web_tools() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo "installing the wasm32-unknown-unknown Rust target..."
    rustup target add wasm32-unknown-unknown
  fi
  local want
  want="$(rdpp_wasm_bindgen_version)"
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    echo "installing wasm-bindgen-cli $want (a few minutes on 2 cores, once)..."
    # Not --locked: its lockfile pins a crate version the registry no longer has.
    rdpp_cargo_install wasm-bindgen-cli --version "$want" --force
  fi
  if [ "$(trunk --version 2>/dev/null | awk '{print $2}')" != "0.21.14" ]; then
    echo "installing trunk 0.21.14 (several minutes on 2 cores, once)..."
    # 0.22 needs a newer rustc than this project's minimum.
    rdpp_cargo_install trunk --version 0.21.14 --locked --force
  fi
  if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/playwright-core ] \
     || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "installing node packages from package-lock.json (binaryen's wasm-opt, playwright-core)..."
    npm ci --no-audit --no-fund
  fi
}

# Chromium for the browser tests (Debian's package; playwright-core drives it).
rdpp_ensure_chromium() {
  if command -v chromium >/dev/null; then return; fi
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing chromium for the browser tests..."
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: the browser tests need Chromium: install Debian's 'chromium' package (as root)" >&2
    return 1
  fi
}

# Build dist/ with Trunk (release). The wasm build has its own target dir so it never waits for
# the native build's lock.
rdpp_build_site() {
  CARGO_TARGET_DIR="${RDPP_WEB_TARGET_DIR:-$HOME/.cache/rdpp/target-web}" trunk build --release "$@"
}
