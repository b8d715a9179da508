#!/usr/bin/env bash
# GPU build and checks on a CUDA machine: headless build against its CUDA LibTorch, doctor,
# logits parity on CUDA (fp32 and bf16) against transformers references, and a short bf16 training
# run on CUDA. Run from the checkout: `RSLORA_DEPS=/path/to/deps bench/gpu_check.sh`.
set -uo pipefail
D=${RSLORA_DEPS:-$PWD/.devdeps}   # headers/libs a GPU machine lacks, and a fixtures/ copy (llama, peft/lora, reference)
TP=$(python3 -c "import torch;print(torch.utils.cmake_prefix_path)")
python3 -c "import torch;print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
export LD_LIBRARY_PATH=$D/lib:${LD_LIBRARY_PATH:-}
if [ -n "${RSLORA:-}" ]; then
  R=$RSLORA   # built already (bench/gpu/device_run.sh)
else
B=/tmp/build-cuda
T0=$(date +%s)
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DRSLORA_WITH_QT=OFF -DRSLORA_WITH_TESTS=OFF -DRSLORA_USE_PCH=ON \
  -DCMAKE_PREFIX_PATH="$TP;$D" -DCMAKE_CUDA_ARCHITECTURES=90 > ${OUT:-/tmp}/configure.log 2>&1 || { tail -40 ${OUT:-/tmp}/configure.log; exit 1; }
ninja -C $B rslora -j 16 > ${OUT:-/tmp}/build.log 2>&1 || { grep -E "error|Error" -A5 ${OUT:-/tmp}/build.log | head -80; exit 1; }
echo "build: $(( $(date +%s) - T0 )) s"
R=$B/app/cli/rslora
fi
$R doctor
export RSLORA_HOME=/tmp/rslora-home
F=$D/fixtures
for dt in float32 bfloat16; do
  $R logits $F/llama --ids "1,239,179,14,112,17,149,78,203,108,193,124" --adapter $F/peft/lora --device cuda --dtype $dt --out /tmp/lg_$dt.safetensors || exit 1
done
python3 - "$F" <<'PY'
import sys, torch
from safetensors.torch import load_file
F = sys.argv[1]
ref = load_file(F + "/reference/peft_llama.safetensors")["lora.logits_nomask"][0]
for dt in ["float32", "bfloat16"]:
    out = load_file(f"/tmp/lg_{dt}.safetensors")
    k = [k for k in out if "logits" in k][0]
    got = out[k].float().reshape(ref.shape)
    err = (got - ref).abs().max().item() / ref.abs().max().item()
    print(f"logits on cuda {dt}: max |diff| / max |ref| = {err:.2e}")
PY

# A short bf16 training run on CUDA on a pre-tokenized dataset.
python3 - <<'PY'
import json, random
random.seed(0)
with open("/tmp/count.jsonl", "w") as f:
    for i in range(256):
        s = random.randrange(0, 200)
        ids = [(s + t) % 250 + 3 for t in range(64)]
        f.write(json.dumps({"input_ids": ids, "labels": [-100]*8 + ids[8:]}) + "\n")
cfg = {"model": {"path": "", "device": "cuda", "dtype": "bfloat16"},
       "data": {"train": "/tmp/count.jsonl", "max_seq_len": 64},
       "adapter": {"r": 16, "lora_alpha": 32, "target_modules": ["q_proj","k_proj","v_proj","o_proj","gate_proj","up_proj","down_proj"]},
       "training": {"learning_rate": 0.003, "batch_size": 16, "max_steps": 60, "log_every": 10},
       "output": {"dir": "/tmp/run-cuda"}}
import sys
cfg["model"]["path"] = sys.argv[1] if len(sys.argv) > 1 else ""
json.dump(cfg, open("/tmp/train-cuda.json", "w"), indent=1)
PY
python3 -c "
import json; c=json.load(open('/tmp/train-cuda.json')); c['model']['path']='$F/llama'; json.dump(c, open('/tmp/train-cuda.json','w'))"
T1=$(date +%s)
$R train /tmp/train-cuda.json --no-store 2>&1 | grep -v "^frame" | tail -14
echo "train wall: $(( $(date +%s) - T1 )) s"

# The same run in float32 on CUDA: the engine's hand-written autograd nodes (adapted projections,
# RMSNorm, rotary, linear + cross-entropy) on the GPU, since bf16 autocast takes the generic path.
python3 -c "
import json; c=json.load(open('/tmp/train-cuda.json')); c['model']['dtype']='float32'; c['output']['dir']='/tmp/run-cuda-fp32'; json.dump(c, open('/tmp/train-cuda-fp32.json','w'))"
T2=$(date +%s)
$R train /tmp/train-cuda-fp32.json --no-store 2>&1 | grep -v "^frame" | tail -6
echo "fp32 train wall: $(( $(date +%s) - T2 )) s"
