#!/usr/bin/env bash
# rslora adapters duplicate / rename / rename-task / duplicate-task / delete: copies with files of their own, names and
# task names that exist refused with the reason, a soft delete that keeps the files.
set -euo pipefail
cli="$1"; fixtures="$2"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db="$work/store.sqlite"
peft="$fixtures/peft/lora"
"$cli" adapters add "$peft" --task medical --base-model "$fixtures/llama" --db "$db" >/dev/null
"$cli" adapters add "$peft" --task legal --base-model "$fixtures/llama" --db "$db" >/dev/null
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# duplicate: a new draft version of the task, its own folder, the same hash, linked converted-from.
copy=$("$cli" adapters duplicate medical:v1 --db "$db" --json)
[ "$(field '["version"]' <<< "$copy")" = 2 ] || { echo "duplicate is not v2: $copy"; exit 1; }
[ "$(field '["status"]' <<< "$copy")" = draft ] || { echo "duplicate is not a draft: $copy"; exit 1; }
orig=$("$cli" adapters show medical:v1 --db "$db" --json)
[ "$(field '["sha256"]' <<< "$copy")" = "$(field '["sha256"]' <<< "$orig")" ] || { echo "copy hashes differently"; exit 1; }
[ "$(field '["path"]' <<< "$copy")" != "$(field '["path"]' <<< "$orig")" ] || { echo "copy shares the folder"; exit 1; }
[ -f "$(field '["path"]' <<< "$copy")/adapter_model.safetensors" ] || { echo "copy has no files"; exit 1; }
kinds=$("$cli" adapters show medical:v2 --db "$db" --json | field '["parents"][0]["kind"]')
[ "$kinds" = converted-from ] || { echo "copy not linked to its original: $kinds"; exit 1; }
out=$("$cli" adapters duplicate medical:v1 --task surgery --db "$db")
grep -q "as surgery_lora_v1_[0-9]* (surgery v1, draft, id " <<< "$out" || { echo "duplicate into another task: $out"; exit 1; }
# A version whose files changed is refused, and nothing is recorded.
path1=$(field '["path"]' <<< "$orig")
cp "$path1/adapter_config.json" "$work/config.bak"
echo '{}' > "$path1/adapter_config.json"
out=$("$cli" adapters duplicate medical:v1 --db "$db" 2>&1) && { echo "duplicate of changed files accepted"; exit 1; }
grep -q "changed since it was recorded" <<< "$out" || { echo "changed files not named: $out"; exit 1; }
cp "$work/config.bak" "$path1/adapter_config.json"
[ "$("$cli" adapters list --task medical --db "$db" --json | field '.__len__()')" = 2 ] || { echo "a refused duplicate was recorded"; exit 1; }

