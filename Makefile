# A thin front for CMake. `make` installs missing packages and builds;
MAKEFLAGS += --no-print-directory
# `make test` also runs every test, in a normal and a sanitizer build.
BUILD      ?= build
BUILD_SAN  ?= build-asan
BUILD_FUZZ ?= build-fuzz
# make fuzz: seconds per libFuzzer target; make test runs each for FUZZ_SMOKE_SECONDS.
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 5
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=

.PHONY: all deps build build-san build-fuzz test test-fast test-san test-fuzz fuzz leakcheck demo clean format

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

# Every process, test binaries and the ferry processes they spawn (a serve or
# mock stopped by SIGTERM included), writes its sanitizer report (leaks found
# by LeakSanitizer at exit among them) into $(SAN_LOGS); any report fails.
SAN_LOGS = $(abspath $(BUILD_SAN))/sanitizer-logs
SAN_ENV  = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$(SAN_LOGS)/asan \
	   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SAN_LOGS)/ubsan
define run_san
	@rm -rf $(SAN_LOGS) && mkdir -p $(SAN_LOGS)
	@$(PG_CLUSTER) sh -c 'cd $(BUILD_SAN) && $(SAN_ENV) ctest --output-on-failure -j $(JOBS) $(1)'; rc=$$?; \
	  $(CURDIR)/tests/sanitizer-logs.sh $(SAN_LOGS) || rc=1; exit $$rc
endef

test-san: build-san
	$(call run_san,$(CTEST_ARGS))

# Only the end-to-end push, pull and serve tests under LeakSanitizer (test-san runs them too).
leakcheck: build-san
	$(call run_san,-R "^it/it_(push|pull|serve)$$")

# The libFuzzer targets of tests/fuzz: clang, ASan + UBSan, a build of its own.
build-fuzz: deps
	@cmake -S . -B $(BUILD_FUZZ) -DCMAKE_C_COMPILER=clang-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DFERRY_FUZZ=ON -DFERRY_TESTS=OFF -DFERRY_BENCH=OFF >/dev/null
	@cmake --build $(BUILD_FUZZ) -j $(JOBS)

# A few seconds per target, so that a parser that starts crashing on its seeds
# (or soon after) fails the tests.
test-fuzz: build-fuzz
	@./tests/fuzz/run.sh $(BUILD_FUZZ) $(FUZZ_SMOKE_SECONDS)

# FUZZ_SECONDS per target (FUZZ_TARGETS="config units" for some of them).
fuzz: build-fuzz
	@./tests/fuzz/run.sh $(BUILD_FUZZ) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

test: test-fast test-san test-fuzz

# The push job end to end against the built-in simulator, in ./ferry-demo.
demo: build
	@$(BUILD)/ferry demo --dir ferry-demo

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_FUZZ)
