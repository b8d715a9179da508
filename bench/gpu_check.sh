#!/usr/bin/env bash
# Every GPU check and benchmark of a device session, in one script made to fail, most important
# first, within 8 minutes including the build (each stage has a time box, the benchmark takes what
# is left):
#   1. the headless CUDA build against the machine's CUDA LibTorch, on 16 cores, of what the checks run
#   2. rslora doctor (CUDA seen) and rslora selftest --device cuda: logits and adapter gradients = CPU,
#      LoRA training in float32, bfloat16 and float16, the 4-bit kernel = the CPU path, gradient
#      checkpointing = without, QLoRA (NF4 base + checkpointing) training
#   3. tst_quant_cuda (the dequantization kernel bit for bit, the 4-bit layer's forward and backward)
#      and tst_nccl_group (NCCL chosen for CUDA tensors, its collectives in a group of one)
#   4. logits with a PEFT adapter against the transformers + PEFT reference, float32 and bfloat16
#   5. a CLI training run on CUDA: bf16 base, checkpointing, NF4; loss falls, VRAM in the step line
#   6. bench/gpu/compare.sh: side by side with transformers + PEFT (tokens/s, peak memory, MFU, the
#      memory estimate) and its goals
# The exit status is 0 only when every check passed and every benchmark goal was met; the summary
# at the end lists what failed. Everything each stage printed is kept under $OUT.
#   bench/gpu/make_devdeps.sh          # on the Debian build machine: .devdeps (carry it to the device)
#   OUT=/path bench/gpu_check.sh       # on the GPU machine, from the checkout
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
D=${RSLORA_DEPS:-$PWD/.devdeps}
[ -d "$D" ] || { echo "gpu_check: $D is missing (run bench/gpu/make_devdeps.sh on the build machine and carry .devdeps)" >&2; exit 2; }
export LD_LIBRARY_PATH=$D/lib:${LD_LIBRARY_PATH:-}
export PKG_CONFIG_PATH=$D/lib/pkgconfig:$D/share/pkgconfig
export OMP_WAIT_POLICY=PASSIVE RSLORA_HOME=/tmp/rslora-home PYTHONUNBUFFERED=1
F=$D/fixtures
B=${BUILD:-$PWD/build-cuda}
t0=$(date +%s)
TOTAL=${TOTAL_SECONDS:-480}
failed=()

