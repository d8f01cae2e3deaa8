#!/usr/bin/env bash
# fuzz.sh DURATION: run every fuzz target of the module (every func FuzzX in
# a _test.go file) for DURATION each (Go's -fuzztime: 10s, 5m, 1000x), one
# after the other. make fuzz (60s each) and make fuzz-short (10s each, in
# CI) call it. Every parser of untrusted input has a target; a new target
# is found without listing it here.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-60s}
status=0
while read -r dir name; do
  echo "fuzz: $name in ./$dir for $time"
  # -fuzzminimizetime bounds the minimization of a new interesting input,
  # which otherwise can take longer than a short run itself.
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" -fuzzminimizetime 2s "./$dir"; then
    status=1
  fi
done < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
  while read -r f; do
    grep -oE '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r n; do echo "$(dirname "${f#./}") $n"; done
  done | sort)
exit $status
