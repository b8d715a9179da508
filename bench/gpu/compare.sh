#!/usr/bin/env bash
# Side by side on one GPU: `rslora bench --device cuda` and transformers + PEFT (bench/gpu/peft_step.py)
# on the same random models (Qwen2.5-0.5B, Qwen2.5-1.5B, Llama-3.1-8B shapes), bf16, LoRA r16 on all
# seven projections, batch × sequence 8 × 1024, plain / gradient checkpointing / NF4 + checkpointing.
# Each case runs in its own process; the table gives tokens/s, peak allocated memory, MFU and the
# ratios against the peer, and checks the goals (≥ 1.5× PEFT's tokens/s at ≤ 0.7× its peak memory;
# the 8B shape with NF4 and checkpointing in ≤ 12 GB).
#
#   RSLORA=build-cuda/app/cli/rslora bench/gpu/compare.sh [shape ...]   (results in $OUT or /tmp/gpu-bench)
set -uo pipefail
R=${RSLORA:-build-cuda/app/cli/rslora}
DIR=${OUT:-/tmp/gpu-bench}
BATCH=${BATCH:-8}
SEQ=${SEQ:-1024}
STEPS=${STEPS:-5}
mkdir -p "$DIR"
shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=(qwen2.5-0.5b qwen2.5-1.5b llama-3.1-8b)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

for shape in "${shapes[@]}"; do
    for case in plain ckpt nf4ckpt; do
        ours=(); peer=()
        case $case in
            ckpt) ours=(--gradient-checkpointing); peer=(--checkpointing) ;;
            nf4ckpt) ours=(--gradient-checkpointing --quantization nf4); peer=(--checkpointing --nf4) ;;
        esac
        "$R" bench --device cuda --dtype bfloat16 --shapes "$shape" --batch "$BATCH" --seq "$SEQ" --steps "$STEPS" --warmup 2 \
            --json "${ours[@]}" > "$DIR/ours-$shape-$case.json" 2> "$DIR/ours-$shape-$case.log" \
            || echo "rslora $shape $case failed: $(tail -n 3 "$DIR/ours-$shape-$case.log")"
        python3 "$here/peft_step.py" --shape "$shape" --batch "$BATCH" --seq "$SEQ" --steps "$STEPS" "${peer[@]}" \
            --out "$DIR/peft-$shape-$case.json" > "$DIR/peft-$shape-$case.log" 2>&1 \
            || echo "peft $shape $case failed: $(tail -n 3 "$DIR/peft-$shape-$case.log")"
    done
done

python3 - "$DIR" "${shapes[@]}" <<'PY'
import json, os, sys
d, shapes = sys.argv[1], sys.argv[2:]
def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception:
        return None
print(f"{'shape':14} {'case':8} {'ours tok/s':>11} {'peft tok/s':>11} {'speed':>6} {'ours MiB':>9} {'peft MiB':>9} {'mem':>5} {'MFU ours':>8} {'MFU peft':>8} {'est/ours':>8}  goals")
for s in shapes:
    for c in ["plain", "ckpt", "nf4ckpt"]:
        o, p = load(f"{d}/ours-{s}-{c}.json"), load(f"{d}/peft-{s}-{c}.json")
        # --gradient-checkpointing adds the checkpointed case after the plain one.
        want = "lora" if c == "plain" else "lora + ckpt"
        o = next((row for row in (o or {}).get("cases", []) if row.get("case") == want), None)
        ot = o["tokens_per_second"] if o else float("nan")
        om = o["cuda_peak_allocated_mb"] if o else float("nan")
        of = o["mfu"] if o else float("nan")
        est = o["estimated_peak_mb"] / om if o and om > 0 else float("nan")
        pt = p["tokens_per_second"] if p else float("nan")
        pm = p["peak_allocated_mb"] if p else float("nan")
        pf = p["mfu"] if p else float("nan")
        speed, mem = ot / pt if p and o else float("nan"), om / pm if p and o else float("nan")
        goals = []
        if o and p:
            goals.append("speed ok" if speed >= 1.5 else "speed MISSED")
            goals.append("memory ok" if mem <= 0.7 else "memory MISSED")
        if o:
            goals.append("estimate within 15%" if abs(est - 1) <= 0.15 else "estimate off by more than 15%")
        if s == "llama-3.1-8b" and c == "nf4ckpt" and o:
            goals.append("≤12 GB ok" if om <= 12 * 1024 else "≤12 GB MISSED")
        print(f"{s:14} {c:8} {ot:11.0f} {pt:11.0f} {speed:6.2f} {om:9.0f} {pm:9.0f} {mem:5.2f} {of:8.3f} {pf:8.3f} {est:8.2f}  {', '.join(goals)}")
PY
