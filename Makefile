# zslab: build, run, test, benchmark.
#   make demo   build libzslab.so and run a real program (python3) under it,
#               printing zslab's statistics at exit
#   make test   everything CI runs, in this order:
#                 lint               cargo fmt --check, clippy -D warnings
#                                    (also of the model build), the layer
#                                    table, the README's configuration table
#                 check-panic        no panic reachable from malloc & co. in
#                                    the built library (objdump call graph)
#                 unit               cargo test (unit and property tests)
#                 models             shuttle model checks of the cross-thread
#                                    protocols (remote frees, double frees,
#                                    page return, notifications, adoption)
#                 preload            the C programs in preload-tests/ under
#                                    LD_PRELOAD (API, threads, fork, double
#                                    frees, epochs and epoch domains, large
#                                    blocks, failure injection, memory return)
#                 env-vars           every ZSLAB_* variable: defaults, forms,
#                                    ranges, warnings, effects
#                 example            examples/ with and without zslab
#                 observability      live statistics: signal, interval,
#                                    Prometheus (promtool, node_exporter),
#                                    leak report, SIGTERM, failed writes
#                 real-programs      python3, git, sqlite3, perl, sort/awk
#                 memory-return      memory given back across program phases
#                 limits             ulimit -v (RLIMIT_AS)
#                 foreign-allocator  a -ljemalloc program, redis-server
#                 coexistence        valgrind, ASan, jemalloc/mimalloc preloads
#                 real-suites        CPython's regrtest and GLib's tests
#                 install-test       make install/uninstall, pkg-config, the
#                                    zslab command against live processes
#               The scripts install what they need with apt-get.
#   make bench  compare zslab with glibc, jemalloc, mimalloc and tcmalloc
#   make install PREFIX=/usr/local   library (with its soname link), header,
#               pkg-config file and the zslab command; DESTDIR stages it
#   make uninstall PREFIX=...        removes exactly those files

LIB := target/release/libzslab.so
CLI := target/release/zslab
# The real interpreter, not a wrapper script (pyenv shims are bash).
PY  ?= $(shell python3 -c "import sys; print(sys.executable)")

.PHONY: all build demo test lint check-panic unit models preload env-vars example observability real-programs \
	memory-return limits foreign-allocator coexistence real-suites install-test \
	bench bench-quick clean install uninstall

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
	cargo clippy --release -p zslab --features model --lib --tests -- -D warnings
	python3 scripts/check-layers.py
	python3 scripts/gen-config-table.py --check

# No panic entry point reachable from the exported allocation functions.
check-panic: build
	python3 scripts/check-no-panic.py $(LIB)

unit:
	cargo test --release

# The cross-thread protocols under shuttle: the same code, its atomics
# swapped for the checker's (src/tests/models/).
models:
	cargo test --release -p zslab --features model --lib tests::models

preload: build
	bash preload-tests/run.sh $(LIB)

env-vars: build
	bash scripts/test-env-vars.sh $(LIB)

# The instrumented examples must run the same without zslab and with it.
example: build
	mkdir -p preload-tests/build
	gcc -O2 -Wall -Werror -o preload-tests/build/epoch_phases examples/epoch_phases.c -ldl
	out=$$(preload-tests/build/epoch_phases) && echo "$$out" | grep -q "absent: plain malloc"
	out=$$(LD_PRELOAD=$(CURDIR)/$(LIB) preload-tests/build/epoch_phases) && echo "$$out" | grep -q "present: using epochs"
	gcc -O2 -Wall -Werror -pthread -Iinclude -o preload-tests/build/domain_requests examples/domain_requests.c -ldl
	out=$$(preload-tests/build/domain_requests) && echo "$$out" && echo "$$out" | grep -q "absent: plain malloc"
	out=$$(LD_PRELOAD=$(CURDIR)/$(LIB) preload-tests/build/domain_requests) && echo "$$out" && \
		echo "$$out" | grep -q "present: requests in epoch domains" && \
		echo "$$out" | grep -q "1000 request domains opened and closed"

