#!/bin/sh
# fuzz.sh — run every Go fuzz target of the module briefly (FUZZTIME, default
# 3s each). The committed corpora already run as ordinary tests in `go test`;
# this adds a short coverage-guided search on top. Crashers land in testdata/
# and fail the run.
set -eu
cd "$(dirname "$0")/.."
t=${FUZZTIME:-3s}
fail=0
for f in $(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./integration/'); do
  pkg=./$(dirname "${f#./}")
  for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    echo "fuzz: $pkg $name ($t)"
    go test -run='^$' -fuzz="^$name\$" -fuzztime="$t" "$pkg" >/tmp/fuzz.$$ 2>&1 || { cat /tmp/fuzz.$$; fail=1; }
    grep -E 'elapsed: .*execs:' /tmp/fuzz.$$ | tail -1 || true
  done
done
rm -f /tmp/fuzz.$$
exit $fail
