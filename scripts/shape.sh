#!/usr/bin/env bash
# shape.sh: the shape of the code, for design notes (issue 11): lines per
# package, the largest functions with their cyclomatic complexity,
# exported identifiers per package, and what package format depends on
# beyond the standard library. Run from anywhere in the repository.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
GO=${GO:-go}
# Every package directory, test-only and platform-specific files included
# as the parser sees them (internal/shape skips _test.go).
mapfile -t dirs < <($GO list -f '{{.Dir}}' ./...)
$GO run ./internal/shape -top "${TOP:-10}" "${dirs[@]}"
echo
echo "## non-standard imports of package format (go list -deps ./format)"
$GO list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./format | grep -v '^github.com/airgap-bundle/bundle/format$' || echo "(none)"
