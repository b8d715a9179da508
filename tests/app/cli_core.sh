#!/usr/bin/env bash
# rslora --version / version / doctor behave as documented.
set -euo pipefail
cli="$1"; version="$2"
[ "$("$cli" --version)" = "rslora $version" ] || { echo "--version mismatch"; exit 1; }
grep -q "^rslora $version (" <<< "$("$cli" version)" || { echo "version subcommand output wrong"; exit 1; }
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
grep -q '"omp_wait_policy": "PASSIVE"' <<< "$(env -u OMP_WAIT_POLICY "$cli" doctor --json)" || { echo "OMP_WAIT_POLICY not defaulted"; exit 1; }
# The self-test passes on the CPU (every check "ok", JSON ok), and names a device it cannot use.
out=$("$cli" selftest) || { echo "selftest failed on the CPU: $out"; exit 1; }
[ "$(echo "$out" | grep -c '^ok ')" -ge 5 ] || { echo "selftest ran fewer than 5 checks: $out"; exit 1; }
grep -q "^ok    gradient checkpointing on cpu = without (float32): 0.00e+00" <<< "$out" || { echo "no checkpointing check: $out"; exit 1; }
grep -q "^ok    LoRA training on cpu (float32, nf4 base, gradient checkpointing): loss" <<< "$out" || { echo "no QLoRA check: $out"; exit 1; }
"$cli" selftest --json | python3 -c "import json,sys; d=json.load(sys.stdin); assert d['ok'] and len(d['checks']) >= 5, d"
if out=$("$cli" selftest --device tpu 2>&1); then echo "selftest accepted an unknown device"; exit 1; fi
grep -q "FAIL  device tpu" <<< "$out" || { echo "selftest did not name the bad device: $out"; exit 1; }
# An unknown subcommand is an error with a non-zero exit.
if "$cli" no-such-command >/dev/null 2>&1; then echo "unknown command accepted"; exit 1; fi
# A misspelt option or command is named with the closest known one.
out=$("$cli" serve --portt 8000 2>&1) && { echo "unknown option accepted"; exit 1; }
grep -q "rslora serve: unknown option --portt (did you mean --port?)" <<< "$out" || { echo "no suggestion for --portt: $out"; exit 1; }
out=$("$cli" launch --nproc 2 -- 2>&1) && { echo "launch without a command accepted"; exit 1; }
grep -q "rslora launch: nothing follows '--'" <<< "$out" || { echo "a bare -- read as an option: $out"; exit 1; }
out=$("$cli" sweep --seed /dev/null 2>&1) && { echo "unknown option accepted"; exit 1; }
grep -q "rslora sweep: unknown option --seed (did you mean --seeds?)" <<< "$out" || { echo "no suggestion for --seed: $out"; exit 1; }
out=$("$cli" serv 2>&1) && { echo "unknown command accepted"; exit 1; }
grep -q "rslora: unknown command 'serv' (did you mean 'serve'?)" <<< "$out" || { echo "no suggestion for serv: $out"; exit 1; }
# The value after a misspelt option is not reported as a second, stray argument.
demo_dir="$(cd "$(dirname "$0")/../../resources/demo/model" && pwd)"
out=$("$cli" tokenize "$demo_dir" --txt Hello 2>&1) && { echo "unknown option accepted"; exit 1; }
[ "$out" = $'error: rslora tokenize: unknown option --txt (did you mean --text?)\nRun with --help for more information.' ] \
    || { echo "a misspelt option's value reported as a stray argument: $out"; exit 1; }
# A missing argument names the command it is missing from, on stderr, with a non-zero exit.
out=$("$cli" generate --prompt Hi 2>&1 >/dev/null) && { echo "generate without a model accepted"; exit 1; }
grep -qx "error: rslora generate: DIR is required" <<< "$out" || { echo "missing argument not named with its command: $out"; exit 1; }
out=$("$cli" runs 2>&1 >/dev/null) && { echo "runs without a subcommand accepted"; exit 1; }
grep -qx "error: rslora runs: A subcommand is required" <<< "$out" || { echo "missing subcommand not named: $out"; exit 1; }
# eval --help shows the defaults of its numbers.
help=$("$cli" eval --help)
for want in "--max-new-tokens INT:INT in \[1 - 1048576\]=32" "--max-seq-len INT:INT in \[2 - 1048576\]=512" "--batch-size INT:INT in \[1 - 65536\]=8"; do
    grep -q -- "$want" <<< "$help" || { echo "eval --help does not show the default: $want"; exit 1; }
