#!/usr/bin/env bash
# Packs what a GPU machine without Debian's development packages needs to build the headless CUDA
# preset: the headers, shared libraries (with their versioned names), CMake and pkg-config files of
# the Debian packages the build uses besides LibTorch, plus the fixtures the GPU checks compare with.
# Run on a Debian 12 build machine from the checkout; the folder (`.devdeps`, git-ignored, ~20 MiB)
# travels with the working tree to the device (carry it) and bench/gpu_check.sh finds it there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-$here/.devdeps}"
arch=x86_64-linux-gnu
packages=(nlohmann-json3-dev libcli11-dev libyaml-cpp-dev libonig-dev libutf8proc-dev libsqlite3-dev libcpp-httplib-dev libgloo-dev
          libyaml-cpp0.7 libonig5 libutf8proc2 libsqlite3-0 libcpp-httplib0.11)
rm -rf "$out"
mkdir -p "$out/include" "$out/lib" "$out/share"
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || { echo "make_devdeps: $p is not installed" >&2; exit 1; }
    while read -r f; do
        [ -f "$f" ] || [ -L "$f" ] || continue
        case "$f" in
            /usr/include/*) dest="$out/include/${f#/usr/include/}" ;;
            /usr/lib/$arch/*) dest="$out/lib/${f#/usr/lib/$arch/}" ;;
            /usr/share/cmake/*|/usr/share/pkgconfig/*) dest="$out/share/${f#/usr/share/}" ;;
            *) continue ;;
        esac
        mkdir -p "$(dirname "$dest")"
        cp -P "$f" "$dest"
    done < <(dpkg -L "$p")
done
# pkg-config files name /usr as their prefix: point them at the folder they now live in.
find "$out" -name '*.pc' -exec sed -i "s|^prefix=.*|prefix=\${pcfiledir}/../..|; s|/usr/lib/$arch|\${prefix}/lib|g; s|/usr/include|\${prefix}/include|g" {} +
# The fixtures the GPU checks compare with (tiny Llama, a PEFT LoRA adapter, the reference outputs).
fixtures="$here/../shared/fixtures"
if [ -d "$fixtures" ]; then
    mkdir -p "$out/fixtures"
    for d in llama peft reference; do
        [ -e "$fixtures/$d" ] && cp -r "$fixtures/$d" "$out/fixtures/"
    done
fi
du -sh "$out"
