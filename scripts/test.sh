#!/usr/bin/env bash
# The project's test command (README: `make test`; CI: .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi

echo "== go vet (amd64, arm64, purego)"
GOARCH=amd64 go vet ./...
GOARCH=arm64 go vet ./...
go vet -tags purego ./...

echo "== go test"
go test -count=1 ./...

echo "== go test -tags purego ./asm/... ./runtime/..."
go test -count=1 -tags purego ./asm/... ./runtime/...