done
# make-demo --help shows the defaults the demo README gives.
help=$("$cli" make-demo --help)
for want in "--seed UINT:UINT=20250315" "--steps INT=800" "--passes INT=16" "--threads INT=2" "--chat-echo BOOLEAN=true"; do
    grep -qF -- "$want" <<< "$help" || { echo "make-demo --help does not show the default: $want"; exit 1; }
done
# An empty store's sweeps list says so (it printed nothing).
empty_home=$(mktemp -d)
out=$("$cli" sweeps list --db "$empty_home/store.sqlite")
grep -q "^no sweep groups in $empty_home/store.sqlite" <<< "$out" || { echo "empty sweeps list printed: $out"; exit 1; }
[ "$("$cli" sweeps list --db "$empty_home/store.sqlite" --json)" = "[]" ] || { echo "empty sweeps list --json is not []"; exit 1; }
rm -rf "$empty_home"
# tokenize --decode names the ids the vocabulary lacks (they decoded to nothing without a word).
out=$("$cli" tokenize "$demo_dir" --decode 72,600,-1,105 2>&1 >/dev/null)
[ "$out" = "warning: 2 ids (600, -1) are not in the vocabulary (512 tokens) and decoded as nothing" ] || { echo "unknown ids not named: $out"; exit 1; }
[ "$("$cli" tokenize "$demo_dir" --decode 72,600,-1,105 2>/dev/null)" = "Hi" ] || { echo "known ids not decoded"; exit 1; }
[ -z "$("$cli" tokenize "$demo_dir" --decode 72,105 2>&1 >/dev/null)" ] || { echo "a warning for ids in the vocabulary"; exit 1; }
# launch refuses what cannot form a job before starting a worker.
out=$("$cli" launch --nproc 1 --nnodes 2 --node-rank 2 -- train x.json 2>&1) && { echo "node rank beyond nnodes accepted"; exit 1; }
grep -q "node-rank 2 is not below --nnodes 2" <<< "$out" || { echo "node rank not named: $out"; exit 1; }
out=$("$cli" launch --nproc 2 --master-addr " " -- train x.json 2>&1) && { echo "empty master address accepted"; exit 1; }
grep -q "master-addr is empty" <<< "$out" || { echo "empty master address not named: $out"; exit 1; }
grep -q "rank 0 started" <<< "$out" && { echo "a worker started for a refused launch: $out"; exit 1; }
# Out-of-range numbers are refused with the option and its range, before any work starts.
refused() { # refused "expected text" args...
    local want="$1"; shift
    local out
    out=$("$cli" "$@" 2>&1) && { echo "accepted: $*"; exit 1; }
    grep -qF -- "$want" <<< "$out" || { echo "'$*' did not say '$want': $out"; exit 1; }
}
refused "--batch: Value -1 not in range 1 to 65536" bench --shapes 5m --batch -1
refused "--steps: Value 0 not in range 1 to 100000" bench --shapes 5m --steps 0
refused "--threads: Value -3 not in range 0 to 1024" bench --shapes 5m --threads -3
refused "--steps: Value -1 not in range 1 to 1000000" demo --steps -1
refused "--max-body-bytes: Value -5 not in range 1 to 1073741824" serve /nonexistent --max-body-bytes -5
refused "--shutdown-grace: must be a finite number in [0, 3600], found -1" serve /nonexistent --shutdown-grace -1
refused "--batch-size: Value 0 not in range 1 to 65536" eval --model /nonexistent --batch-size 0
refused "--max-seq-len: Value 0 not in range 2 to 1048576" eval --model /nonexistent --max-seq-len 0
refused "--beta: must be a finite number in (0, 1000], found nan" eval --model /nonexistent --beta nan
refused "--label-smoothing: must be a finite number in [0, 0.5), found 0.5" eval --model /nonexistent --label-smoothing 0.5
refused "--label-smoothing applies to the sigmoid and simpo losses, not to --loss-type ipo" eval --model /nonexistent --loss-type ipo --label-smoothing 0.1
# SimPO's margin as a training config takes it (>= 0), and RPO's alpha as eval takes it (at most 1000).
refused "--simpo-gamma: must be a finite number in [0, 1000], found -5" eval --model /nonexistent --loss-type simpo --simpo-gamma -5
refused "dpo.rpo_alpha must be in [0, 1000], found 1e+39 (--set dpo.rpo_alpha)" \
    train "$(cd "$(dirname "$0")/../../resources/demo" && pwd)/demo-dpo-config.json" --no-store --set dpo.reference=base --set dpo.rpo_alpha=1e39
