#!/usr/bin/env bash
# `rslora tokenize` as a user runs it: ids with and without special tokens, JSON output, decoding,
# a tokenizer.json path instead of a folder, and clear errors.
set -euo pipefail
cli="$1"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cat > "$dir/tokenizer.json" <<'JSON'
{"version": "1.0",
 "added_tokens": [{"id": 3, "content": "<s>", "special": true, "normalized": false}],
 "normalizer": null,
 "pre_tokenizer": {"type": "Whitespace"},
 "post_processor": {"type": "TemplateProcessing",
   "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
   "special_tokens": {"<s>": {"id": "<s>", "ids": [3], "tokens": ["<s>"]}}},
 "decoder": null,
 "model": {"type": "BPE", "vocab": {"h": 0, "i": 1, "hi": 2, "<s>": 3}, "merges": ["h i"]}}
JSON
echo '{"bos_token": "<s>", "chat_template": "{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}"}' > "$dir/tokenizer_config.json"

out=$("$cli" tokenize "$dir" --text "hi hi" --json)
grep -q '"ids": \[' <<< "$out" || { echo "no ids in JSON output: $out"; exit 1; }
ids=$(echo "$out" | tr -d ' \n' | sed -n 's/.*"ids":\[\([0-9,]*\)\].*/\1/p')
[ "$ids" = "3,2,2" ] || { echo "expected ids 3,2,2, got $ids"; exit 1; }
grep -q '"chat_template": "chatml"' <<< "$out" || { echo "chat template kind missing"; exit 1; }

ids=$("$cli" tokenize "$dir" --text "hi hi" --no-special --json | tr -d ' \n' | sed -n 's/.*"ids":\[\([0-9,]*\)\].*/\1/p')
[ "$ids" = "2,2" ] || { echo "--no-special: expected 2,2, got $ids"; exit 1; }

human=$("$cli" tokenize "$dir/tokenizer.json" --text "hi")
grep -q '^ids        \[3, 2\]$' <<< "$human" || { echo "human output wrong: $human"; exit 1; }
grep -q '(special)' <<< "$human" || { echo "special token not marked: $human"; exit 1; }

[ "$("$cli" tokenize "$dir" --decode 3,2,2 --skip-special)" = "hi hi" ] || { echo "decode wrong"; exit 1; }

# --chat renders the text with the chat template first and encodes it as apply_chat_template does:
# a template that writes no BOS gets none, whatever the post-processor adds to plain text.
chat=$("$cli" tokenize "$dir" --text "hi" --chat --json | tr -d ' \n')
grep -q '"text":"<|im_start|>hi"' <<< "$chat" || { echo "--chat did not render the template: $chat"; exit 1; }
ids=$(sed -n 's/.*"ids":\[\([0-9,]*\)\].*/\1/p' <<< "$chat")
[ "$ids" = "1,2" ] || { echo "--chat with a template that writes no BOS: expected 1,2 (i of im_start, hi), got $ids ($chat)"; exit 1; }

# A template that writes BOS itself gets no second one (transformers' apply_chat_template encodes the
# rendered text without adding special tokens).
mkdir "$dir/bos"
cp "$dir/tokenizer.json" "$dir/bos/"
echo '{"bos_token": "<s>", "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}"}' > "$dir/bos/tokenizer_config.json"
ids=$("$cli" tokenize "$dir/bos" --text "hi" --chat --json | tr -d ' \n' | sed -n 's/.*"ids":\[\([0-9,]*\)\].*/\1/p')
[ "$ids" = "3,2" ] || { echo "--chat with a template that writes BOS: expected 3,2, got $ids"; exit 1; }

if "$cli" tokenize "$dir/missing" --text x >/dev/null 2>"$dir/err"; then echo "missing folder accepted"; exit 1; fi
grep -q 'does not exist' "$dir/err" || { echo "unclear error: $(cat "$dir/err")"; exit 1; }
if "$cli" tokenize "$dir" >/dev/null 2>&1; then echo "tokenize without text accepted"; exit 1; fi
if "$cli" tokenize "$dir" --decode 1,x >/dev/null 2>"$dir/err"; then echo "bad ids accepted"; exit 1; fi
grep -q 'expected comma-separated integer ids' "$dir/err" || { echo "unclear --decode error"; exit 1; }
echo "cli_tokenize: ok"
