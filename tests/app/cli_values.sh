#!/usr/bin/env bash
# The values a user can mistype for the numbers and ids of generate, logits, tokenize, eval and serve
# (0, -1, nan, inf, 1e400, text, a number past 64 bits) are each refused naming the option, before a
# model loads; and a file or folder a command writes (logits --out, runs export DIR, sweeps show --csv,
# fuse, merge, gate train and make-demo --out) must go into a folder that exists: a missing one is named
# and nothing is created for it, and what is written is named by its full path.
set -euo pipefail
cli="$1"; fixtures="$2"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RSLORA_HOME="$work/home"
demo="$(cd "$(dirname "$0")/../../resources/demo/model" && pwd)"
refused() { # refused "expected text" args...: a non-zero exit whose output holds the text
    local want="$1"; shift
    local out
    out=$("$cli" "$@" 2>&1) && { echo "accepted: $*"; exit 1; }
    grep -qF -- "$want" <<< "$out" || { echo "'$*' did not say '$want': $out"; exit 1; }
}

# generate: transformers refuses max_new_tokens 0 ("must be greater than 0"); so does rslora.
for v in 0 -1 nan inf 1e400 abc 1.5 99999999999999999999; do
    refused "--max-new-tokens: must be a whole number >= 1, found $v" generate "$demo" --prompt hi --max-new-tokens "$v"
done
for v in -1 nan inf 1e400 abc 1.5 99999999999999999999; do
    refused "--top-k: must be a whole number >= 0, found $v" generate "$demo" --prompt hi --top-k "$v"
done
# --top-k 0 is "off", --temperature 0 greedy: both generate.
"$cli" generate "$demo" --prompt hi --top-k 0 --temperature 0 --max-new-tokens 1 --json >/dev/null
for v in -1 nan -inf 1e400 abc; do
    refused "--temperature: must be a finite number >= 0, found $v" generate "$demo" --prompt hi --temperature "$v"
done
for v in 0 nan inf abc; do
    refused "--repetition-penalty: must be a finite number > 0, found $v" generate "$demo" --prompt hi --repetition-penalty "$v"
done
for v in 0 1.5 nan 1e400 abc; do
    refused "--top-p: must be a finite number in (0, 1], found $v" generate "$demo" --prompt hi --top-p "$v"
done
for v in nan abc; do
    refused "--seed: must be a whole number, 0 or more, found $v" generate "$demo" --prompt hi --seed "$v"
done
# The largest --max-new-tokens is refused by the context check (prompt + it overflowed and passed).
refused "--max-new-tokens is 9223372036854775807: more than the model's context" \
    generate "$demo" --ids 1,2,3 --max-new-tokens 9223372036854775807
# Token ids: an item of spaces alone was the id 0; text, nan and numbers past 64 bits are not ids.
for v in " " "1, ,2" nan 1e400 1.5 99999999999999999999; do
    refused "--ids: expected integers separated by ',' (rows by ';'), found" generate "$demo" --ids "$v"
done
for v in " " nan; do
    refused "--ids: expected integers separated by ',' (rows by ';'), found" logits "$demo" --ids "$v" --out "$work/l.safetensors"
done
refused "--ids is empty" generate "$demo" --ids ""
refused "generate: prompt 0 holds token id -1, outside the vocabulary [0, 512)" generate "$demo" --ids 1,-1
refused "logits: --ids row 1 holds token id 512, outside the vocabulary [0, 512)" logits "$demo" --ids "1;2,512" --out "$work/l.safetensors"
[ ! -e "$work/l.safetensors" ] || { echo "a refused logits call wrote its file"; exit 1; }
# tokenize --decode: no ids, or an empty item, was decoded as nothing (--decode "" encoded the empty text).
refused "--decode: no ids given" tokenize "$demo" --decode ""
refused "--decode: no ids given" tokenize "$demo" --decode " "
refused "--decode: no ids given" tokenize "$demo" --decode "[ ]"
refused "--decode: no ids given" tokenize "$demo" --decode "[]"
refused '--decode: an empty item in "1,,2"' tokenize "$demo" --decode "1,,2"
for v in nan 1.5 99999999999999999999; do
    refused "--decode: expected comma-separated integer ids, found \"$v\"" tokenize "$demo" --decode "$v"
