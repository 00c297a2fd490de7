#!/usr/bin/env bash
# The project's test command (README: `make test`; CI: .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi

echo "== build and vet: {linux,darwin,windows} x {amd64,arm64}, and purego"
# go vet type-checks the test files too, so the test binaries of every
# platform are covered. Every platform is tried; the failures are listed.
failed=()
for goos in linux darwin windows; do
  for goarch in amd64 arm64; do
    echo "-- $goos/$goarch"
    GOOS=$goos GOARCH=$goarch go build ./... || failed+=("build $goos/$goarch")
    GOOS=$goos GOARCH=$goarch go vet ./... || failed+=("vet $goos/$goarch")
  done
done
go vet -tags purego ./... || failed+=("vet purego")
if [ ${#failed[@]} -gt 0 ]; then echo "failed: ${failed[*]}"; exit 1; fi

echo "== generated code is reproducible (go generate ./gen)"
go generate ./gen
if ! git diff --exit-code --stat -- asm gen || [ -n "$(git status --porcelain -- asm gen)" ]; then
  echo "go generate ./gen changed the files above: regenerate and commit them"; exit 1
fi

# The chat page's browser test (serve/httpapi) drives Debian's chromium:
# install it like qemu below (the test fails under CI without it).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

echo "== go test"
go test -count=1 ./...

echo "== race detector on the packages with concurrency (-short)"
# Whole packages where concurrency is the point (the pool, the scheduler,
# the server); in runtime and bitnet-run only the tests that exercise
# threads, signals and chat turns: their numerics tests take minutes under
# -race and are covered above.
go test -race -short -count=1 ./internal/par ./internal/atomicfile ./serve/... ./cmd/bitnet-serve ./cmd/bitnet-load
go test -race -short -count=1 -run 'TestThreadsBitIdentical|TestBatchSplit|TestContextFull' ./runtime
go test -race -short -count=1 -run 'Signal|Logits|Chat|Exit' ./cmd/bitnet-run

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
