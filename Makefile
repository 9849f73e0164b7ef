# qnnkit — build, demo and test entry points. See README.md.
GO ?= go
BIN := bin
CMDS := convert profile exportqnn exportrot quantize run

.PHONY: all build demo test test-go interop fuzz-short vet clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))

# The main job: the whole pipeline on the bundled tiny model, then the
# deployed pair's accuracy report and a sample answer.
demo: build
	bash scripts/demo.sh

# Everything CI runs: formatting, vet, Go tests, brief fuzzing, torch interop.
test:
	bash scripts/test.sh

test-go:
	$(GO) test -count=1 ./...

vet:
	$(GO) vet ./...

interop: build
	bash scripts/interop.sh

fuzz-short:
	bash scripts/fuzz.sh 10s

clean:
	rm -rf $(BIN) out
