#!/usr/bin/env bash
# The loss ablation: does each of RD++'s additions to RD help? Trains, on photo-texture sets with
# generated defects, the full recipe and the recipe with one loss switched off in turn, plus RD's
# plain recipe (knowledge distillation only), over several seeds, and writes a table of the test
# metrics (mean ± standard deviation over seeds).
#
#   bash scripts/ablation.sh                 # the README's table (hours on 2 cores; see below)
#   bash scripts/ablation.sh --quick         # a smoke run: one set, one seed, tiny images, 1 epoch
#   OUT=runs/ablation SETS="brick" SEEDS="1 2" bash scripts/ablation.sh
#   BACKBONE=efficientnet_lite2 VARIANTS=rdpp bash scripts/ablation.sh   # another teacher, one variant
#
# Variants (rdpp-train flags):
#   rdpp            the default recipe (KD + SSOT + reconstruction + contrast)
#   no_ssot         --without ssot
#   no_contrast     --without contrast
#   no_reconstruct  --without reconstruction
#   rd              --without ssot,contrast,reconstruction   (RD's recipe: KD only)
#
# Data: for each set S in $SETS, `rdpp-train synth --photo assets/textures/S.png` (CC0 photos from
# scikit-image, see assets/textures/README.md) writes N_TRAIN normal windows and test windows with
# scratches, holes, stains and cut-paste patches, with masks (seed 1, the same for every variant).
# Teacher: BACKBONE's ImageNet weights (efficientnet_lite0, the default, or efficientnet_lite2;
# scripts/fetch-lite.sh, or RDPP_LITE0_PTH / RDPP_LITE2_PTH).
# Every run evaluates on the test split with the last epoch's model (no selection on the test set).
#
# Settings (environment): SETS (brick grass gravel), SEEDS (1 2 3), VARIANTS (all five), BACKBONE
# (efficientnet_lite0), SIZE (128), EPOCHS (20),
# N_TRAIN (60), N_TEST_GOOD (10), N_TEST_DEFECT (per defect kind, 5), BATCH (8), OUT
# (~/.cache/rdpp/ablation). Binaries: RDPP_TRAIN=/path/rdpp-train, else the test build's
# (cargo test --workspace --no-run, CARGO_TARGET_DIR defaulting to ~/.cache/rdpp/target).
#
# Output: $OUT/table[-BACKBONE].md (the table), $OUT/results[-BACKBONE].csv (one row per run; the
# suffix for teachers other than Lite0), and each run's folder
# $OUT/runs/SET-SIZEpx-EPOCHSep-N_TRAIN[-BACKBONE]/VARIANT/seedN (report.md, metrics.csv, ...). Runs already finished are kept and
# not trained again, so an interrupted ablation continues where it stopped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

if [ "${1:-}" = "--quick" ]; then
  : "${SETS:=brick}" "${SEEDS:=1}" "${SIZE:=64}" "${EPOCHS:=1}" "${N_TRAIN:=6}"
  : "${N_TEST_GOOD:=2}" "${N_TEST_DEFECT:=1}" "${BATCH:=2}"
  shift
elif [ "$#" -gt 0 ]; then
  echo "usage: $0 [--quick]   (settings through the environment; see the header)" >&2
  exit 2
fi
SETS="${SETS:-brick grass gravel}"
SEEDS="${SEEDS:-1 2 3}"
SIZE="${SIZE:-128}"
EPOCHS="${EPOCHS:-20}"
N_TRAIN="${N_TRAIN:-60}"
N_TEST_GOOD="${N_TEST_GOOD:-10}"
N_TEST_DEFECT="${N_TEST_DEFECT:-5}"
BATCH="${BATCH:-8}"
OUT="${OUT:-${RDPP_CACHE:-$HOME/.cache/rdpp}/ablation}"
read -r -a VARIANTS <<< "${VARIANTS:-rdpp no_ssot no_contrast no_reconstruct rd}"
BACKBONE="${BACKBONE:-efficientnet_lite0}"
case "$BACKBONE" in
  efficientnet_lite0) TEACHER="${RDPP_LITE0_PTH:-}"; LITE=lite0; TAG="" ;;
  efficientnet_lite2) TEACHER="${RDPP_LITE2_PTH:-}"; LITE=lite2; TAG="-$BACKBONE" ;;
  *) echo "ablation: BACKBONE must be efficientnet_lite0 or efficientnet_lite2" >&2; exit 2 ;;
esac
declare -A WITHOUT=(
  [rdpp]=""
  [no_ssot]="ssot"
  [no_contrast]="contrast"
  [no_reconstruct]="reconstruction"
  [rd]="ssot,contrast,reconstruction"
)

say() { echo "ablation: $*" >&2; }

