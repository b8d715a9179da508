#!/usr/bin/env bash
# Side by side on one GPU: `rslora bench --device cuda` and transformers + PEFT (bench/gpu/peft_step.py)
# on the same random models (Qwen2.5-0.5B, Qwen2.5-1.5B, Llama-3.1-8B shapes), bf16, LoRA r16 on all
# seven projections, batch × sequence 8 × 1024, and the same AdamW settings. Cases: plain, ckpt
# (gradient checkpointing), nf4ckpt (an NF4 base with checkpointing; the peer needs bitsandbytes).
# Each run is its own process, so the CUDA peaks are the case's own. The table gives tokens/s, peak
# allocated memory, MFU and the ratios against the peer, and checks the goals: ≥ 1.5× PEFT's tokens/s
# at ≤ 0.7× its peak memory, the memory estimate within 15 % of the measured peak, and the 8B shape
# with NF4 and checkpointing in ≤ 12 GB.
#
#   RSLORA=build-cuda/app/cli/rslora bench/gpu/compare.sh [shape:case ...]   (results in $OUT or /tmp/gpu-bench)
#   default: every shape with every case. DEADLINE (epoch seconds) stops starting runs after it.
# Exit status: 0 all runs ran and every goal was met; 1 a run of ours failed (or the deadline cut the
# list short); 2 our runs ran but a goal was missed or could not be compared.
set -uo pipefail
R=${RSLORA:-build-cuda/app/cli/rslora}
DIR=${OUT:-/tmp/gpu-bench}
BATCH=${BATCH:-8}
SEQ=${SEQ:-1024}
STEPS=${STEPS:-5}
WARMUP=${WARMUP:-2}
DEADLINE=${DEADLINE:-0}
mkdir -p "$DIR"
runs=("$@")
if [ ${#runs[@]} -eq 0 ]; then
    for shape in qwen2.5-0.5b qwen2.5-1.5b llama-3.1-8b; do
        for case in plain ckpt nf4ckpt; do runs+=("$shape:$case"); done
    done
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
status=0

# Seconds a run may take: what is left before the deadline (at most 300 s), none when it has passed.
budget() {
    if [ "$DEADLINE" -le 0 ]; then echo 300; return; fi
    local left=$(( DEADLINE - $(date +%s) ))
    [ $left -gt 300 ] && left=300
    echo $left
}

for run in "${runs[@]}"; do
    shape=${run%%:*} case=${run#*:}
    case $case in
        plain) ours=(--cases lora); peer=() ;;
        ckpt) ours=(--cases "lora + ckpt"); peer=(--checkpointing) ;;
        nf4ckpt) ours=(--cases "lora + ckpt" --quantization nf4); peer=(--checkpointing --nf4) ;;
        *) echo "compare: unknown case '$case' in '$run' (plain, ckpt or nf4ckpt)" >&2; exit 1 ;;
    esac
    t=$(budget)
    if [ "$t" -lt 20 ]; then echo "compare: deadline reached before $run"; status=1; break; fi
    timeout "$t" "$R" bench --device cuda --dtype bfloat16 --shapes "$shape" --batch "$BATCH" --seq "$SEQ" --steps "$STEPS" \
        --warmup "$WARMUP" --json "${ours[@]}" > "$DIR/ours-$shape-$case.json" 2> "$DIR/ours-$shape-$case.log" \
        || { echo "rslora $shape $case FAILED: $(tail -n 3 "$DIR/ours-$shape-$case.log")"; status=1; }
    t=$(budget)
    if [ "$t" -lt 20 ]; then echo "compare: deadline reached before the peer of $run"; status=1; break; fi
    timeout "$t" python3 "$here/peft_step.py" --shape "$shape" --batch "$BATCH" --seq "$SEQ" --steps "$STEPS" --warmup "$WARMUP" \
        "${peer[@]}" --out "$DIR/peft-$shape-$case.json" > "$DIR/peft-$shape-$case.log" 2>&1 \
        || echo "peft $shape $case did not run: $(tail -n 1 "$DIR/peft-$shape-$case.log")"
done

python3 - "$DIR" "${runs[@]}" <<'PY'
import json, sys
d, runs = sys.argv[1], sys.argv[2:]
def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception:
        return None
missed = 0
print(f"{'shape':14} {'case':8} {'ours tok/s':>11} {'peft tok/s':>11} {'speed':>6} {'ours MiB':>9} {'peft MiB':>9} {'mem':>5} {'MFU ours':>8} {'MFU peft':>8} {'est/ours':>8}  goals")
for run in runs:
    s, c = run.split(":", 1)
    o, p = load(f"{d}/ours-{s}-{c}.json"), load(f"{d}/peft-{s}-{c}.json")
    want = "lora" if c == "plain" else "lora + ckpt"
    o = next((row for row in (o or {}).get("cases", []) if row.get("case") == want), None)
    goals = []
    if o and "error" in o:
        goals.append("ours: " + o["error"])
        o = None
        missed += 1
    nan = float("nan")
    ot = o["tokens_per_second"] if o else nan
    om = o["cuda_peak_allocated_mb"] if o else nan
    of = o["mfu"] if o else nan
    est = o["estimated_peak_mb"] / om if o and om > 0 else nan
    pt = p["tokens_per_second"] if p else nan
    pm = p["peak_allocated_mb"] if p else nan
    pf = p["mfu"] if p else nan
    speed, mem = (ot / pt, om / pm) if p and o else (nan, nan)
    if o and p:
        goals.append("speed ok" if speed >= 1.5 else "speed MISSED")
        goals.append("memory ok" if mem <= 0.7 else "memory MISSED")
        missed += (speed < 1.5) + (mem > 0.7)
    elif o:
        goals.append("peer not run")
        missed += 1
    if o:
        ok = abs(est - 1) <= 0.15
        goals.append("estimate within 15%" if ok else "estimate off by more than 15%")
        missed += not ok
    if s == "llama-3.1-8b" and c == "nf4ckpt" and o:
        goals.append("≤12 GB ok" if om <= 12 * 1024 else "≤12 GB MISSED")
        missed += om > 12 * 1024
    print(f"{s:14} {c:8} {ot:11.0f} {pt:11.0f} {speed:6.2f} {om:9.0f} {pm:9.0f} {mem:5.2f} {of:8.3f} {pf:8.3f} {est:8.2f}  {', '.join(goals)}")
sys.exit(2 if missed else 0)
PY
table=$?
[ $status -ne 0 ] && exit 1
exit $table
