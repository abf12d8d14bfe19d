# The README's two commands, for a fresh Debian 12 machine:
#   make run    install what is missing, build (Release), run graphs/full.dag
#   make test   the same set-up, then every test through ctest
# Also: make build, make test-asan (AddressSanitizer + UBSan build), make bench,
# make clean.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
GRAPH      ?= graphs/full.dag
DEB_PACKAGES = build-essential cmake ninja-build pkg-config python3 \
               libuv1-dev libcurl4-openssl-dev libcjson-dev liblmdb-dev \
               libssl-dev libcmocka-dev libstb-dev nghttp2-server \
               libopenblas-dev python3-torch
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build run test test-asan bench clean

all: build

# Installs only the Debian packages that are missing.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/povid-dag run $(GRAPH)
	@echo "report: $$(./$(BUILD)/povid-dag show $(GRAPH) report.report)/report.md (and report.html)"

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPD_SANITIZE=ON -DPD_WITH_CUDA=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

bench: build
	bash bench/noop_vs_ninja.sh
	bash bench/shapes_bench.sh
	bash bench/distort_bench.sh
	bash bench/torch_bench.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
