#!/usr/bin/env bash
# Every check that needs a CUDA GPU, in one call (the lent machine's time is short).
#
#   bash bench/gpu_checks.sh            # on the GPU machine, from the repository root
#
# Needs: python3 with torch + torchvision + CUDA; the project's other dependencies either
# installed or carried as wheels in .whl/ (for a machine with no package index). On 2026-11-30
# the H200's image (Python 3.12) lacked pydantic, pydantic-core, annotated-types,
# typing-inspection, typing_extensions>=4.16, fairlearn, pycocotools and the peers grad-cam
# (+ ttach), captum, torchcam; fetched where pip works with
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 -d .whl NAME==VERSION
# (grad-cam ships only an sdist: `pip wheel --no-deps grad-cam==1.5.7 -w .whl`; the versions
# are those of `make test`'s .venv). The repository itself is imported from the working tree.
# Writes every table and log to $OUT
# (default /tmp/gpu-checks) and prints a short summary last. Each step has its own time limit,
# so a slow step leaves the later ones their time and its partial output.
set -u
OUT=${OUT:-/tmp/gpu-checks}
WORK=${WORK:-/tmp/gpu-work}
BUDGET=${BUDGET:-1}  # 1: full sizes; 0: a CPU dry run of the same steps at toy sizes
DEADLINE=${DEADLINE:-450}  # seconds for all steps together; later steps get what is left
STEPS=${STEPS:-all}  # or a space-separated subset of the step names below
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
WHEELS=${WHEELS:-.whl}  # folder of wheels to install first (if any)
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)
step() {  # step NAME SECONDS CMD...: run with a limit, log to $OUT/NAME.txt
  local name=$1 limit=$2; shift 2
  [ "$STEPS" = all ] || [[ " $STEPS " == *" $name "* ]] || return 0
  local t0; t0=$(date +%s)
  local left=$(( DEADLINE - (t0 - start) - 10 ))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 20 ]; then echo "$name skipped (deadline)" >>"$OUT/steps.txt"; return; fi
  echo "== $name (limit ${limit}s, at $(( t0 - start ))s)"
  timeout --signal=INT --kill-after=10 "$limit" "$@" >"$OUT/$name.txt" 2>&1
  local rc=$?
  pkill -INT -f "[-]m auditor run" && sleep 2 && pkill -KILL -f "[-]m auditor run"  # orphans
  echo "   exit $rc after $(( $(date +%s) - t0 ))s"
  echo "$name exit $rc $(( $(date +%s) - t0 ))s" >>"$OUT/steps.txt"
}
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
  $PY -c "import torch, torchvision, PIL, numpy; print('torch', torch.__version__, 'cuda', \
torch.version.cuda, 'torchvision', torchvision.__version__, 'PIL', PIL.__version__, 'numpy', \
numpy.__version__, 'device', torch.cuda.get_device_name() if torch.cuda.is_available() else 'none')"
  echo "cpus $(nproc)"; } >"$OUT/steps.txt" 2>&1
cat "$OUT/steps.txt"
if [ "$BUDGET" = 1 ]; then
  DEV=cuda; SAL="--model resnet50 --batch 256 --size 224 --iters 10"
  SMALL=1000; BIG=${BIG:-10000,50000}; E2E="--arch resnet50 --size 224 --batch-size 128 --workers 8"
else
  DEV=cpu; SAL="--model resnet18 --batch 4 --size 64 --iters 2"
  SMALL=64; BIG=128; E2E="--arch simple_cnn --size 64 --batch-size 32 --workers 2"
fi
# 1. the tests that skip without CUDA (nvJPEG vs libjpeg, autocast, the engine on the device)
step pytest-cuda 150 $PY -m pytest -q -p no:cacheprovider -rs -W ignore::DeprecationWarning \
  tests/saliency/test_saliency_engine.py tests/data/test_jpeg_on_device.py
# 2. saliency engine against inference and the peers
step saliency 150 $PY bench/saliency.py $SAL --device $DEV
# 3. end to end: a small run first (finds a broken path fast), then the large ones
for decode in device workers; do
  step "e2e-$decode-small" 120 $PY bench/e2e.py --n $SMALL $E2E --device $DEV \
    --decode $decode --work "$WORK"
done
step e2e-device-large 240 $PY bench/e2e.py --n $BIG $E2E --device $DEV --decode device \
  --work "$WORK"
# where the time goes: the smaller large size again, under cProfile (stats kept in $WORK)
step e2e-profile 120 $PY bench/e2e.py --n ${BIG%%,*} $E2E --device $DEV --decode device \
  --work "$WORK" --profile "$WORK"
step e2e-workers-large 200 $PY bench/e2e.py --n ${BIG##*,} $E2E --device $DEV \
  --decode workers --work "$WORK"
echo "== summary ($(( $(date +%s) - start ))s)"
cat "$OUT/steps.txt"
[ -f "$OUT/pytest-cuda.txt" ] && grep -E "nvJPEG vs|passed|failed|^E " "$OUT/pytest-cuda.txt"
[ -f "$OUT/saliency.txt" ] && cat "$OUT/saliency.txt"
for f in "$OUT"/e2e-*.txt; do echo "-- $(basename "$f")"; grep -E '^\| [0-9]|stages|failed|Error' "$f"; done