# rename: a name another version has is refused; rename-task: not onto a task that exists.
name1=$(field '["name"]' <<< "$orig")
out=$("$cli" adapters rename medical:v2 "$name1" --db "$db" 2>&1) && { echo "taken name accepted"; exit 1; }
grep -q "another adapter has that name" <<< "$out" || { echo "taken name not explained: $out"; exit 1; }
out=$("$cli" adapters rename-task medical legal --db "$db" 2>&1) && { echo "existing task name accepted"; exit 1; }
grep -q 'cannot rename task "medical" to "legal": a task of that name exists (1 version' <<< "$out" || { echo "existing task not named: $out"; exit 1; }
out=$("$cli" adapters rename-task nosuch x --db "$db" 2>&1) && { echo "unknown task accepted"; exit 1; }
grep -q 'no task named "nosuch"' <<< "$out" || { echo "unknown task not named: $out"; exit 1; }
# A name with a line break, a tab or another control character is refused (one name, one line of a
# listing), for versions, tasks and the task of a copy or an added folder; nothing changes.
nl=$'two\nlines'
out=$("$cli" adapters rename medical:v2 "$nl" --db "$db" 2>&1) && { echo "line break in a name accepted"; exit 1; }
grep -q 'the adapter name "two\\nlines" holds a line break' <<< "$out" || { echo "line break not named: $out"; exit 1; }
out=$("$cli" adapters rename medical:v2 $'tab\there' --db "$db" 2>&1) && { echo "tab in a name accepted"; exit 1; }
grep -q 'the adapter name "tab\\there" holds a control character' <<< "$out" || { echo "tab not named: $out"; exit 1; }
out=$("$cli" adapters rename-task medical "$nl" --db "$db" 2>&1) && { echo "line break in a task name accepted"; exit 1; }
grep -q 'the task name "two\\nlines" holds a line break' <<< "$out" || { echo "task line break not named: $out"; exit 1; }
out=$("$cli" adapters duplicate medical:v1 --task $'esc\e[31m' --db "$db" 2>&1) && { echo "escape in a task accepted"; exit 1; }
grep -q 'the task name "esc\\x1b\[31m" holds a control character' <<< "$out" || { echo "escape not named: $out"; exit 1; }
out=$("$cli" adapters add "$peft" --task medical --name "$nl" --db "$db" 2>&1) && { echo "line break in an added name accepted"; exit 1; }
grep -q 'the adapter name "two\\nlines" holds a line break' <<< "$out" || { echo "added name not named: $out"; exit 1; }
[ "$("$cli" adapters list --db "$db" --json | field '.__len__()')" = 4 ] || { echo "a refused name changed the store"; exit 1; }
[ "$("$cli" adapters show medical:v2 --db "$db" --json | field '["name"]')" != "$nl" ] || { echo "renamed anyway"; exit 1; }
out=$("$cli" adapters rename-task medical clinic --db "$db")
grep -q "renamed task medical to clinic (2 versions)" <<< "$out" || { echo "rename-task: $out"; exit 1; }
[ "$("$cli" adapters show clinic:v2 --db "$db" --json | field '["version"]')" = 2 ] || { echo "versions did not move"; exit 1; }
# The renamed versions keep their names: the next version of the old task takes the next free default
# name instead of failing; a taken name given with --name is refused, naming the version holding it.
again=$("$cli" adapters add "$peft" --task medical --base-model "$fixtures/llama" --db "$db" --json) || { echo "new version of a renamed task failed: $again"; exit 1; }
[ "$(field '["name"]' <<< "$again")" = "${name1}_2" ] || { echo "default name after rename-task: $again"; exit 1; }
[ "$(field '["version"]' <<< "$again")" = 1 ] || { echo "new task is not at v1: $again"; exit 1; }
copy2=$("$cli" adapters duplicate medical:v1 --db "$db" --json) || { echo "duplicate into a renamed task's old name failed: $copy2"; exit 1; }
[ "$(field '["name"]' <<< "$copy2")" = "$(field '["name"]' <<< "$copy")_2" ] || { echo "default name of a copy after rename-task: $copy2"; exit 1; }
out=$("$cli" adapters add "$peft" --task medical --name "$name1" --db "$db" 2>&1) && { echo "taken --name accepted"; exit 1; }
grep -q "cannot create adapter \"$name1\": adapter $(field '["id"]' <<< "$orig") (clinic v1) has that name" <<< "$out" || { echo "taken --name not explained: $out"; exit 1; }

