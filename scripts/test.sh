#!/usr/bin/env bash
# The project's test command (README: `make test`; CI: .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi

echo "== go vet (amd64, arm64, purego)"
GOARCH=amd64 go vet ./...
GOARCH=arm64 go vet ./...
go vet -tags purego ./...

echo "== generated code is reproducible (go generate ./gen)"
go generate ./gen
if ! git diff --exit-code --stat -- asm gen || [ -n "$(git status --porcelain -- asm gen)" ]; then
  echo "go generate ./gen changed the files above: regenerate and commit them"; exit 1
fi

# ---- bitnet-serve block (owner: wt-serve) ----
# The chat page's browser test (serve/httpapi) drives Debian's chromium; it
# fails under CI without it, so install it like qemu below. Then a
# race-detector run of the server and its scheduler.
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
echo "== race detector: serve/... and cmd/bitnet-serve"
go test -race -count=1 ./serve/... ./cmd/bitnet-serve/
# ---- end of the bitnet-serve block ----

echo "== go test"
go test -count=1 ./...

echo "== lower kernel paths and purego"

GODEBUG=cpu.avx512f=off BITNET_ASM_REQUIRE=avx2 go test -count=1 ./asm/
go test -count=1 -tags purego ./asm/... ./runtime/...

echo "== arm64 kernels under qemu"
if ! command -v qemu-aarch64-static >/dev/null; then
  apt-get update -qq && apt-get install -y -qq qemu-user-static >/dev/null
fi
BITNET_ASM_REQUIRE=neondot GOARCH=arm64 go test -count=1 -exec qemu-aarch64-static ./asm/...
QEMU_CPU=cortex-a57 BITNET_ASM_REQUIRE=neon GOARCH=arm64 go test -count=1 -exec qemu-aarch64-static ./asm/
GOARCH=arm64 go test -count=1 -tags purego -exec qemu-aarch64-static ./asm/
