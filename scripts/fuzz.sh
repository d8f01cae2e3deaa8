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
  out=$(mktemp)
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" -fuzzminimizetime 2s "./$dir" 2>&1 | tee "$out"; then
    # Go's fuzzing engine sometimes reports its own end of time as a
    # failure ("context deadline exceeded", a worker stopped mid-input;
    # golang/go#75804, fixed in Go 1.27) with no input found. A real failure says "Failing
    # input written to": only the engine's hiccup gets one more run.
    if grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written to' "$out"; then
      echo "fuzz: $name: the fuzzing engine stopped on its deadline without a failing input; once more"
      go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" -fuzzminimizetime 2s "./$dir" || status=1
    else
      status=1
    fi
  fi
  rm -f "$out"
done < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
  while read -r f; do
    grep -oE '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r n; do echo "$(dirname "${f#./}") $n"; done
  done | sort)
exit $status
