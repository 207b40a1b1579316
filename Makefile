# neuronscope build, demo and test entry points. `make demo` and `make test` are the README's
# Quick start; .ci/run calls `make test`.

GO        ?= go
BIN       := bin/neuronscope
BIN_PURE  := bin/neuronscope-purego
OPENBLAS  := CGO_ENABLED=1 CGO_LDFLAGS=-lopenblas
TAGS      := -tags openblas
FUZZTIME  ?= 20000x

.PHONY: setup setup-chromium build build-purego demo demo-models test test-purego test-openblas fuzz vet bench clean

# setup installs OpenBLAS (Debian's libopenblas-dev) when it is missing.
setup:
	@if ! ls /usr/lib/x86_64-linux-gnu/libopenblas.so >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q libopenblas.so; then \
		echo "installing libopenblas-dev"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libopenblas-dev >/dev/null; \
	fi

# setup-chromium installs Debian's chromium for the HTML dashboard's browser test.
setup-chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "installing chromium (for the dashboard browser test)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

build: setup
	$(OPENBLAS) $(GO) build $(TAGS) -o $(BIN) ./cmd/neuronscope

build-purego:
	CGO_ENABLED=0 $(GO) build -o $(BIN_PURE) ./cmd/neuronscope

# demo runs the main job on the embedded default model: the Llama trained on the synthetic
# world (testdata/world-llama), then a few single commands on checkpoints under testdata/.
demo: build
	./$(BIN) version
	./$(BIN) demo --out neuronscope-demo
	./$(BIN) inspect --model testdata/tiny-llama
	./$(BIN) trace --model testdata/tiny-llama --ids 1,5,9,13 --ids 1,7,2 --pad left \
		--hooks 'blocks.*.mlp.hook_post' --out /tmp/neuronscope-demo-trace.safetensors
	./$(BIN) generate --model testdata/tiny-llama --ids 1,5,9,13 --max-new 8
	./$(BIN) attribute --model testdata/tiny-llama --ids 1,5,9,13 --target-token 7 --method ig \
		--top 5 --out /tmp/neuronscope-demo-ig.json
	./$(BIN) decode --model testdata/tiny-llama --top 5 --out /tmp/neuronscope-demo-decode.json

# demo-models regenerates testdata/world, testdata/world-llama and testdata/world-gpt2 bit for
# bit (OpenBLAS build on this machine kind; training.json's timings differ run to run).
demo-models: build
	./$(BIN) world --out testdata/world
	./$(BIN) train --world testdata/world --arch llama --out testdata/world-llama
	./$(BIN) train --world testdata/world --arch gpt2 --pack 32 --batch 16 --out testdata/world-gpt2

vet:
	$(GO) vet ./...

# test-purego runs with -short: the few full-size checks (the demo on the trained model, the
# browser test) run once, in test-openblas.
test-purego:
	CGO_ENABLED=0 $(GO) test -short -count=1 ./...

test-openblas: setup
	$(OPENBLAS) $(GO) test $(TAGS) -count=1 ./...

# fuzz runs every fuzz target briefly.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# test is the full suite: vet, both BLAS builds, the CLI end to end, and brief fuzzing.
test: setup setup-chromium vet test-purego test-openblas build build-purego fuzz
	./$(BIN) version
	./$(BIN_PURE) version

bench: build
	$(OPENBLAS) $(GO) test $(TAGS) -run '^$$' -bench . -benchtime 3x ./...

clean:
	rm -rf bin