done
[ "$("$cli" tokenize "$demo" --decode "[72, 105]")" = "Hi" ] || { echo "a Python list of ids not decoded"; exit 1; }
# --dtype and --device are named (the message said only "unknown dtype 'foo'"), before a model loads.
refused "--dtype: unknown dtype 'float64' (expected float32, bfloat16 or float16); or auto" generate "$demo" --prompt hi --dtype float64
refused "--device: invalid device 'gpu' (expected cpu or cuda[:N])" generate "$demo" --prompt hi --device gpu
refused "--dtype: unknown dtype 'int8'" logits "$demo" --ids 1 --dtype int8 --out "$work/l.safetensors"
refused "--dtype: unknown dtype 'foo'" serve /nonexistent --dtype foo
refused "--device: invalid device 'cuda:x'" serve /nonexistent --device cuda:x
refused "--device: invalid device 'gpu' (expected cpu or cuda[:N])" eval --model /nonexistent --data d.jsonl --device gpu
# eval: every number names the option and its range (each option with one of the values in turn).
values=(-1 nan inf 1e400 abc 1.5)
i=0
for opt in --max-new-tokens --max-seq-len --batch-size --limit --samples --k-shot; do
    v=${values[i++ % ${#values[@]}]}
    refused "$opt: Value $v not in range" eval --model /nonexistent "$opt" "$v"
done
for opt in --beta --label-smoothing --simpo-gamma --rpo-alpha; do
    v=${values[i++ % 5]}
    refused "$opt: must be a finite number in" eval --model /nonexistent "$opt" "$v"
done
# serve: the seconds options took nan (CLI::Range compares with < and >).
refused "--header-timeout: must be a finite number in [0.1, 3600], found nan" serve /nonexistent --header-timeout nan
refused "--stream-write-timeout: must be a finite number in [0, 86400], found nan" serve /nonexistent --stream-write-timeout nan
refused "--shutdown-grace: must be a finite number in [0, 3600], found nan" serve /nonexistent --shutdown-grace nan
refused "--shutdown-grace: must be a finite number in [0, 3600], found 1e400" serve /nonexistent --shutdown-grace 1e400
values=(-1 nan inf 1e400 abc 1.5 99999999999999999999)
for opt in --port --max-body-bytes --max-prompt-tokens --max-model-len --max-tokens --max-concurrent --max-batch \
           --max-header-fields --max-connections --max-connections-per-client; do
    v=${values[i++ % ${#values[@]}]}
    refused "$opt: Value $v not in range" serve /nonexistent "$opt" "$v"
done

# Outputs in a folder that does not exist: refused, naming it, with nothing created.
missing="$work/no/such"
hint="hint: create it first (mkdir -p $missing)"
refused "--out $missing/x.safetensors: the folder $missing does not exist" logits "$demo" --ids 1,2 --out "$missing/x.safetensors"
refused "$hint" logits "$demo" --ids 1,2 --out "$missing/x.safetensors"
refused "runs export DIR $missing/bundle: the folder $missing does not exist" runs export 1 "$missing/bundle" --db "$work/store.sqlite"
refused "--csv $missing/stats.csv: the folder $missing does not exist" sweeps show 1 --csv "$missing/stats.csv" --db "$work/store.sqlite"
refused "--out $missing/fused: the folder $missing does not exist" \
    fuse --adapter "$fixtures/peft/lora" --adapter "$fixtures/peft/lora2" --method exact --no-store --out "$missing/fused"
refused "--out $missing/merged: the folder $missing does not exist" \
    merge --model "$fixtures/llama" --adapter "$fixtures/peft/lora" --no-store --out "$missing/merged"
refused "--out $missing/gate: the folder $missing does not exist" \
    gate train --model "$fixtures/llama" --adapter a --adapter b --data d --no-store --out "$missing/gate"
refused "--out $missing/demo: the folder $missing does not exist" make-demo --out "$missing/demo"
[ ! -e "$work/no" ] || { echo "a refused output created $work/no"; exit 1; }
[ ! -e "$work/store.sqlite" ] || { echo "a refused output opened (created) the store"; exit 1; }
# A file where a folder must be is named as such.
touch "$work/file"
refused "--out $work/file/x.safetensors: $work/file is a file, not a folder" logits "$demo" --ids 1,2 --out "$work/file/x.safetensors"
# What is written is named by its full path, a relative --out included.
out=$(cd "$work" && "$cli" logits "$demo" --ids 1,2 --out l.safetensors 2>&1)
[ "$out" = "wrote logits [1, 2, 512] to $work/l.safetensors" ] || { echo "logits did not name the full path: $out"; exit 1; }
out=$(cd "$work" && "$cli" merge --model "$fixtures/llama" --adapter "$fixtures/peft/lora" --no-store --out ./merged)
grep -q "^out          $work/merged$" <<< "$out" || { echo "merge did not name the full path: $out"; exit 1; }
echo "ok"