stage() { echo "== $(( $(date +%s) - t0 )) s: $*" | tee -a "$OUT/stages.txt"; }
fail() { echo "FAILED: $*" | tee -a "$OUT/stages.txt"; failed+=("$*"); }
# A stage's time box, cut to what is left of the total.
box() {
    local left=$(( TOTAL - ($(date +%s) - t0) ))
    [ "$1" -lt $left ] && echo "$1" || echo $(( left > 5 ? left : 5 ))
}
summary() {
    stage "done"
    if [ ${#failed[@]} -eq 0 ]; then
        echo "gpu_check: every check passed and every goal was met ($(( $(date +%s) - t0 )) s)" | tee -a "$OUT/stages.txt"
        exit 0
    fi
    echo "gpu_check: ${#failed[@]} failure(s) in $(( $(date +%s) - t0 )) s:" | tee -a "$OUT/stages.txt"
    printf '  %s\n' "${failed[@]}" | tee -a "$OUT/stages.txt"
    exit 1
}

stage "configure and build (16 cores)"
TP=$(python3 -c "import torch; print(torch.utils.cmake_prefix_path)") || { fail "python3 has no torch"; summary; }
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" | tee "$OUT/torch.txt"
# nccl.h: the one of pip's nvidia-nccl package beside torch (the NCCL torch runs with), else the
# CUDA Toolkit's.
NCCL=$(python3 -c "
import glob, os, nvidia
for d in nvidia.__path__:
    for h in sorted(glob.glob(os.path.join(d, '*', 'include', 'nccl.h'))):
        print(os.path.dirname(h)); raise SystemExit
" 2>/dev/null || true)
[ -z "$NCCL" ] && [ -f /usr/local/cuda/include/nccl.h ] && NCCL=/usr/local/cuda/include
echo "nccl.h: ${NCCL:-not found} ($(grep -m1 -h '#define NCCL_VERSION_CODE' "$NCCL/nccl.h" 2>/dev/null))" | tee -a "$OUT/torch.txt"
timeout "$(box 60)" cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRSLORA_WITH_QT=OFF -DRSLORA_WITH_TESTS=ON \
    -DRSLORA_USE_PCH=ON -DCMAKE_PREFIX_PATH="$TP;$D" -DCMAKE_CUDA_ARCHITECTURES=90 -DRSLORA_SHARED_DIR="$D" \
    ${NCCL:+-DNCCL_INCLUDE_DIR="$NCCL"} > "$OUT/configure.log" 2>&1 \
    || { tail -30 "$OUT/configure.log"; fail "configure"; summary; }
targets=(rslora)
known=$(ninja -C "$B" -t targets all 2>/dev/null || true)
for t in tst_quant_cuda tst_nccl_group; do
    grep -q "^$t:" <<< "$known" && targets+=("$t") || fail "$t is not configured (CUDA LibTorch or nccl.h missing)"
done
timeout "$(box 270)" ninja -C "$B" -j16 "${targets[@]}" > "$OUT/build.log" 2>&1 \
    || { grep -E "error|FAILED" -A5 "$OUT/build.log" | head -60; fail "build"; summary; }
R=$B/app/cli/rslora
echo "build: $(( $(date +%s) - t0 )) s" | tee -a "$OUT/stages.txt"

stage "doctor, selftest --device cuda"
"$R" doctor --json > "$OUT/doctor.json" 2>&1 || fail "rslora doctor"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['cuda']['available'], d['cuda']" "$OUT/doctor.json" \
    || fail "rslora doctor: CUDA not available"
timeout "$(box 90)" "$R" selftest --device cuda 2>&1 | tee "$OUT/selftest.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "selftest --device cuda: $(grep -c '^FAIL' "$OUT/selftest.txt") check(s) failed"

stage "kernel and NCCL tests"
for t in tst_quant_cuda tst_nccl_group; do
    [ -x "$B/tests/gpu/$t" ] || continue
    timeout "$(box 60)" "$B/tests/gpu/$t" > "$OUT/$t.txt" 2>&1 || fail "$t: $(grep -m3 '^FAIL' "$OUT/$t.txt" | tr '\n' ' ')"
    tail -1 "$OUT/$t.txt"
done

stage "logits parity with transformers + PEFT"
for dt in float32 bfloat16; do
    timeout "$(box 30)" "$R" logits "$F/llama" --ids "1,239,179,14,112,17,149,78,203,108,193,124" --adapter "$F/peft/lora" \
        --device cuda --dtype $dt --out "$OUT/logits_$dt.safetensors" > "$OUT/logits_$dt.log" 2>&1 || fail "rslora logits --dtype $dt"
done
python3 - "$F" "$OUT" <<'PY' 2>&1 | tee "$OUT/parity.txt"
import json, struct, sys, torch
F, out = sys.argv[1], sys.argv[2]

# A pip PyTorch comes without the safetensors package: the files are read here (header, then raw bytes).
def load_file(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    kinds = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32}
    tensors = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        start, end = t["data_offsets"]
        raw = bytearray(blob[8 + n + start:8 + n + end])
        tensors[name] = (torch.frombuffer(raw, dtype=kinds[t["dtype"]]) if raw else torch.empty(0, dtype=kinds[t["dtype"]])).reshape(t["shape"])
    return tensors

ref = load_file(F + "/reference/peft_llama.safetensors")["lora.logits_nomask"][0]
bad = 0
for dt, bound in [("float32", 1e-4), ("bfloat16", 5e-2)]:
    try:
        got = load_file(f"{out}/logits_{dt}.safetensors")
    except Exception as e:
        print(f"logits on cuda {dt}: not written ({e})"); bad += 1; continue
    k = [k for k in got if "logits" in k][0]
    err = (got[k].float().reshape(ref.shape) - ref).abs().max().item() / ref.abs().max().item()
    ok = err <= bound
    bad += not ok
    print(f"logits on cuda {dt}: max |diff| / max |ref| = {err:.2e} (bound {bound:.0e}) {'ok' if ok else 'FAIL'}")
sys.exit(1 if bad else 0)
PY
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "logits parity"

stage "rslora train on CUDA: bf16 base, NF4, gradient checkpointing"
python3 - "$F/llama" "$OUT" <<'PY'
import json, random, sys
random.seed(0)
with open("/tmp/count.jsonl", "w") as f:
    for i in range(256):
        s = random.randrange(0, 200)
        ids = [(s + t) % 250 + 3 for t in range(64)]
        f.write(json.dumps({"input_ids": ids, "labels": [-100] * 8 + ids[8:]}) + "\n")
cfg = {"model": {"path": sys.argv[1], "device": "cuda", "dtype": "bfloat16", "quantization": "nf4"},
       "data": {"train": "/tmp/count.jsonl", "max_seq_len": 64},
       "adapter": {"r": 16, "lora_alpha": 32, "lora_dropout": 0.1, "target_modules": "all-linear"},
       "training": {"learning_rate": 0.003, "batch_size": 16, "max_steps": 40, "log_every": 10, "seed": 3,
                    "gradient_checkpointing": True},
       "output": {"dir": "/tmp/run-cuda-qlora"}}
json.dump(cfg, open("/tmp/train-cuda-qlora.json", "w"), indent=1)
PY
timeout "$(box 90)" "$R" train /tmp/train-cuda-qlora.json --no-store > "$OUT/train.txt" 2>&1 || fail "rslora train (bf16, nf4, checkpointing) on CUDA"
tail -3 "$OUT/train.txt"
python3 - "$OUT/train.txt" <<'PY' || fail "rslora train on CUDA: loss did not fall or no VRAM in the step line"
import re, sys
lines = [l for l in open(sys.argv[1]) if re.match(r"\s*step \d+/", l)]
losses = [float(re.search(r"loss ([0-9.]+)", l).group(1)) for l in lines]
assert len(losses) >= 2 and losses[-1] < 0.8 * losses[0], losses
assert all(" vram " in l for l in lines), lines[-1]
print(f"train on cuda: loss {losses[0]:.3f} -> {losses[-1]:.3f}; {lines[-1].strip()}")
PY

stage "side by side with transformers + PEFT"
left=$(( TOTAL - ($(date +%s) - t0) ))
RSLORA=$R OUT=$OUT/bench STEPS=${STEPS:-2} WARMUP=1 DEADLINE=$(( $(date +%s) + left )) bench/gpu/compare.sh \
    ${BENCH_RUNS:-qwen2.5-0.5b:plain qwen2.5-0.5b:ckpt qwen2.5-1.5b:ckpt llama-3.1-8b:nf4ckpt} 2>&1 | tee "$OUT/compare.txt"
case ${PIPESTATUS[0]} in
    0) ;;
    2) fail "benchmark goals missed (see compare.txt)" ;;
    *) fail "benchmark runs failed (see compare.txt)" ;;
esac
summary
