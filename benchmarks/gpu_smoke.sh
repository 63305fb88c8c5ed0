#!/usr/bin/env bash
# The GPU check, in under 8 minutes on one H100-class GPU: what the card is, the model benchmark on
# it, and a shortened GPU preset of the whole pipeline (same model sizes, fewer steps and problems).
#   bash benchmarks/gpu_smoke.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/gpu_smoke}
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
python3 benchmarks/bench_model.py --device cuda --quick
time python3 reproduce.py --preset gpu-smoke --out "$out"
cat "$out/report.md"
