# The two commands: `make serve` and `make test`. Both set up what they need first.
BUILD_DIR ?= build
JOBS ?= 2
LISTEN ?= 127.0.0.1:8080

.PHONY: setup build serve test unit e2e bench soak clean

setup:
	@scripts/setup

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: setup $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j$(JOBS)

serve: build
	$(BUILD_DIR)/sprocket serve examples --listen $(LISTEN) --data-dir $(BUILD_DIR)/data

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)

e2e: build
	/usr/bin/python3 -m pytest -q tests/e2e

test: unit e2e

# Benchmarks against baselines measured in the same run (docs/performance.md), on 127.0.0.1.
# BENCH_ONLY=hello,memory, BENCH_DURATION=5 (s per wrk run), BENCH_RUNS=1 pass through.
bench: build
	SPROCKET_BINARY=$(BUILD_DIR)/sprocket /usr/bin/python3 bench/run.py

# Ten minutes of mixed traffic against one node; passes only if the gateway's RSS and open files
# stay flat and no error but the intended ones happened (bench/SOAK.md). SOAK_SECONDS=600 passes through.
soak: build
	SPROCKET_BINARY=$(BUILD_DIR)/sprocket /usr/bin/python3 bench/soak.py

clean:
	rm -rf $(BUILD_DIR)
