# consort top-level driver. Every target installs what is missing first, so
# `make test` and `make demo` work as the very first command on Debian 12.

BUILD       ?= build
ASAN_BUILD  ?= build-asan
TSAN_BUILD  ?= build-tsan
FUZZ_BUILD  ?= build-fuzz
JOBS        ?= $(shell nproc)
FUZZ_SECONDS ?= 60
CTEST_ARGS  ?=
PREFIX      ?= /usr/local

.PHONY: all deps build install test demo asan asan-build asan-integration tsan fuzz fuzz-build fuzz-check bench bench-scale format format-check clean

all: build

deps:
	@./scripts/install-deps

$(BUILD)/build.ninja: | deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: deps $(BUILD)/build.ninja
	@cmake --build $(BUILD) -j $(JOBS)

# Installs consort, consortd, the headers, libconsort (.so and .a), consort.pc,
# the man pages, the systemd unit and the example configuration under
# PREFIX (default /usr/local), staged under DESTDIR if set
# (docs/operating.md "Installing").
install: build
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

# No retries: a test that fails once is a failure (docs/testing.md, "No
# retries"). A skipped test shows as skipped; CONSORT_NO_SKIP=1 (CI) makes
# every skip a failure.
test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

demo: build
	@./scripts/demo.sh $(BUILD)

# Sanitizers (docs/testing.md "Sanitizers"). ASan+UBSan: the unit tests
# (asan) and the multi-process integration tests, whose node logs the
# harness searches for sanitizer reports (asan-integration).
asan-build: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCONSORT_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

asan: asan-build
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L unit $(CTEST_ARGS)

ASAN_INTEGRATION ?= asan-integration
asan-integration: asan-build
	@cd $(ASAN_BUILD) && ctest --output-on-failure -L '$(if $(filter all,$(ASAN_INTEGRATION)),integration,asan-integration)' $(CTEST_ARGS)

# ThreadSanitizer: the consensus and node unit tests (loop, libuv threadpool
# and snapshot workers). Only consort's code is instrumented: accesses made
# inside libuv, libraft or OpenSSL are not checked (ignore_noninstrumented_modules;
# without it, file descriptors reused between libuv's threadpool and the loop
# are reported as races).
TSAN_LABELS ?= ^(consensus|node)$$
tsan: deps
	@cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONSORT_SANITIZE=thread >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS)
	@cd $(TSAN_BUILD) && TSAN_OPTIONS="ignore_noninstrumented_modules=1 second_deadlock_stack=1 $(TSAN_OPTIONS)" \
		ctest --output-on-failure -j $(JOBS) -L '$(TSAN_LABELS)' $(CTEST_ARGS)

# Fuzzing (docs/testing.md): the clang build of the libFuzzer targets only
# (`fuzzers`), then FUZZ_SECONDS per target (FUZZ_TARGETS="a b" for some);
# fuzz-check (CI) replays every committed corpus through every target under
# ASan/UBSan.
FUZZ_ENV = CONSORT_TESTDATA=$(CURDIR)/../shared/testdata

$(FUZZ_BUILD)/build.ninja: | deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONSORT_FUZZ=ON >/dev/null

fuzz-build: deps $(FUZZ_BUILD)/build.ninja
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers

fuzz: fuzz-build
	@$(FUZZ_ENV) ./scripts/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz-check: fuzz-build
	@$(FUZZ_ENV) ./scripts/run-fuzz.sh --check $(FUZZ_BUILD)

bench: build
	@./scripts/install-deps --bench
	@cmake --build $(BUILD) --target benchmarks -j $(JOBS)
	@./scripts/run-bench.sh $(BUILD)

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)

# The long fault-injection run (tests/chaos, docs/reliability.md "Fault
# injection"): make chaos DURATION=1800 [SEED=N] [NODES=5]. Needs root.
chaos: build
	@nice python3 tests/chaos/run_chaos.py --consort $(BUILD)/tools/consort \
		--consortd $(BUILD)/tools/consortd --app $(BUILD)/tests/chaos_app.so \
		--duration $(or $(DURATION),1800) --nodes $(or $(NODES),3) $(if $(SEED),--seed $(SEED))

# The cost-curve benchmark (scripts/bench-scale.sh, bench/RESULTS.md
# "bench_scale"): BENCH_SCALE_ARGS="--sizes 10000,100000 --nodes 3,5 ..."
# (default: the full run, 10k-1M keys, a 1M-transaction ledger, 3/5/7 nodes,
# 0/10/50 ms; --smoke: tiny sizes, about two minutes).
bench-scale: build
	@./scripts/install-deps --bench
	@cmake --build $(BUILD) --target benchmarks -j $(JOBS)
	@./scripts/bench-scale.sh $(BUILD) $(BENCH_SCALE_ARGS)
