#!/usr/bin/env bash
# rslora bench --cases runs the named cases only, refuses an unknown one with the list, and a case
# that runs out of memory is reported as such while the next case still runs (exit 0).
set -euo pipefail
cli="$1"
# Runs a command with little memory. An address-space limit does it for a plain build; AddressSanitizer
# reserves terabytes of shadow memory up front and cannot start under one, so a sanitizer build gets
# its allocator's own limit instead (allocations over 16 MiB fail as they would when memory runs out).
low_memory() {
    local limit_kib="$1"; shift
    if ldd "$cli" | grep libasan >/dev/null; then  # not -q: an early exit would fail the pipe
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=16" "$@"
    else
        (ulimit -v "$limit_kib"; "$@")
    fi
}
small=(bench --shapes 5m --threads 1 --batch 2 --seq 16 --steps 1 --warmup 0 --json)
"$cli" "${small[@]}" --cases "lora + ckpt" | python3 -c "
import json, sys
d = json.load(sys.stdin)
assert [c['case'] for c in d['cases']] == ['lora + ckpt'], d['cases']
assert d['cases'][0]['tokens_per_second'] > 0, d['cases']"
"$cli" "${small[@]}" --cases "balancing,lora" | python3 -c "
import json, sys
d = json.load(sys.stdin)
assert [c['case'] for c in d['cases']] == ['balancing', 'lora'], d['cases']"
out=$("$cli" "${small[@]}" --cases "lora,ckpt" 2>&1) && { echo "unknown case accepted: $out"; exit 1; }
grep -q "unknown case 'ckpt' (the cases are 'lora', 'lora + ckpt', " <<< "$out" || { echo "unknown case not named: $out"; exit 1; }
# Under a 1.4 GB address-space limit (the process starts in about 0.95 GB) the plain step's 0.5 GB of
# tensors at batch 8 x 512 cannot be allocated; the report says so and goes on to the next case.
out=$(low_memory 1400000 "$cli" bench --shapes 5m --threads 1 --batch 8 --seq 512 --steps 1 --warmup 0 --json \
      --cases "lora,lora + ckpt") || { echo "bench failed instead of reporting the out-of-memory case"; exit 1; }
echo "$out" | python3 -c "
import json, sys
d = json.load(sys.stdin)
rows = {c['case']: c for c in d['cases']}
assert set(rows) == {'lora', 'lora + ckpt'}, d['cases']
assert rows['lora'].get('error') == 'out of memory' and 'allocate' in rows['lora']['message'], rows['lora']"
# A training run that does not fit: one error line with the size it asked for and what to change,
# no LibTorch backtrace, and the run recorded as failed with the same words.
here="$(cd "$(dirname "$0")" && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$(RSLORA_HOME="$tmp" low_memory 1500000 "$cli" train "$here/../../resources/demo/demo-config.json" --quiet \
      --set training.batch_size=256 --set training.max_steps=2 --db "$tmp/store.sqlite" 2>&1) \
    && { echo "a run that does not fit was not refused: $out"; exit 1; }
grep -qx "error: out of memory: could not allocate [0-9.]* [KMG]iB more (main memory)" <<< "$out" \
    || { echo "out-of-memory line missing: $out"; exit 1; }
grep -q "^hint: lower training.batch_size or data.max_seq_len" <<< "$out" || { echo "no hint: $out"; exit 1; }
if grep -qE "frame #|enforce fail" <<< "$out"; then echo "raw LibTorch error shown: $out"; exit 1; fi
grep -q "status      failed  (out of memory: could not allocate" <<< "$("$cli" runs show 1 --db "$tmp/store.sqlite")" \
    || { echo "the run's failure not recorded as out of memory"; "$cli" runs show 1 --db "$tmp/store.sqlite"; exit 1; }
echo "cli_bench: ok"
