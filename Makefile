# zslab: build, run, test, benchmark.
#   make demo   build libzslab.so and run a real program (python3) under it,
#               printing zslab's statistics at exit
#   make test   everything CI runs: format/lint checks, unit tests, the C
#               programs in preload-tests/ under LD_PRELOAD (API, threads,
#               fork, double frees, epochs), every ZSLAB_* variable, and real
#               programs (python3, git, sqlite3, perl, sort/awk)
#   make bench  compare zslab with glibc, jemalloc, mimalloc and tcmalloc

LIB := target/release/libzslab.so
# The real interpreter, not a wrapper script (pyenv shims are bash).
PY  ?= $(shell python3 -c "import sys; print(sys.executable)")

.PHONY: all build demo test lint unit preload env-vars example real-programs bench bench-quick clean

all: build

build:
	cargo build --release

demo: build
	@echo "== python3 (PYTHONMALLOC=malloc) running scripts/real-programs/py_objects.py under zslab"
	LD_PRELOAD=$(CURDIR)/$(LIB) ZSLAB_STATS=1 PYTHONMALLOC=malloc PYTHONHASHSEED=0 \
		$(PY) scripts/real-programs/py_objects.py

lint:
	cargo fmt --check
	cargo clippy --all-targets --release -- -D warnings

unit:
	cargo test --release

preload: build
	bash preload-tests/run.sh $(LIB)

env-vars: build
	bash scripts/test-env-vars.sh $(LIB)

# The instrumented example must run the same without zslab and with it.
example: build
	mkdir -p preload-tests/build
	gcc -O2 -Wall -Werror -o preload-tests/build/epoch_phases examples/epoch_phases.c -ldl
	out=$$(preload-tests/build/epoch_phases) && echo "$$out" | grep -q "absent: plain malloc"
	out=$$(LD_PRELOAD=$(CURDIR)/$(LIB) preload-tests/build/epoch_phases) && echo "$$out" | grep -q "present: using epochs"

real-programs: build
	bash scripts/test-real-programs.sh $(LIB)

test: lint unit preload env-vars example real-programs

# e.g. make bench BENCH_ARGS="--reps 9 --only churn_rss,larson"
bench: build
	bash scripts/bench.sh --zslab $(LIB) $(BENCH_ARGS)

bench-quick: build
	bash scripts/bench.sh --zslab $(LIB) --quick $(BENCH_ARGS)

clean:
	cargo clean
	rm -rf preload-tests/build bench/build
