#!/usr/bin/env bash
# Fuzzing campaigns: runs each libFuzzer target of a clang fuzzing build folder under ASan + UBSan,
# then merges what it found into a minimal corpus committed beside this script (coverage-preserving
# `-merge=1`). Findings (crash-*, leak-*, timeout-*, oom-*) are left in OUT and fail the script.
#   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DRSLORA_FUZZ=ON -DRSLORA_TEST_AREAS=fuzz
#   ninja -C build-fuzz $(sed -n 's/^rslora_fuzz_target(NAME \([a-z_]*\).*/fuzz_\1/p' tests/fuzz/CMakeLists.txt)
#   tests/fuzz/campaign.sh build-fuzz [RUNS=10000000] [SECONDS=3600] [target ...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$(cd "${1:?usage: campaign.sh BUILD_DIR [RUNS] [SECONDS] [target ...]}" && pwd)"
runs="${2:-10000000}"
seconds="${3:-3600}"
shift $(( $# < 3 ? $# : 3 ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(sed -n 's/^rslora_fuzz_target(NAME \([a-z_]*\).*/\1/p' "$here/CMakeLists.txt")
out="${OUT:-$build/fuzz-campaign}"
mkdir -p "$out"
status=0
for t in "${targets[@]}"; do
    bin="$build/tests/fuzz/fuzz_$t"
    [ -x "$bin" ] || { echo "campaign: $bin is not built" >&2; exit 2; }
    work="$out/$t-work"
    mkdir -p "$work"
    log="$out/$t.log"
    # -timeout: one input may take at most 10 s (a hang is a finding); -rss_limit_mb: 2 GiB.
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$bin" -runs="$runs" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$out/$t-" "$work" "$here/corpus/$t" >"$log" 2>&1 || true
    done_line="$(grep -E '^Done [0-9]+ runs' "$log" | tail -1 || true)"
    execs="$(grep -E 'stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)"
    findings="$(ls "$out" | grep -E "^$t-(crash|leak|timeout|oom|slow-unit)-" || true)"
    if [ -n "$findings" ]; then
        echo "$t: FINDINGS after ${execs:-?} executions: $findings (log: $log)"
        status=1
        continue
    fi
    # Keep the committed corpus minimal: the seeds plus whatever adds coverage.
    min="$out/$t-min"
    rm -rf "$min" && mkdir -p "$min"
    "$bin" -merge=1 -timeout=10 -rss_limit_mb=2048 "$min" "$here/corpus/$t" "$work" >>"$log" 2>&1
    rm -rf "${here:?}/corpus/$t" && mkdir -p "$here/corpus/$t" && cp "$min"/* "$here/corpus/$t/"
    echo "$t: ${execs:-?} executions, no findings; ${done_line:-}; corpus $(ls "$here/corpus/$t" | wc -l) files"
done
exit $status
