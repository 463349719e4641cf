#!/usr/bin/env bash
# On a GPU machine with TensorRT (JetPack 6/7, or docker/Dockerfile.trt): build fp32/fp16/int8 plans for
# resnet50 + defenses and the sign model, check each plan against onnxruntime CPU on the same graph,
# and time it. Writes benchmarks/results/gpu_check.json. Usage: benchmarks/gpu_check.sh [python]
set -euo pipefail
PY=${1:-python3}
cd "$(dirname "$0")/.."
OUT=benchmarks/results/gpu_build
mkdir -p "$OUT"
"$PY" -c "import tensorrt, torch; assert torch.cuda.is_available(), 'no CUDA GPU'; print('TensorRT', tensorrt.__version__, 'on', torch.cuda.get_device_name(0))"

[ -d calibration/signs ] || "$PY" -c "from edgeguard.cli.app import main; main()" data calib signs --out calibration/signs --count 512
if [ ! -d "$OUT/calib224" ]; then   # resnet50 calibration: the bundled photos won't do; use renders at 224
  "$PY" - <<'PY'
from pathlib import Path
from edgeguard.data import SignDataset, save_rgb
ds = SignDataset(512, seed=3, size=224)
for i in range(len(ds)):
    save_rgb(Path("benchmarks/results/gpu_build/calib224") / f"{i:05d}.png", ds.render(i))
PY
fi

for model in signs resnet50; do
  cal=calibration/signs; [ "$model" = resnet50 ] && cal="$OUT/calib224"
  for p in fp32 fp16 int8; do
    extra=(); [ "$p" = int8 ] && extra=(--calib "$cal")
    "$PY" -c "from edgeguard.cli.app import main; main()" export "$model" -d bits:5 -d median:3x3 \
      --precision "$p" "${extra[@]}" --engine trt --batch 1,4,8 -o "$OUT/$model-$p.onnx"
  done
done

"$PY" - <<'PY'
import glob, json, time
import numpy as np, onnxruntime as ort
from edgeguard.engines import open_engine
from edgeguard.samples import photo_batch

rows = {}
for onnx_path in sorted(glob.glob("benchmarks/results/gpu_build/*-*.onnx")):
    plans = sorted(glob.glob(onnx_path[:-5] + ".b8.trt*.engine"))
    if not plans:
        continue
    eng = open_engine(plans[-1])
    size = eng.manifest.input.size
    x = photo_batch(4, size)
    ref = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    got = eng(x)["logits"]
    for _ in range(20):
        eng(x)
    t = []
    for _ in range(100):
        t0 = time.perf_counter(); eng(x[:1]); t.append((time.perf_counter() - t0) * 1e3)
    rows[plans[-1].rsplit("/", 1)[-1]] = {
        "max_rel_vs_ort_cpu": float(np.abs(got - ref).max() / np.abs(ref).max()),
        "top1_agreement": float((got.argmax(1) == ref.argmax(1)).mean()),
        "p50_ms_batch1": float(np.percentile(t, 50)), "p90_ms_batch1": float(np.percentile(t, 90)),
        "tensorrt": eng.manifest.tensorrt.to_dict(),
    }
    print(f"{plans[-1]}: rel {rows[plans[-1].rsplit('/', 1)[-1]]['max_rel_vs_ort_cpu']:.2e}, "
          f"p50 {np.percentile(t, 50):.2f} ms")
json.dump(rows, open("benchmarks/results/gpu_check.json", "w"), indent=2)
PY

# Fleet serving (issue 16): a Triton model repository holding the sign model's fp32 ONNX graph and its
# fp16 TensorRT plan, served by a real tritonserver and checked output for output against the same
# engines run here (benchmarks/triton_check.py → benchmarks/results/triton_check.json). No Triton server
# can be installed on the development machine (its tests use an in-process fake gRPC server), so this
# is where the real one is exercised. Run this script inside NVIDIA's container
# (nvcr.io/nvidia/tritonserver:<yy.mm>-py3 with `pip install -e '.[export,triton]'`), whose TensorRT
# is the one that built the plan; elsewhere the check is skipped with a note.
if command -v tritonserver >/dev/null 2>&1; then
  REPO="$OUT/triton_repo"
  rm -rf "$REPO"
  "$PY" -c "from edgeguard.cli.app import main; main()" triton "$REPO" --engine "$OUT/signs-fp32.onnx" --name signs_onnx
  plan=$(ls "$OUT"/signs-fp16.b8.trt*.engine | tail -n 1)
  "$PY" -c "from edgeguard.cli.app import main; main()" triton "$REPO" --engine "$plan" --name signs_plan
  tritonserver --model-repository "$REPO" --grpc-port 8001 --http-port 8000 --metrics-port 8002 \
    >"$OUT/tritonserver.log" 2>&1 &
  TRITON_PID=$!
  trap 'kill "$TRITON_PID" 2>/dev/null || true' EXIT
  "$PY" benchmarks/triton_check.py "$REPO" localhost:8001 benchmarks/results/triton_check.json --wait 120
  kill "$TRITON_PID"
  wait "$TRITON_PID" 2>/dev/null || true
  trap - EXIT
else
  echo "tritonserver not found: Triton check skipped (run inside nvcr.io/nvidia/tritonserver:<yy.mm>-py3)"
fi
