#!/usr/bin/env bash
# The GPU half of the book's checks in one command, for a CUDA machine whose time is short:
# the CUDA tests, the ResNet-18 time-to-accuracy recipe (15- and 30-epoch budgets) and the full
# benchmark. Each step runs under its own time limit inside an overall deadline, so one that
# hangs or overruns costs only its share; one log and every JSON result land in OUT.
#
#   CNNLIB_DATA=/path/with/cifar-10-batches-py tools/gpu_checks.sh [OUT] [SECONDS]
#
# OUT defaults to benchmarks/ (copy the JSON files you keep there, with their log, and commit
# them); SECONDS (default 540) is the deadline for the whole script. Set PYTHON to choose the
# interpreter (default python3).
set -u
out=${1:-benchmarks}
budget=${2:-540}
py=${PYTHON:-python3}
start=$(date +%s)
export PYTHONUNBUFFERED=1 CNNLIB_PROGRESS=0
mkdir -p "$out"
log="$out/gpu_checks.log"

left() { echo $(( budget - ($(date +%s) - start) )); }

# step NAME MAX_SECONDS COMMAND...: run COMMAND for at most MAX_SECONDS (less if the deadline is
# nearer), appending its output to the log; skipped when under 30 s are left.
step() {
  local name=$1 max=$2 remaining t
  shift 2
  remaining=$(left)
  if [ "$remaining" -lt 30 ]; then
    echo "== $name: skipped, $remaining s left before the deadline" | tee -a "$log"
    return
  fi
  [ "$max" -gt "$remaining" ] && max=$remaining
  echo "== $name: $* (limit $max s)" | tee -a "$log"
  t=$(date +%s)
  timeout "$max" "$@" 2>&1 | tee -a "$log"
  echo "== $name: exit ${PIPESTATUS[0]} after $(( $(date +%s) - t )) s" | tee -a "$log"
}

{
  date -u '+%Y-%m-%d %H:%M:%S UTC'
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  "$py" -c "import platform, torch, torchvision; print('python', platform.python_version(),
'torch', torch.__version__, 'cuda', torch.version.cuda, 'torchvision', torchvision.__version__)"
  nproc
} 2>&1 | tee -a "$log"

step tests 150 "$py" -m pytest tests/test_gpu.py -q -p no:cacheprovider -rs
step recipe-15-epochs 150 "$py" -m cnnlib.recipes cifar_resnet18 --epochs 15 \
  --out "$out/recipe-15-epochs.json"
step bench-full 330 "$py" -m cnnlib.bench --full --repeats 3 --out "$out/bench-full.json"
step recipe-30-epochs 300 "$py" -m cnnlib.recipes cifar_resnet18 \
  --out "$out/recipe-30-epochs.json"
echo "== all steps: $(( $(date +%s) - start )) s" | tee -a "$log"
