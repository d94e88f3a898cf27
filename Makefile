# A thin front for CMake. `make` installs missing packages and builds;
MAKEFLAGS += --no-print-directory
# `make test` also checks the formatting and runs every test, in a normal
# build and under sanitizers (ASan + UBSan, TSan), then fuzzes briefly.
BUILD      ?= build
BUILD_SAN  ?= build-asan
BUILD_TSAN ?= build-tsan
BUILD_FUZZ ?= build-fuzz
# make fuzz: seconds per libFuzzer target; make test runs each for FUZZ_SMOKE_SECONDS.
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 5
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=
# Debian 12's clang-format (14): another version may format differently.
CLANG_FORMAT ?= clang-format

.PHONY: all deps build build-san build-tsan build-fuzz test test-fast test-san test-tsan test-fuzz \
	fuzz leakcheck demo clean format format-check

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

# ThreadSanitizer: a build of its own (it cannot share a process with ASan),
# optimised (-O2) since it costs more; no benchmark tools, no test runs them.
build-tsan: deps
	@cmake -S . -B $(BUILD_TSAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_TSAN=ON \
	  -DFERRY_BENCH=OFF >/dev/null
	@cmake --build $(BUILD_TSAN) -j $(JOBS)

# Every test runs under a throwaway PostgreSQL cluster (scripts/pg-test-cluster):
# started before, stopped after, also when a test fails.
PG_CLUSTER = ./scripts/pg-test-cluster run --

test-fast: build
	@$(PG_CLUSTER) sh -c 'cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)'

# Every process, test binaries and the ferry processes they spawn (a serve or
# mock stopped by SIGTERM included), writes its sanitizer report (leaks found
# by LeakSanitizer at exit among them) into $(SAN_LOGS); any report fails.
# The lint tests (label lint: scripts/check-layers) read sources, not
# binaries: test-fast runs them once.
SAN_LOGS = $(abspath $(BUILD_SAN))/sanitizer-logs
SAN_ENV  = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$(SAN_LOGS)/asan \
	   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SAN_LOGS)/ubsan
# run_sanitized BUILD_DIR,LOG_DIR,ENV,CTEST_ARGS
define run_sanitized
	@rm -rf $(2) && mkdir -p $(2)
	@$(PG_CLUSTER) sh -c 'cd $(1) && $(3) ctest --output-on-failure -j $(JOBS) -LE lint $(4)'; rc=$$?; \
	  $(CURDIR)/tests/sanitizer-logs.sh $(2) || rc=1; exit $$rc
endef
run_san = $(call run_sanitized,$(BUILD_SAN),$(SAN_LOGS),$(SAN_ENV),$(1))

test-san: build-san
	$(call run_san,$(CTEST_ARGS))

# Every test under ThreadSanitizer: the unit tests, and end to end every
# thread ferry runs: serve's committer, connection watchdog, delivery workers,
# scheduler, scheduled runs and trend thread, libmicrohttpd's pool (serve) and
# thread per connection (mock), the SQLite WAL checkpointer of a busy store. A
# data race, a lock-order inversion or a signal-unsafe call in a handler, in
# any process, fails the run; a process goes on after its first report
# (halt_on_error=0), to show them all.
# tests/tsan.supp: suppressions, for third-party libraries only.
TSAN_LOGS = $(abspath $(BUILD_TSAN))/sanitizer-logs
TSAN_ENV  = TSAN_OPTIONS=halt_on_error=0:second_deadlock_stack=1:log_path=$(TSAN_LOGS)/tsan:suppressions=$(CURDIR)/tests/tsan.supp

test-tsan: build-tsan
	$(call run_sanitized,$(BUILD_TSAN),$(TSAN_LOGS),$(TSAN_ENV),$(CTEST_ARGS))

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

# Formatting as .clang-format says, on every tracked .c and .h (make format fixes it).
format-check: deps
	@$(CLANG_FORMAT) --version | grep -q ' version 14\.' || echo "format-check: $(CLANG_FORMAT)" \
	  "is not version 14 (Debian 12's) and may judge differently; try CLANG_FORMAT=clang-format-14" >&2
	@files=$$(git ls-files '*.c' '*.h') && [ -n "$$files" ] || { \
	    echo "format-check: no tracked .c or .h file: not a git checkout?" >&2; exit 1; }; \
	  files=$$(for f in $$files; do [ -e "$$f" ] && echo "$$f"; done); \
	  $(CLANG_FORMAT) --dry-run -Werror $$files </dev/null || { \
	    echo "format-check: the files above are not formatted; make format fixes them" >&2; exit 1; }; \
	  echo "format-check: $$(echo "$$files" | wc -l) files formatted as .clang-format says"

test: format-check test-fast test-san test-tsan test-fuzz

# The push job end to end against the built-in simulator, in ./ferry-demo.
demo: build
	@$(BUILD)/ferry demo --dir ferry-demo

format:
	@$(CLANG_FORMAT) -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_TSAN) $(BUILD_FUZZ)
