#!/usr/bin/env bash
# The GPU check that fits a short slot: about 6 minutes on one H100-class card (estimated on a
# CPU: the plan puts the end-to-end stages at ~1 minute, plus start-ups and warm-ups), about 8 at
# worst, since every step has its own time limit (80 s per probe, 30 s for the plan, 200 s end to
# end) so that one that hangs cannot eat the slot. It prints what the card is, three probes at the
# GPU preset's shapes, then a tiny end-to-end pass of the pipeline with every stage's seconds. Its
# numbers correct the assumed GPU rates in preflight.DEVICES.
#   bash benchmarks/gpu_smoke.sh [OUT_DIR]              # PYTHON=python3.11 to pick the interpreter
#   SMOKE_DEVICE=cpu bash benchmarks/gpu_smoke.sh       # a dry run of the probes' code on a CPU (toy shapes)
set -uo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
out=${1:-runs/gpu_smoke}
device=${SMOKE_DEVICE:-cuda}
export PYTHONUNBUFFERED=1
small=(); [ "$device" = cpu ] && small=(--small)

stage() { echo; echo "== $1 ($(date +%T))"; }
stage "imports"
"$py" - "$device" <<'EOF' || exit 1
import sys, importlib
for name in ("torch", "numpy", "tqdm", "matplotlib"):
    importlib.import_module(name)
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda)
if sys.argv[1] == "cuda":
    if not torch.cuda.is_available():
        sys.exit("error: no CUDA device visible to torch (SMOKE_DEVICE=cpu for a dry run)")
    p = torch.cuda.get_device_properties(0)
    print(f"card: {p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs")
EOF
for probe in decode sft rl; do
  stage "probe $probe"
  start=$SECONDS
  timeout 80 "$py" benchmarks/probe.py "$probe" --device "$device" "${small[@]}" || echo "probe $probe failed or timed out (exit $?)"
  echo "probe $probe: $((SECONDS - start)) s"
done
[ "$device" = cpu ] && exit 0
stage "plan"
timeout 30 "$py" reproduce.py --preset gpu --plan --assume-device h100 | tail -1
stage "end to end (gpu-smoke preset, mazes)"
start=$SECONDS
mkdir -p "$(dirname "$out")"
timeout 200 "$py" reproduce.py --preset gpu-smoke --task maze --out "$out" > "$out.log" 2>&1
echo "exit $?, $((SECONDS - start)) s (log: $out.log)"
"$py" -c "import json, sys; t = json.load(open(sys.argv[1])); [print(f'{k:28} {v:7.1f} s') for k, v in t['stages'].items()]" "$out/timings.json" || tail -20 "$out.log"
