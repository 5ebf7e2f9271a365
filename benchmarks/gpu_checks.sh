#!/usr/bin/env bash
# [OUT=DIR] [PY=python] bash benchmarks/gpu_checks.sh   (from the repository root; OUT defaults to out/gpu_checks)
#
# The GPU checks of issue 4 on a CUDA machine, in one short run (about 1 minute, at most ~3):
#   1. nvidia-smi, and torch / CUDA / Lightning versions as Python sees them;
#   2. the GPU tests: pytest -m gpu -q -rs (move_to to cuda, the matmul table, configs/quadratic.yaml
#      and configs/digits.yaml trained through `scaffold fit --trainer.accelerator gpu`);
#   3. exercise 3, the CPU/GPU X @ X benchmark for n = 2^0..2^11: $OUT/speedup.csv, $OUT/speedup.png
#      and its TensorBoard run under $OUT/lightning_logs.
#
# The caller sets up Python: $PY (default `python`) must import torch built with CUDA, lightning,
# torchmetrics, jsonargparse, tensorboard, matplotlib, scikit-learn, tqdm and pytest. scaffold need
# not be installed: the repository root is put on PYTHONPATH. Nothing is downloaded.
# Every step runs (each under its own timeout) and logs to $OUT/<step>.log; the exit status is 1
# if any step failed, else 0.
set -u -o pipefail

PY=${PY:-python}
OUT=${OUT:-out/gpu_checks}  # /out/ is git-ignored
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export MPLBACKEND=Agg
failed=0

step() {
    local name=$1
    shift
    echo "=== $name: $*"
    if ! "$@" 2>&1 | tee "$OUT/$name.log"; then
        echo "=== $name FAILED (exit ${PIPESTATUS[0]})"
        failed=1
    fi
}

step nvidia-smi timeout 15 nvidia-smi
step torch-info timeout 30 "$PY" -c '
import platform, torch, lightning
print("python", platform.python_version(), "| torch", torch.__version__, "| CUDA", torch.version.cuda,
      "| cuDNN", torch.backends.cudnn.version(), "| lightning", lightning.__version__)
print("cuda available:", torch.cuda.is_available(), "| devices:", torch.cuda.device_count())
for i in range(torch.cuda.device_count()):
    print(f"  cuda:{i}", torch.cuda.get_device_name(i), "capability", torch.cuda.get_device_capability(i))
print("TF32 matmul allowed:", torch.backends.cuda.matmul.allow_tf32)
assert torch.cuda.is_available(), "torch sees no CUDA device"
'
# Collection errors in unrelated test files (a package missing on the device) must not stop the GPU tests.
step gpu-tests timeout 100 "$PY" -m pytest -m gpu -q -rs -p no:cacheprovider --continue-on-collection-errors tests
step exercise3 timeout 35 "$PY" examples/exercise3_speedup.py --out "$OUT" --logdir "$OUT/lightning_logs" \
    --max-power 11 --repeats 5

echo "=== outputs in $OUT:"
ls -l "$OUT"
exit $failed
