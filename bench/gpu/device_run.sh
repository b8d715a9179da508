#!/usr/bin/env bash
# Every GPU check and benchmark of one device session, most important first (device time is short):
# build the headless CUDA preset on 16 cores, doctor and selftest, the Qt-Core suites on the CUDA
# build where Qt Test exists, logits parity with transformers + PEFT (bench/gpu_check.sh), training
# with a bf16 base, gradient checkpointing (adapters compared with the run without it) and an NF4
# base, then the side-by-side benchmark against transformers + PEFT (bench/gpu/compare.sh). Each
# stage has a time box; what every stage printed is kept under $OUT.
#   bench/gpu/make_devdeps.sh        # on the build machine: .devdeps travels with the checkout
#   OUT=/path bench/gpu/device_run.sh  # on the GPU machine, from the checkout
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
D=$PWD/.devdeps
[ -d "$D" ] || { echo "device_run: $D is missing (run bench/gpu/make_devdeps.sh on the build machine)" >&2; exit 2; }
export LD_LIBRARY_PATH=$D/lib:${LD_LIBRARY_PATH:-}
export PKG_CONFIG_PATH=$D/lib/pkgconfig:$D/share/pkgconfig
export OMP_WAIT_POLICY=PASSIVE RSLORA_HOME=/tmp/rslora-home
TP=$(python3 -c "import torch;print(torch.utils.cmake_prefix_path)")
B=$PWD/build-cuda
t0=$(date +%s)
stage() { echo "== $(( $(date +%s) - t0 )) s: $*" | tee -a "$OUT/stages.txt"; }

stage "configure and build (16 cores)"
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRSLORA_WITH_QT=OFF -DRSLORA_USE_PCH=ON \
    -DCMAKE_PREFIX_PATH="$TP;$D" -DCMAKE_CUDA_ARCHITECTURES=90 -DRSLORA_SHARED_DIR="$D" > "$OUT/configure.log" 2>&1 \
    || { tail -40 "$OUT/configure.log"; exit 1; }
ninja -C "$B" -j16 > "$OUT/build.log" 2>&1 || { grep -E "error" -A5 "$OUT/build.log" | head -80; exit 1; }
R=$B/app/cli/rslora

stage "doctor, selftest"
"$R" doctor 2>&1 | tee "$OUT/doctor.txt"
timeout 120 "$R" selftest --device cuda 2>&1 | tee "$OUT/selftest.txt"

if ctest --test-dir "$B" -N 2>/dev/null | grep -q "Total Tests: [1-9]"; then
    stage "fast suites on the CUDA build"
    (cd "$B" && timeout 300 ctest -L fast -j8 --timeout 120 > "$OUT/ctest.log" 2>&1; tail -25 "$OUT/ctest.log")
fi

stage "logits parity and bf16 training (gpu_check.sh)"
RSLORA=$R RSLORA_DEPS=$D timeout 240 bench/gpu_check.sh 2>&1 | tee "$OUT/gpu_check.txt"

stage "bf16 base: plain, gradient checkpointing (same adapter?), NF4"
python3 - "$D/fixtures/llama" <<'PY'
import json, random, sys
random.seed(0)
with open("/tmp/count.jsonl", "w") as f:
    for i in range(256):
        s = random.randrange(0, 200)
        ids = [(s + t) % 250 + 3 for t in range(64)]
        f.write(json.dumps({"input_ids": ids, "labels": [-100] * 8 + ids[8:]}) + "\n")
base = {"model": {"path": sys.argv[1], "device": "cuda", "dtype": "bfloat16"},
        "data": {"train": "/tmp/count.jsonl", "max_seq_len": 64},
        "adapter": {"r": 16, "lora_alpha": 32, "lora_dropout": 0.1, "target_modules": "all-linear"},
        "training": {"learning_rate": 0.003, "batch_size": 16, "max_steps": 30, "log_every": 10, "seed": 3}}
for name, training, model in [("plain", {}, {}), ("ckpt", {"gradient_checkpointing": True}, {}),
                              ("nf4", {"gradient_checkpointing": True}, {"quantization": "nf4"})]:
    c = json.loads(json.dumps(base))
    c["training"].update(training)
    c["model"].update(model)
    c["output"] = {"dir": f"/tmp/run-{name}"}
    json.dump(c, open(f"/tmp/train-{name}.json", "w"), indent=1)
PY
for name in plain ckpt nf4; do
    timeout 120 "$R" train "/tmp/train-$name.json" --no-store 2>&1 | grep -v "^frame" | tail -4 | tee "$OUT/train-$name.txt"
done
python3 - <<'PY' 2>&1 | tee "$OUT/checkpointing.txt"
from safetensors.torch import load_file
a = load_file("/tmp/run-plain/adapter/adapter_model.safetensors")
b = load_file("/tmp/run-ckpt/adapter/adapter_model.safetensors")
d = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
print(f"gradient checkpointing on CUDA bf16: max |adapter difference| after 30 steps = {d:.3e} over {len(a)} tensors")
PY

stage "side by side with transformers + PEFT"
RSLORA=$R OUT=$OUT/bench STEPS=3 timeout 420 bench/gpu/compare.sh qwen2.5-0.5b llama-3.1-8b 2>&1 | tee "$OUT/compare.txt"
stage done
