# The two commands: `make serve` and `make test`. Both set up what they need first.
BUILD_DIR ?= build
JOBS ?= 2
LISTEN ?= 127.0.0.1:8080
ADMIN_LISTEN ?= 127.0.0.1:8081

.PHONY: setup build serve deb test unit e2e fuzz fuzz-build faults bench soak clean

setup:
	@scripts/setup

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: setup $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j$(JOBS)

serve: build
	$(BUILD_DIR)/sprocket serve examples --listen $(LISTEN) --admin-listen $(ADMIN_LISTEN) --data-dir $(BUILD_DIR)/data

# A Debian package of this build: binaries, guest runtimes, the systemd unit (packaging/README.md).
deb: build
	BUILD_DIR=$(BUILD_DIR) scripts/make-deb

# The Store suites run against SQLite and a private PostgreSQL server started for the run; the
# Redis budget's suite against a private redis-server (never the system's services).
unit: build
	cd $(BUILD_DIR) && /usr/bin/python3 $(CURDIR)/tests/support/postgres_server.py run -- \
	  /usr/bin/python3 $(CURDIR)/tests/support/redis_server.py run -- ctest --output-on-failure -j$(JOBS)

e2e: build
	/usr/bin/python3 -m pytest -q tests/e2e

test: unit e2e fuzz

# libFuzzer targets with ASan and UBSan (fuzz/README.md), in a clang tree of their own: each
# runs FUZZ_SECONDS (20 in make test; hours: FUZZ_SECONDS=3600 make fuzz, FUZZ_TARGETS=worker).
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 20
FUZZ_TARGETS ?=
$(FUZZ_BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(FUZZ_BUILD_DIR) -DCMAKE_CXX_COMPILER=clang++ -DSPROCKET_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug

fuzz-build: setup $(FUZZ_BUILD_DIR)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD_DIR) -j$(JOBS)

fuzz: fuzz-build
	FUZZ_BUILD_DIR=$(FUZZ_BUILD_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz $(FUZZ_TARGETS)

# kill -9 at random moments during deploys, secret changes and queued actions, then restart and
# count what was lost, duplicated or corrupt (tests/faults/README.md). FAULT_TRIALS=100 and
# FAULT_SEED (to replay a run) pass through; not part of `make test`, which runs 12 trials.
faults: build
	SPROCKET_BINARY=$(BUILD_DIR)/sprocket /usr/bin/python3 tests/faults/crash_harness.py

# Benchmarks against baselines measured in the same run (docs/performance.md), on 127.0.0.1.
# BENCH_ONLY=hello,memory, BENCH_DURATION=5 (s per wrk run), BENCH_RUNS=1 pass through.
bench: build
	SPROCKET_BINARY=$(BUILD_DIR)/sprocket /usr/bin/python3 bench/run.py

# Ten minutes of mixed traffic against one node; passes only if the gateway's RSS and open files
# stay flat and no error but the intended ones happened (bench/SOAK.md). SOAK_SECONDS=600 passes through.
soak: build
	SPROCKET_BINARY=$(BUILD_DIR)/sprocket /usr/bin/python3 bench/soak.py

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_BUILD_DIR)
