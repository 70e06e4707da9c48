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
log="$out/variants.log"
min_left=45  # a 30-epoch run needs about 40 s on an H200
# shellcheck source=tools/deadline.sh
source "$(dirname "$0")/deadline.sh"

# NAME|ARGUMENTS. Each variant names every setting it is about, so that it means the same run
# after the recipe's defaults change. (The log of 2026-12-04 in benchmarks/logs/ used the names
# tta30, tta30-lr0.4, tta30-ls0.2 and tta30-bs1024-lr0.4 with the defaults of that day, a peak
# learning rate of 0.2: they are these four.)
VARIANTS=(
  "lr0.2|--tta --max-lr 0.2"
  "lr0.4|--tta --max-lr 0.4"
  "lr0.2-ls0.2|--tta --max-lr 0.2 --label-smoothing 0.2"
  "bs1024-lr0.4|--tta --max-lr 0.4 --batch-size 1024"
)

run() {  # run NAME SEED ARGS...: one recipe run, at most 90 s
  local name=$1 seed=$2
  shift 2
  step "$name seed $seed" 90 "$py" -m cnnlib.recipes cifar_resnet18 --seed "$seed" \
    --out "$out/recipe-$name-seed$seed.json" "$@"
}

# shellcheck disable=SC2086  # the arguments of a variant are meant to split into words
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
    # shellcheck disable=SC2086
    for seed in 1 2; do run "$best" "$seed" ${v#*|}; done
  fi
done
echo "== all runs: $(( $(date +%s) - start )) s" | tee -a "$log"
