#!/usr/bin/env bash
# Time-to-accuracy variants of the cifar_resnet18 recipe on a GPU, then the fastest one to reach
# the target again with seeds 1 and 2 (one lucky seed is not a recipe). Each run is a fresh
# process, as a reader's would be, so its first epoch pays for cuDNN's autotuning.
#
#   CNNLIB_DATA=... tools/recipe_variants.sh OUT SECONDS
#
# OUT gets one JSON per run (recipe-<variant>-seed<k>.json) and variants.log; SECONDS is the
# deadline for the whole script. Edit VARIANTS to try others.
set -u
out=${1:?usage: recipe_variants.sh OUT SECONDS}
budget=${2:?usage: recipe_variants.sh OUT SECONDS}
py=${PYTHON:-python3}
start=$(date +%s)
export PYTHONUNBUFFERED=1 CNNLIB_PROGRESS=0
mkdir -p "$out"
log="$out/variants.log"
left() { echo $(( budget - ($(date +%s) - start) )); }

VARIANTS=(
  "tta30|--tta"
  "tta30-lr0.4|--tta --max-lr 0.4"
  "tta30-ls0.2|--tta --label-smoothing 0.2"
  "tta30-bs1024-lr0.4|--tta --batch-size 1024 --max-lr 0.4"
)

run() {  # run NAME SEED ARGS...
  local name=$1 seed=$2 remaining
  shift 2
  remaining=$(left)
  if [ "$remaining" -lt 45 ]; then
    echo "== $name seed $seed: skipped, $remaining s left" | tee -a "$log"
    return
  fi
  [ "$remaining" -gt 90 ] && remaining=90
  echo "== $name seed $seed: $*" | tee -a "$log"
  # shellcheck disable=SC2068
  timeout "$remaining" "$py" -m cnnlib.recipes cifar_resnet18 --seed "$seed" \
    --out "$out/recipe-$name-seed$seed.json" $@ 2>&1 | tail -n 4 | tee -a "$log"
}

for v in "${VARIANTS[@]}"; do run "${v%%|*}" 0 ${v#*|}; done

# the fastest to the target (or, if none reached it, the most accurate), with two more seeds
best=$("$py" - "$out" <<'PY'
import json, pathlib, sys
runs = [json.loads(p.read_text()) | {"name": p.stem[len("recipe-"):-len("-seed0")]}
        for p in pathlib.Path(sys.argv[1]).glob("recipe-*-seed0.json")]
reached = [r for r in runs if r["reached"]]
best = (min(reached, key=lambda r: r["seconds_to_target"]) if reached
        else max(runs, key=lambda r: r["best_test_acc"]))
print(best["name"])
PY
)
echo "== best variant: $best" | tee -a "$log"
for v in "${VARIANTS[@]}"; do
  if [ "${v%%|*}" = "$best" ]; then
    for seed in 1 2; do run "$best" "$seed" ${v#*|}; done
  fi
done
echo "== all runs: $(( $(date +%s) - start )) s" | tee -a "$log"
