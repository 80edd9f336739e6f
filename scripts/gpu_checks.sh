#!/usr/bin/env bash
# The GPU checks: the CUDA tests (tests/test_cuda.py, skipped on machines without a GPU) and the GPU benchmarks,
# from a checkout on a machine with one NVIDIA GPU, in two parts of a few minutes each:
#
#   OUT=results/ bash scripts/gpu_checks.sh train     # no detector weights needed (PyAV for the training grids)
#   OUT=results/ VGBENCH_HOME=~/.cache/vgbench bash scripts/gpu_checks.sh metrics   # needs the I3D weights
#   OUT=results/ bash scripts/gpu_checks.sh all
#
# train: the generator precision and training CUDA tests, paper-config training steps (StyleGAN-V ffs, CTSVG mead,
# MotionVideoGAN stage 1 ffs) and MotionVideoGAN stage 2 at full size. metrics: the detector CUDA tests (I3D against
# the CPU, batch-size probe, FVD16 against the CPU), a protocol-complete FVD16 (2048 fake videos of a full-size
# 256x256 StyleGAN-V), full-size sampling of every generator, I3D clips/s and the end-to-end FVD16 of JPEG videos
# from disk. The I3D weights must be in $VGBENCH_HOME (`vgbench weights fetch i3d`, or a copied cache). It runs from
# the checkout itself (PYTHONPATH=.), so a machine image's own torch is used as it is. Everything goes to
# $OUT/gpu_checks.log; the CUDA tests' measurements to $OUT/cuda_report.jsonl (numbers: docs/testing.md).
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 VGBENCH_CUDA_REPORT="$OUT/cuda_report.jsonl"
PY="${PYTHON:-python3}"
LOG="$OUT/gpu_checks.log"

step() {  # step NAME SECONDS CMD...: run CMD under a time limit, its output into the log, and say how it ended
  local name=$1 limit=$2
  shift 2
  echo "== $name (limit ${limit}s)" | tee -a "$LOG"
  local t0=$SECONDS
  timeout -k 5 "$limit" "$@" >>"$LOG" 2>&1
  echo "== $name: exit $? after $((SECONDS - t0)) s" | tee -a "$LOG"
}

environment() {
  step environment 60 bash -c "nvidia-smi -L; $PY -c 'import torch, numpy; print(torch.__version__, torch.version.cuda, numpy.__version__, torch.cuda.get_device_name())'"
}

train() {
  environment
  step cuda-tests-train 150 "$PY" -m pytest -q -p no:cacheprovider -o addopts= --durations=0 tests/test_cuda.py \
    -k "precision or trainer"
  step directions 60 "$PY" benchmarks/bench_directions.py --device cuda --tangents 32
  step train-ctsvg-mead 80 "$PY" benchmarks/bench_training.py --model ctsvg --config mead --steps 3
  step train-motionvideogan-ffs-pairs 80 "$PY" benchmarks/bench_training.py --model motionvideogan --stage pairs \
    --config ffs --steps 3
  # last: with TF32 off it did not finish a warm-up and 2 steps in 180 s on an H200 (docs/training.md "Speed")
  step train-stylegan_v-ffs 300 "$PY" benchmarks/bench_training.py --model stylegan_v --config ffs --steps 3
}

metrics() {
  environment
  step cuda-tests-metrics 90 "$PY" -m pytest -q -p no:cacheprovider -o addopts= --durations=0 tests/test_cuda.py \
    -k "not precision and not trainer"
  step protocol-fvd16-and-sampling 150 "$PY" benchmarks/bench_sampling.py --device cuda --videos 8 --no-eval \
    --protocol-fvd16 2048 --gen-batch-size 16 --models stylegan_v,mostgan_v,motionvideogan,ctsvg,digan,mocogan_hd
  step i3d 60 "$PY" benchmarks/bench_i3d.py --device cuda --batch-sizes 16,64 --repeats 2
  step fvd-e2e 100 "$PY" benchmarks/bench_fvd_e2e.py --device cuda --videos 128
}

case "${1:-all}" in
  train) train ;;
  metrics) metrics ;;
  all) train; metrics ;;
  *) echo "usage: scripts/gpu_checks.sh train|metrics|all" >&2; exit 2 ;;
esac
