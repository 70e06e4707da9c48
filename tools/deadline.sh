# Sourced by tools/gpu_checks.sh and tools/recipe_variants.sh: one deadline for a whole script
# and `step`, which runs one command under its own time limit inside it, so a GPU lease's few
# minutes are never lost to one command that hangs. The sourcing script sets `out` (results
# folder), `budget` (seconds) and `log` (file) first; `min_left` (default 30) is the time below
# which a step is skipped rather than started.
py=${PYTHON:-python3}
start=$(date +%s)
min_left=${min_left:-30}
export PYTHONUNBUFFERED=1 CNNLIB_PROGRESS=0
mkdir -p "$out"

left() { echo $(( budget - ($(date +%s) - start) )); }

# step NAME MAX_SECONDS COMMAND...: run COMMAND for at most MAX_SECONDS (less if the deadline is
# nearer), appending its output to the log.
step() {
  local name=$1 max=$2 remaining t
  shift 2
  remaining=$(left)
  if [ "$remaining" -lt "$min_left" ]; then
    echo "== $name: skipped, $remaining s left before the deadline" | tee -a "$log"
    return
  fi
  [ "$max" -gt "$remaining" ] && max=$remaining
  echo "== $name: $* (limit $max s)" | tee -a "$log"
  t=$(date +%s)
  timeout "$max" "$@" 2>&1 | tee -a "$log"
  echo "== $name: exit ${PIPESTATUS[0]} after $(( $(date +%s) - t )) s" | tee -a "$log"
}
