# Common tasks. `make test` is what CI runs (through .ci/run).
GO ?= go
BIN := bin

.PHONY: all build test demo bench generate fuzz vet clean train

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# The whole test suite: build and vet of linux/darwin/windows x amd64/arm64
# and purego, unit and golden tests, the race detector on the packages with
# concurrency, the arm64 kernels under qemu, and the generated-code drift check.
test:
	bash scripts/test.sh

# Run the bundled model.
demo: build
	$(BIN)/bitnet-run testdata/tinystories-bitnet-i2_s.gguf -p "once upon a time" -n 128

bench:
	$(GO) test -run '^$$' -bench Ternary -benchmem ./asm/

generate:
	$(GO) generate ./gen

fuzz:
	$(GO) test ./gguf -run '^$$' -fuzz FuzzRead -fuzztime 10m -parallel 1

vet:
	$(GO) vet ./...

clean:
	rm -rf $(BIN)

# Train the demo model with the reference recipe (2 threads, ~15 minutes).
train:
	$(GO) run ./cmd/bitnet-train -train ../shared/testdata/data/tinystories/train.txt \
		-valid ../shared/testdata/data/tinystories/valid.txt \
		-vocab ../shared/testdata/golden/b158-s/ggml-model-i2_s.gguf -out out/tinystories -name tinystories-s
