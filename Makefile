# A thin front for CMake. `make` installs missing packages and builds;
MAKEFLAGS += --no-print-directory
# `make test` also runs every test, in a normal and a sanitizer build.
BUILD      ?= build
BUILD_SAN  ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=

.PHONY: all deps build test test-fast test-san demo clean format

all: build

deps:
	@./scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The sanitizer build: AddressSanitizer + UndefinedBehaviorSanitizer.
build-san: deps
	@cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DFERRY_ASAN=ON -DFERRY_UBSAN=ON >/dev/null
	@cmake --build $(BUILD_SAN) -j $(JOBS)

# Every test runs under a throwaway PostgreSQL cluster (scripts/pg-test-cluster):
# started before, stopped after, also when a test fails.
PG_CLUSTER = ./scripts/pg-test-cluster run --

test-fast: build
	@$(PG_CLUSTER) sh -c 'cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)'

test-san: build-san
	@$(PG_CLUSTER) sh -c 'cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)'

test: test-fast test-san

# The push job end to end against the built-in simulator, in ./ferry-demo.
demo: build
	@$(BUILD)/ferry demo --dir ferry-demo

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
