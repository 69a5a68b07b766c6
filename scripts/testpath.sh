#!/bin/sh
# testpath.sh — build .testpath/, a directory of links to exactly the
# programs the listed packages (scripts/deps.list), Debian's Essential set
# and the Go toolchain provide, and print its path. `make test` runs the
# tests with PATH set to it, so a test that starts a program no listed
# package provides fails on the developer's machine too, where that program
# may happen to be installed by hand, not only on a clean one.
set -eu
cd "$(dirname "$0")/.."
dir=$(pwd)/.testpath
rm -rf "$dir"
mkdir -p "$dir"

gobin=$(dirname "$(command -v go || echo /usr/local/go/bin/go)")
for f in "$gobin"/*; do ln -sf "$f" "$dir/"; done

essential=$(dpkg-query -W -f='${Package} ${Essential}\n' | awk '$2 == "yes" { print $1 }')
for pkg in $(scripts/deps.sh --packages) $essential; do
  dpkg -L "$pkg" 2>/dev/null | grep -E '^(/usr)?/s?bin/[^/]+$' | while read -r f; do
    [ -x "$f" ] && [ ! -d "$f" ] && ln -sf "$f" "$dir/$(basename "$f")"
  done
done
# Absolute-path entries whose directory is not a bin directory (PostgreSQL
# keeps its programs in /usr/lib/postgresql/15/bin) are reached by path.
echo "$dir"
