#!/usr/bin/env bash
# rslora --version / version / doctor behave as documented.
set -euo pipefail
cli="$1"; version="$2"
[ "$("$cli" --version)" = "rslora $version" ] || { echo "--version mismatch"; exit 1; }
"$cli" version | grep -q "^rslora $version (" || { echo "version subcommand output wrong"; exit 1; }
json=$("$cli" doctor --json)
python3 - "$json" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
assert d["blas"]["name"], d
assert d["threads"]["intra_op"] >= 1, d
assert d["threads"]["omp_wait_policy"] == "PASSIVE", d["threads"]
assert isinstance(d["cuda"]["available"], bool)
PY
# Without the policy in the environment, the CLI sets it itself.
env -u OMP_WAIT_POLICY "$cli" doctor --json | grep -q '"omp_wait_policy": "PASSIVE"' || { echo "OMP_WAIT_POLICY not defaulted"; exit 1; }
# The self-test passes on the CPU (every check "ok", JSON ok), and names a device it cannot use.
out=$("$cli" selftest) || { echo "selftest failed on the CPU: $out"; exit 1; }
[ "$(echo "$out" | grep -c '^ok ')" -ge 5 ] || { echo "selftest ran fewer than 5 checks: $out"; exit 1; }
echo "$out" | grep -q "^ok    gradient checkpointing on cpu = without (float32): 0.00e+00" || { echo "no checkpointing check: $out"; exit 1; }
echo "$out" | grep -q "^ok    LoRA training on cpu (float32, nf4 base, gradient checkpointing): loss" || { echo "no QLoRA check: $out"; exit 1; }
"$cli" selftest --json | python3 -c "import json,sys; d=json.load(sys.stdin); assert d['ok'] and len(d['checks']) >= 5, d"
if out=$("$cli" selftest --device tpu 2>&1); then echo "selftest accepted an unknown device"; exit 1; fi
echo "$out" | grep -q "FAIL  device tpu" || { echo "selftest did not name the bad device: $out"; exit 1; }
# An unknown subcommand is an error with a non-zero exit.
if "$cli" no-such-command >/dev/null 2>&1; then echo "unknown command accepted"; exit 1; fi
# A misspelt option or command is named with the closest known one.
out=$("$cli" serve --portt 8000 2>&1) && { echo "unknown option accepted"; exit 1; }
echo "$out" | grep -q "rslora serve: unknown option --portt (did you mean --port?)" || { echo "no suggestion for --portt: $out"; exit 1; }
out=$("$cli" sweep --seed /dev/null 2>&1) && { echo "unknown option accepted"; exit 1; }
echo "$out" | grep -q "rslora sweep: unknown option --seed (did you mean --seeds?)" || { echo "no suggestion for --seed: $out"; exit 1; }
out=$("$cli" serv 2>&1) && { echo "unknown command accepted"; exit 1; }
echo "$out" | grep -q "rslora: unknown command 'serv' (did you mean 'serve'?)" || { echo "no suggestion for serv: $out"; exit 1; }
# launch refuses what cannot form a job before starting a worker.
out=$("$cli" launch --nproc 1 --nnodes 2 --node-rank 2 -- train x.json 2>&1) && { echo "node rank beyond nnodes accepted"; exit 1; }
echo "$out" | grep -q "node-rank 2 is not below --nnodes 2" || { echo "node rank not named: $out"; exit 1; }
out=$("$cli" launch --nproc 2 --master-addr " " -- train x.json 2>&1) && { echo "empty master address accepted"; exit 1; }
echo "$out" | grep -q "master-addr is empty" || { echo "empty master address not named: $out"; exit 1; }
echo "$out" | grep -q "rank 0 started" && { echo "a worker started for a refused launch: $out"; exit 1; }
echo "cli_core: ok"
