#!/usr/bin/env bash
# Usage: check_deb.sh BUILD_DIR SCRATCH_DIR VERSION. Fails with a message on the first problem.
set -euo pipefail
build="$1"; scratch="$2"; version="$3"
rm -rf "$scratch"; mkdir -p "$scratch/pkg" "$scratch/root"
(cd "$build" && cpack -G DEB -B "$scratch/pkg" >"$scratch/cpack.log" 2>&1) || { cat "$scratch/cpack.log"; exit 1; }
deb=$(ls "$scratch"/pkg/*.deb | head -n 1)
[ -f "$deb" ] || { echo "no .deb produced"; exit 1; }
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for want in libopenblas0-pthread libtorch libqt6widgets6 libsqlite3; do
    grep -q "$want" <<< "$depends" || { echo "Depends lacks $want"; exit 1; }
done
dpkg-deb -x "$deb" "$scratch/root"
for f in usr/bin/rslora usr/bin/rslora-workbench usr/share/applications/rslora-workbench.desktop \
         usr/share/metainfo/io.github.rslora_workbench.metainfo.xml \
         usr/share/icons/hicolor/scalable/apps/rslora-workbench.svg usr/share/icons/hicolor/48x48/apps/rslora-workbench.png; do
    [ -e "$scratch/root/$f" ] || { echo "missing in package: $f"; exit 1; }
done
out=$(env -u RSLORA_RESOURCES "$scratch/root/usr/bin/rslora" --version)
echo "$out"
[ "$out" = "rslora $version" ] || { echo "unexpected version output: $out"; exit 1; }
# The packaged CLI finds its packaged resources, not the source tree's.
res=$(env -u RSLORA_RESOURCES "$scratch/root/usr/bin/rslora" doctor --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["resources"])')
case "$res" in
    "$scratch/root/usr/share/rslora-workbench/resources") ;;
    *) echo "packaged rslora looks for resources in $res"; exit 1 ;;
esac
echo "installer_deb: ok"
