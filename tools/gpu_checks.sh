#!/usr/bin/env bash
# The GPU half of the book's checks in one command, for a CUDA machine whose time is short:
# the CUDA tests, the ResNet-18 time-to-accuracy recipe (15- and 30-epoch budgets) and the full
# benchmark. Each step runs under its own time limit inside an overall deadline, so one that
# hangs or overruns costs only its share; one log and every JSON result land in OUT.
#
#   CNNLIB_DATA=/path/with/cifar-10-batches-py tools/gpu_checks.sh [OUT] [SECONDS]
#
# OUT defaults to benchmarks/ (copy the JSON files you keep into cnnlib/recorded/ and the log
# into benchmarks/logs/, and commit them); SECONDS (default 540) is the deadline for the whole script. Set PYTHON to choose the
# interpreter (default python3).
set -u
out=${1:-benchmarks}
budget=${2:-540}
log="$out/gpu_checks.log"
# shellcheck source=tools/deadline.sh
source "$(dirname "$0")/deadline.sh"

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