# duplicate-task: every live version of the task copied into a new task, numbers and files kept;
# a taken or unusable name is refused naming it; a version whose files changed leaves nothing behind.
out=$("$cli" adapters duplicate-task clinic ward --db "$db")
grep -q "duplicated task clinic as ward (2 versions)" <<< "$out" || { echo "duplicate-task: $out"; exit 1; }
wards=$("$cli" adapters list --task ward --db "$db" --json)
[ "$(field '.__len__()' <<< "$wards")" = 2 ] || { echo "duplicate-task did not copy both versions: $wards"; exit 1; }
[ "$("$cli" adapters show ward:v2 --db "$db" --json | field '["sha256"]')" = "$("$cli" adapters show clinic:v2 --db "$db" --json | field '["sha256"]')" ] || { echo "task copy hashes differently"; exit 1; }
[ "$("$cli" adapters show ward:v2 --db "$db" --json | field '["path"]')" != "$("$cli" adapters show clinic:v2 --db "$db" --json | field '["path"]')" ] || { echo "task copy shares a folder"; exit 1; }
out=$("$cli" adapters duplicate-task clinic legal --db "$db" 2>&1) && { echo "duplicate-task onto a task that exists accepted"; exit 1; }
grep -q 'cannot duplicate task "clinic" as "legal": a task of that name exists (1 version' <<< "$out" || { echo "taken task not named: $out"; exit 1; }
out=$("$cli" adapters duplicate-task clinic "$nl" --db "$db" 2>&1) && { echo "line break in a duplicated task name accepted"; exit 1; }
grep -q 'the task name "two\\nlines" holds a line break' <<< "$out" || { echo "task line break not named: $out"; exit 1; }
out=$("$cli" adapters duplicate-task nosuch x --db "$db" 2>&1) && { echo "unknown task duplicated"; exit 1; }
grep -q 'no task named "nosuch"' <<< "$out" || { echo "unknown task not named: $out"; exit 1; }
echo '{}' > "$path1/adapter_config.json"
out=$("$cli" adapters duplicate-task clinic ward2 --db "$db" 2>&1) && { echo "duplicate-task of changed files accepted"; exit 1; }
grep -q "changed since it was recorded" <<< "$out" || { echo "changed files not named: $out"; exit 1; }
cp "$work/config.bak" "$path1/adapter_config.json"
[ "$("$cli" adapters list --task ward2 --deleted --db "$db" --json | field '.__len__()')" = 0 ] || { echo "a refused duplicate-task was recorded"; exit 1; }
[ ! -e "$(dirname "$(dirname "$path1")")/ward2" ] || { echo "a refused duplicate-task left a folder"; exit 1; }
if compgen -G "$(dirname "$(dirname "$path1")")/.import-*" > /dev/null; then echo "a refused duplicate-task left a staged copy"; exit 1; fi

# delete keeps the files; restore brings the version back.
"$cli" adapters delete clinic:v1 --db "$db" >/dev/null
[ -f "$path1/adapter_model.safetensors" ] || { echo "soft delete removed the files"; exit 1; }
[ "$("$cli" adapters list --task clinic --db "$db" --json | field '.__len__()')" = 1 ] || { echo "deleted version still listed"; exit 1; }
# A second delete, and a restore of a version that is not deleted, say that nothing changed (they said "deleted" and "restored").
grep -q "^already deleted, nothing changed: .*(clinic v1, " <<< "$("$cli" adapters delete clinic:v1 --db "$db")" || { echo "a second delete reported a deletion"; exit 1; }
"$cli" adapters restore "$(field '["id"]' <<< "$orig")" --db "$db" >/dev/null
[ "$("$cli" adapters list --task clinic --db "$db" --json | field '.__len__()')" = 2 ] || { echo "restore did not bring it back"; exit 1; }
grep -q "^not deleted, nothing to restore: .*(clinic v1, " <<< "$("$cli" adapters restore clinic@v1 --db "$db")" || { echo "a second restore reported a restore"; exit 1; }

# The table lines up names that are not ASCII: columns counted in characters as a terminal shows them
# (two for CJK), not UTF-8 bytes; a cut name never ends in half a character.
"$cli" adapters add "$peft" --task "医疗任务" --base-model "$fixtures/llama" --db "$db" >/dev/null
table=$("$cli" adapters list --db "$db")
python3 - "$table" <<'PY' || { echo "the adapters table does not line up with a CJK task: $table"; exit 1; }
import sys, unicodedata
def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1 for c in s)
lines = [l for l in sys.argv[1].split("\n") if l and not l.startswith("(")]
header = lines[0]
col = header.index("METHOD")
for line in lines[1:]:
    # The METHOD column starts at the same screen column on every row.
    rank_end = None
    shown = 0
    for i, c in enumerate(line):
        if shown == col:
            rank_end = i
            break
        shown += width(c)
    assert rank_end is not None and line[rank_end - 1] == " " and line[rank_end] != " ", line
PY
echo ok