refused "--density: must be a finite number in (0, 1], found 1.5" fuse --adapter a --adapter b --method ties --out /tmp/never --density 1.5
refused "--drop: must be a finite number in [0, 1), found 1" fuse --adapter a --adapter b --method dare_ties --out /tmp/never --drop 1
refused "--lr: must be a finite number in (0, 10], found inf" gate train --model m --adapter a --adapter b --data d --out /tmp/never --lr inf
# A name the store would refuse when recording the gate is refused before its training.
refused 'the adapter name "12" is a number' gate train --model m --adapter a --adapter b --data d --out /tmp/never --name 12
refused "--min: must be a finite number in [-1e+300, 1e+300], found nan" adapters list --metric loss --min nan
demo_model="$(cd "$(dirname "$0")/../../resources/demo/model" && pwd)"
refused "--temperature: must be a finite number >= 0, found nan" generate "$demo_model" --prompt hi --temperature nan
refused "--repetition-penalty: must be a finite number > 0, found inf" generate "$demo_model" --prompt hi --repetition-penalty inf
refused "--top-p: must be a finite number in (0, 1], found 2" generate "$demo_model" --prompt hi --top-p 2
# The prompt is not echoed ahead of the refusal.
out=$("$cli" generate "$demo_model" --prompt hello --top-k -3 2>&1) && { echo "negative top_k accepted"; exit 1; }
[ "$out" = $'error: rslora generate: --top-k: must be a whole number >= 0, found -3\nRun with --help for more information.' ] || { echo "unexpected output for a negative top_k: $out"; exit 1; }
# A train config's problems name where the value came from: the --set that gave it (an unknown key or a
# value of the wrong type was put on the file), a YAML scalar that is not UTF-8 by its line (it ended
# in the JSON library's "incomplete UTF-8 string"), an alpha beyond float32 by its key (it ended in
# LibTorch's conversion error).
demo_config="$(cd "$(dirname "$0")/../../resources/demo" && pwd)/demo-config.json"
refused "unknown key 'rr' (did you mean 'r'?) in section 'adapter' (--set adapter.rr)" train "$demo_config" --no-store --set adapter.rr=4
refused "config key 'adapter.r': expected an integer, found \"abc\" (--set adapter.r)" train "$demo_config" --no-store --set adapter.r=abc
refused "adapter.lora_alpha 1e+39 must fit float32 (at most 3.40282e+38), since the adapter's scale is applied in float32 (--set adapter.lora_alpha)" \
    train "$demo_config" --no-store --set adapter.lora_alpha=1e39
latin1_dir=$(mktemp -d)
printf 'model:\n  path: %s\noutput:\n  dir: /tmp/caf\xe9\n' "$demo_model" > "$latin1_dir/latin1.yaml"
refused "latin1.yaml:4:8: the value \"/tmp/caf"$'\xef\xbf\xbd'"\" is not valid UTF-8 (byte 0xe9 at character 9); save the file as UTF-8" \
    train "$latin1_dir/latin1.yaml" --no-store
