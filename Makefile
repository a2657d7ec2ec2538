# qharness - build, test, benchmark.  `make demo` and `make check` do all the set-up.
CC       ?= gcc
ARCH     ?= -march=native
OPT      ?= -O3
CFLAGS   ?= $(OPT) $(ARCH) -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -fopenmp -fno-math-errno
# OpenBLAS built for OpenMP: BLAS and our element-wise loops then share one thread pool.
# With the pthread build the two pools spin against each other (measured: 2.5x slower on 2
# cores).  The rpath pins it, whatever Debian's alternatives point libopenblas.so.0 at.
BLAS_DIR ?= /usr/lib/$(shell gcc -print-multiarch)/openblas-openmp
CPPFLAGS += -I/usr/include/$(shell gcc -print-multiarch)/openblas-openmp \
            $(shell pkg-config --cflags libcjson libutf8proc 2>/dev/null) -I. -Ibuild
LDLIBS   += -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas \
            -lcjson -linih -lutf8proc -lgsl -lcsv -lsqlite3 -lm
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lpthread)

DEB_PACKAGES = libsqlite3-dev sqlite3 gnuplot-nox libcsv-dev libgsl-dev check libopenblas-openmp-dev \
               libcjson-dev libinih-dev libutf8proc-dev pkg-config gcc make

LIB_SRC  = $(wildcard harness/*.c harness/cmd/*.c datasets/*.c methods/*.c reports/*.c)
LIB_SRC := $(filter-out harness/main.c,$(LIB_SRC))
LIB_OBJ  = $(patsubst %.c,build/%.o,$(LIB_SRC))
TEST_SRC = $(wildcard tests/check_*.c)
TEST_BIN = build/tests/check_qharness

.PHONY: all deps demo check check-unit check-asan bench bench-sweep clean
all: qharness

build/%.o: %.c $(wildcard harness/*.h datasets/*.h methods/*.h reports/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# harness/schema.sql is the documented schema; the binary embeds it verbatim.
build/schema.inc: harness/schema.sql
	@mkdir -p build
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@

build/harness/store.o: build/schema.inc
build-san/harness/store.o: build/schema.inc

build/libqharness.a: $(LIB_OBJ)
	ar rcs $@ $^

qharness: build/harness/main.o build/libqharness.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(TEST_BIN): $(TEST_SRC) tests/testutil.h build/libqharness.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(TEST_SRC) build/libqharness.a $(LDLIBS) $(CHECK_LIBS)

# Installs the Debian packages that are missing (apt-get; sudo when not root).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "all Debian packages present"; fi

# The main job on the embedded default model.
demo: deps
	$(MAKE) qharness
	./qharness info default
	./qharness sweep experiments/default.ini
	./qharness results --experiment default
	./qharness plot --experiment default -o reports/default
	./qharness report --experiment default --charts . -o reports/default/report.md
	./qharness report --assessment -o reports/default/assessment.md
	@echo
	@echo "results     results/qharness.sqlite (qharness results --experiment default)"
	@echo "charts      reports/default/*.png and *.svg (data and gnuplot scripts beside them)"
	@echo "report      reports/default/report.md"
	@echo "assessment  reports/default/assessment.md (this run's numbers); the reviewed HONEST_ASSESSMENT.md"
	@echo "            is generated the same way from docs/assessment.sqlite (default + calibrated sweeps and the claim audits)"

# Every test: Check units and CLI end-to-end tests, then the same under ASan/UBSan.
check: deps
	$(MAKE) check-unit
	$(MAKE) check-asan

check-unit: qharness $(TEST_BIN)
	QHARNESS_HOME=$(CURDIR) $(TEST_BIN)

# Sanitized build in its own tree; the slow golden-perplexity cases are skipped there
# (QH_TEST_QUICK) because they exercise the same code as the fast ones, 10x slower.
check-asan:
	$(MAKE) BUILD_SAN=1 OPT=-O1 CFLAGS="-O1 -g $(ARCH) -fsanitize=address,undefined -fno-omit-frame-pointer" \
	  LDFLAGS="-fsanitize=address,undefined" san-run

ifdef BUILD_SAN
san-run: build-san/check_qharness build-san/qharness
	QHARNESS_HOME=$(CURDIR) QH_TEST_QUICK=1 QH_TEST_BINARY=$(CURDIR)/build-san/qharness \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 build-san/check_qharness
build-san/%.o: %.c $(wildcard harness/*.h datasets/*.h methods/*.h reports/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -std=gnu11 -fopenmp -Wall -c -o $@ $<
build-san/qharness: $(patsubst %.c,build-san/%.o,$(LIB_SRC) harness/main.c)
	$(CC) $(CFLAGS) -fopenmp $(LDFLAGS) -o $@ $^ $(LDLIBS)
build-san/check_qharness: $(TEST_SRC) tests/testutil.h $(patsubst %.c,build-san/%.o,$(LIB_SRC))
	$(CC) $(CPPFLAGS) $(CFLAGS) -std=gnu11 -fopenmp $(LDFLAGS) -o $@ $(TEST_SRC) \
	  $(patsubst %.c,build-san/%.o,$(LIB_SRC)) $(LDLIBS) $(CHECK_LIBS)
endif

bench: qharness
	./qharness bench default --ctx 256 --batch 4 --windows 32
	@if [ -f ../shared/golden/gguf/types.gguf ]; then ./qharness bench --dequant ../shared/golden/gguf/types.gguf; \
	  t0=$$(date +%s.%N); ./qharness info ../shared/golden/gguf/default-IQ1_S.gguf > /dev/null; t1=$$(date +%s.%N); \
	  ./qharness ppl ../shared/golden/gguf/default-IQ1_S.gguf wikitext2-test --max-tokens 512 > /dev/null; t2=$$(date +%s.%N); \
	  awk -v a=$$t0 -v b=$$t1 -v c=$$t2 'BEGIN { printf "default-IQ1_S.gguf: header and ledger %.2f s; loaded, dequantized, hashed and 512 tokens scored %.2f s (process wall time)\n", b - a, c - b }'; \
	else echo "bench: ../shared/golden/gguf/types.gguf missing: dequantization not measured"; fi

# The main job timed: the default sweep into a scratch database, then where its time went
# (model, texts and task data loaded once; per run: quantization, each task, the store).
bench-sweep: qharness
	@db=$$(mktemp -d)/bench.sqlite; t0=$$(date +%s.%N); \
	  ./qharness sweep experiments/default.ini --db $$db --timings 2>&1 | grep -v '^\[' ; \
	  t1=$$(date +%s.%N); awk -v a=$$t0 -v b=$$t1 'BEGIN { printf "bench-sweep: experiments/default.ini in %.1f s (process wall time)\n", b - a }'; \
	  rm -rf $$(dirname $$db)

clean:
	rm -rf build build-san qharness
