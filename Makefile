# Thin wrapper over CMake; the build itself lives in CMakeLists.txt.
#   make run    install missing packages, build (release), start injectord in the foreground
#   make test   install missing packages, build (debug + ASan/UBSan, -Werror), run every test
#   make bench  build (release) and run the benchmarks
#   make deps   install missing Debian packages only
#   make package  a .deb (build/package/injector_*.deb)
#   make fuzz     libFuzzer on the parser, state table and encoder (FUZZ_SECONDS=300)

RELEASE_DIR := build/release
TEST_DIR    := build/test
JOBS        := $(shell nproc 2>/dev/null || echo 2)
# Extra arguments for `make run`, e.g. make run ARGS='--listen 127.0.0.1:9000'
ARGS        ?=

.PHONY: all deps build run test bench install package fuzz clean

all: build

deps:
	@tools/deps.sh

$(RELEASE_DIR)/CMakeCache.txt:
	cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(RELEASE_DIR)/CMakeCache.txt
	cmake --build $(RELEASE_DIR) -j $(JOBS)

run: build
	exec $(RELEASE_DIR)/injectord $(ARGS)

$(TEST_DIR)/CMakeCache.txt:
	cmake -S . -B $(TEST_DIR) -DCMAKE_BUILD_TYPE=Debug -DINJECTOR_SANITIZE=ON -DINJECTOR_WERROR=ON

test: deps $(TEST_DIR)/CMakeCache.txt
	-@tools/deps.sh --browser || echo "deps: no browser; the dashboard's browser test will say SKIPPED"
	cmake --build $(TEST_DIR) -j $(JOBS)
	tools/test.sh $(TEST_DIR)

bench: build
	tools/bench.sh $(RELEASE_DIR)

install: build
	cmake --install $(RELEASE_DIR)

# The parser fuzzed with libFuzzer (clang) for FUZZ_SECONDS (default 300)
FUZZ_SECONDS ?= 300
fuzz: deps
	tools/fuzz.sh build/fuzz $(FUZZ_SECONDS)

# A .deb for this machine's Debian (prefix /usr): build/package/injector_*.deb
package: deps
	JOBS=$(JOBS) tools/package.sh build/package

clean:
	rm -rf build