rm -rf "$latin1_dir"
# A key given to two --set is refused naming both (the later one won silently), in train, a
# pipeline's train, sweep and launch (before a worker starts).
pipeline="$(cd "$(dirname "$0")/../../resources/pipelines" && pwd)/demo-sft-pipeline.yaml"
refused "adapter.r is set twice (--set adapter.r=8 and --set adapter.r=16)" train "$demo_config" --no-store --set adapter.r=8 --set adapter.r=16
refused "training.max_steps is set twice (--set training.max_steps=1 and --set training.max_steps=2)" \
    train "$pipeline" --no-store --set training.max_steps=1 --set training.max_steps=2
refused "adapter.r is set twice (--set adapter.r=4 and --set adapter.r=8)" \
    sweep "$demo_config" --vary adapter.lora_alpha=8,16 --dry-run --set adapter.r=4 --set adapter.r=8
out=$("$cli" launch --nproc 2 -- train "$demo_config" --set training.seed=1 --set=training.seed=2 2>&1) && { echo "a key set twice was launched"; exit 1; }
grep -qF "training.seed is set twice (--set training.seed=1 and --set training.seed=2)" <<< "$out" || { echo "launch did not name both --set: $out"; exit 1; }
grep -q "rank 0 started" <<< "$out" && { echo "a worker started for a key set twice: $out"; exit 1; }
# Two keys, each once, are taken.
out=$("$cli" sweep "$demo_config" --vary adapter.lora_alpha=8,16 --dry-run --set adapter.r=4 --set training.seed=3 --json)
python3 - "$out" <<'PY'
import json, sys
runs = json.loads(sys.argv[1])
assert [r["config"]["adapter"]["r"] for r in runs] == [4, 4], runs
assert [r["config"]["training"]["seed"] for r in runs] == [3, 3], runs
PY
# An empty or blank chosen/rejected is refused with its file and line where the record is read, by
# DPO training and by rslora eval --preference (which scored such a pair).
prefs_dir=$(mktemp -d)
printf '%s\n' '{"prompt": "Hi?", "chosen": "Hello.", "rejected": "Go."}' '{"prompt": "Hi?", "chosen": "", "rejected": "Go."}' > "$prefs_dir/empty.jsonl"
printf '%s\n' '{"prompt": "Hi?", "chosen": "Hello.", "rejected": "Go."}' '{"prompt": "Hi?", "chosen": "Hello.", "rejected": " \t"}' > "$prefs_dir/blank.jsonl"
dpo_config="$(dirname "$demo_config")/demo-dpo-config.json"
refused "empty.jsonl line 2: \"chosen\" is empty: the pair would teach the model to end its turn at once" \
    train "$dpo_config" --no-store --set dpo.reference=base --set "data.train=$prefs_dir/empty.jsonl" --set "output.dir=$prefs_dir/out"
refused "blank.jsonl line 2: \"rejected\" holds only whitespace" \
    eval --model "$demo_model" --preference "$prefs_dir/blank.jsonl"
refused "empty.jsonl line 2: \"chosen\" is empty" eval --model "$demo_model" --preference "$prefs_dir/empty.jsonl"
rm -rf "$prefs_dir"
# runs import names a missing folder or a file for what it is (both were "not a run bundle: it has no run.json").
import_dir=$(mktemp -d)
touch "$import_dir/run.json.txt"
refused "the run bundle folder $import_dir/none does not exist" runs import "$import_dir/none" --db "$import_dir/store.sqlite"
refused "$import_dir/run.json.txt is a file, not a run bundle folder" runs import "$import_dir/run.json.txt" --db "$import_dir/store.sqlite"
refused "$import_dir is not a run bundle: it has no run.json" runs import "$import_dir" --db "$import_dir/store.sqlite"
rm -rf "$import_dir"
# A run over a 4-bit base says so on its precision line (it read "float32 base" alone).
quant_dir=$(mktemp -d)
out=$("$cli" train "$demo_config" --no-store --set model.quantization=nf4 --set training.max_steps=2 \
    --set "output.dir=$quant_dir/out" 2>&1) || { echo "nf4 training failed: $out"; exit 1; }
grep -q "^precision    float32 base (decoder projections in nf4), float32 adapters$" <<< "$out" \
    || { echo "no 4-bit precision line: $out"; exit 1; }
rm -rf "$quant_dir"
echo "cli_core: ok"