if [ -z "${RDPP_TRAIN:-}" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rdpp/target}"
  say "building the test binaries (cargo test --workspace --no-run)..."
  cargo test --locked --workspace --no-run >&2
  RDPP_TRAIN="$CARGO_TARGET_DIR/debug/rdpp-train"
fi
[ -x "$RDPP_TRAIN" ] || { say "error: $RDPP_TRAIN is not an executable"; exit 1; }
[ -n "$TEACHER" ] || TEACHER="$(bash scripts/fetch-lite.sh "$LITE")"

mkdir -p "$OUT"
for set in $SETS; do
  photo="assets/textures/$set.png"
  [ -f "$photo" ] || { say "error: no photo $photo (sets: brick, grass, gravel)"; exit 1; }
  data="$OUT/data/$set-$SIZE-$N_TRAIN"
  if [ ! -d "$data/$set" ]; then
    "$RDPP_TRAIN" synth --photo "$photo" --out "$data" --seed 1 --input-size "$SIZE" \
      --n-train "$N_TRAIN" --n-test-good "$N_TEST_GOOD" --n-test-defect "$N_TEST_DEFECT" >&2
  fi
  for variant in "${VARIANTS[@]}"; do
    for seed in $SEEDS; do
      run="$OUT/runs/$set-${SIZE}px-${EPOCHS}ep-$N_TRAIN$TAG/$variant/seed$seed"
      if [ -f "$run/report.json" ] && [ -f "$run/bundle/manifest.json" ]; then
        say "$set $variant seed $seed: done before, kept"
        continue
      fi
      rm -rf "$run"
      mkdir -p "$(dirname "$run")"
      say "$set $variant seed $seed ..."
      args=(train --data "$data" --category "$set" --teacher "$TEACHER" --backbone "$BACKBONE"
        --input-size "$SIZE" --epochs "$EPOCHS" --batch-size "$BATCH" --seed "$seed" --out "$run")
      [ -n "${WITHOUT[$variant]+set}" ] || { say "error: unknown variant $variant"; exit 2; }
      if [ -n "${WITHOUT[$variant]}" ]; then
        args+=(--without "${WITHOUT[$variant]}")
      fi
      "$RDPP_TRAIN" "${args[@]}" > "$run.log" 2>&1 || { cat "$run.log" >&2; exit 1; }
    done
  done
done

python3 - "$OUT" "$SIZE" "$EPOCHS" "$N_TRAIN" "$SETS" "$SEEDS" "$BACKBONE" "$TAG" "${VARIANTS[@]}" <<'EOF'
import json, math, os, sys

out, size, epochs, n_train, sets, seeds, backbone, tag, *variants = sys.argv[1:]
sets, seeds = sets.split(), seeds.split()
metrics = [("image_auroc", "image AUROC"), ("pixel_auroc", "pixel AUROC"), ("aupro", "AUPRO@0.3")]
rows, table = [], []
for s in sets:
    for v in variants:
        values = {k: [] for k, _ in metrics}
        for seed in seeds:
            run = "%s-%spx-%sep-%s%s" % (s, size, epochs, n_train, tag)
            with open(os.path.join(out, "runs", run, v, "seed" + seed, "report.json")) as f:
                r = json.load(f)
            rows.append([s, v, seed] + ["" if r[k] is None else "%.6f" % r[k] for k, _ in metrics])
            for k, _ in metrics:
                if r[k] is not None:
                    values[k].append(100 * r[k])
        cells = []
        for k, _ in metrics:
            x = values[k]
            if not x:
                cells.append("n/a")
                continue
            mean = sum(x) / len(x)
            std = math.sqrt(sum((v - mean) ** 2 for v in x) / (len(x) - 1)) if len(x) > 1 else 0.0
            cells.append("%.2f ± %.2f" % (mean, std))
        table.append("| %s | %s | %s |" % (s, v, " | ".join(cells)))
with open(os.path.join(out, "results%s.csv" % tag), "w") as f:
    f.write("set,variant,seed," + ",".join(k for k, _ in metrics) + "\n")
    for r in rows:
        f.write(",".join(r) + "\n")
head = "| set | variant | " + " | ".join(n for _, n in metrics) + " |"
rule = "|---|---|" + "---:|" * len(metrics)
text = "\n".join([
    "Loss ablation: %s ImageNet teacher, %s px, %s epochs, %s generated training windows "
    "per set; mean ± standard deviation (%%) over seeds %s; last epoch, test split of each set." % (
        backbone, size, epochs, n_train, ", ".join(seeds)),
    "",
    head,
    rule,
    *table,
    "",
])
with open(os.path.join(out, "table%s.md" % tag), "w") as f:
    f.write(text)
print(text)
EOF
say "table: $OUT/table$TAG.md, runs: $OUT/results$TAG.csv"
