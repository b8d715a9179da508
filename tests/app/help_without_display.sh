#!/usr/bin/env bash
# rslora-workbench --help and --version print and exit 0 without any display (no DISPLAY,
# WAYLAND_DISPLAY or QT_QPA_PLATFORM): a terminal or a packaging script may have none.
# Usage: help_without_display.sh <rslora-workbench> <version>
set -u
exe="$1"
version="$2"
unset DISPLAY WAYLAND_DISPLAY QT_QPA_PLATFORM
fail() { echo "FAIL: $*" >&2; exit 1; }

help=$("$exe" --help 2>&1) || fail "--help exited $? without a display: $help"
grep -q -- "--screenshots" <<<"$help" || fail "--help does not list the options: $help"
ver=$("$exe" --version 2>&1) || fail "--version exited $? without a display: $ver"
grep -qF -- "$version" <<<"$ver" || fail "--version printed '$ver', expected $version"
echo "ok"