observability: build
	bash scripts/test-observability.sh $(LIB)

real-programs: build
	bash scripts/test-real-programs.sh $(LIB)

memory-return: build
	bash scripts/test-memory-return.sh $(LIB)

limits: build
	bash scripts/test-limits.sh $(LIB)

foreign-allocator: build
	bash scripts/test-foreign-allocator.sh $(LIB)

coexistence: build
	bash scripts/test-coexistence.sh $(LIB)

real-suites: build
	bash scripts/test-real-suites.sh $(LIB)

# Install into a temporary prefix, build C programs against it with
# pkg-config, and run the zslab command against real python3 processes.
install-test: build
	bash scripts/test-install.sh

test: lint check-panic unit models preload env-vars example observability real-programs memory-return \
	limits foreign-allocator coexistence real-suites install-test

# e.g. make bench BENCH_ARGS="--reps 9 --only churn_rss,larson"
bench: build
	bash scripts/bench.sh --zslab $(LIB) $(BENCH_ARGS)

bench-quick: build
	bash scripts/bench.sh --zslab $(LIB) --quick $(BENCH_ARGS)

# Installation layout. The version is the workspace version in Cargo.toml
# (the library and the zslab command share it); the soname carries its
# major number (build.rs, cdylib-link-lines).
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
LDCONFIG     ?= ldconfig
VERSION      := $(shell sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
SONAME       := libzslab.so.$(firstword $(subst ., ,$(VERSION)))
# pkg-config paths relative to ${prefix} where they can be; an rpath unless
# the library goes where the dynamic loader looks anyway.
PC_LIBDIR     = $(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))
PC_INCLUDEDIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))
PC_RPATH      = $(if $(filter /lib /lib64 /usr/lib /usr/lib64 /usr/lib/$(shell gcc -print-multiarch 2>/dev/null),$(LIBDIR)),,-Wl$(,)-rpath$(,)$${libdir} )
, := ,

# `make build && sudo make install` works where root has no cargo.
install:
	@test -n "$(VERSION)" || { echo "make install: no version in Cargo.toml" >&2; exit 1; }
	@if command -v cargo >/dev/null 2>&1; then cargo build --release; \
	elif [ ! -f $(LIB) ] || [ ! -f $(CLI) ]; then \
		echo "make install: cargo not found and nothing built; run make build first" >&2; exit 1; fi
	@if command -v readelf >/dev/null 2>&1 && ! readelf -d $(LIB) | grep -q 'soname: \[$(SONAME)\]'; then \
		echo "make install: $(LIB) does not have the soname $(SONAME)" >&2; exit 1; fi
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(LIB) $(DESTDIR)$(LIBDIR)/libzslab.so.$(VERSION)
	ln -sfn libzslab.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sfn $(SONAME) $(DESTDIR)$(LIBDIR)/libzslab.so
	install -m 644 include/zslab.h $(DESTDIR)$(INCLUDEDIR)/zslab.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(PC_LIBDIR)|' -e 's|@INCLUDEDIR@|$(PC_INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' -e 's|@RPATH@|$(PC_RPATH)|' zslab.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/zslab.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/zslab.pc
	install -m 755 $(CLI) $(DESTDIR)$(BINDIR)/zslab
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v $(LDCONFIG) >/dev/null 2>&1; then $(LDCONFIG); fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/zslab $(DESTDIR)$(INCLUDEDIR)/zslab.h $(DESTDIR)$(PKGCONFIGDIR)/zslab.pc \
		$(DESTDIR)$(LIBDIR)/libzslab.so $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libzslab.so.$(VERSION)
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v $(LDCONFIG) >/dev/null 2>&1; then $(LDCONFIG); fi

clean:
	cargo clean
	rm -rf preload-tests/build bench/build
