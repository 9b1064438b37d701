# desk - one build description for Debian (gcc or clang) and macOS (Apple clang).
#
#   make            build build/desk and build/libdesk.a
#   make test       build everything and run every test (see tests/run.sh)
#   make SAN=1      AddressSanitizer + UBSan build (into build-san/)
#   make CC=clang   another compiler
#   make CROSS=aarch64-linux-gnu-   arm64 cross build (tests run under qemu-user)

CC      ?= cc
ifeq ($(origin CC),default)
CC      := cc
endif
ifneq ($(CROSS),)
CC      := $(CROSS)gcc
endif
SAN     ?= 0
BUILD   ?= $(if $(filter 1,$(SAN)),build-san,$(if $(CROSS),build-$(patsubst %-,%,$(CROSS)),build))
PKG     ?= pkg-config
DEPS_CFLAGS := $(shell $(PKG) --cflags libpcre2-8 libutf8proc jansson 2>/dev/null)
DEPS_LIBS   := $(shell $(PKG) --libs libpcre2-8 libutf8proc jansson 2>/dev/null || echo -lpcre2-8 -lutf8proc -ljansson)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
           -Wstrict-prototypes -ffp-contract=off -fno-math-errno -pthread \
           -Iinclude -Isrc $(DEPS_CFLAGS)
LDLIBS  += $(DEPS_LIBS) -lm -pthread
ASAN_UBSAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ifeq ($(SAN),1)
SAN_FLAGS ?= $(ASAN_UBSAN)
endif
CFLAGS  += $(SAN_FLAGS)
LDFLAGS += $(SAN_FLAGS)

ARCH    := $(shell $(CC) -dumpmachine)
LIB_SRC := $(wildcard src/base/*.c src/format/*.c src/kernels/*.c src/model/*.c src/text/*.c src/sched/*.c)
ifneq ($(findstring x86_64,$(ARCH)),)
LIB_SRC += src/kernels/x86/avx2.c src/kernels/x86/avx512.c
CFLAGS  += -DDESK_HAVE_X86
endif
ifneq ($(findstring aarch64,$(ARCH))$(findstring arm64,$(ARCH)),)
LIB_SRC += src/kernels/arm/neon.c
CFLAGS  += -DDESK_HAVE_NEON
endif
TEST_LIBS := $(shell $(PKG) --libs jansson 2>/dev/null || echo -ljansson)
CLI_SRC := $(wildcard src/cli/*.c src/serve/*.c)
SERVE_CFLAGS := $(shell $(PKG) --cflags libmicrohttpd jansson 2>/dev/null)
SERVE_LIBS := $(shell $(PKG) --libs libmicrohttpd jansson 2>/dev/null || echo -lmicrohttpd -ljansson)
TEST_SRC := $(wildcard tests/*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

all: $(BUILD)/desk $(BUILD)/libdesk.a

$(BUILD)/libdesk.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(AR) rcs $@ $^

$(BUILD)/desk: $(CLI_OBJ) $(BUILD)/libdesk.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(SERVE_LIBS) $(LDLIBS)

$(BUILD)/src/serve/%.o $(BUILD)/src/cli/cmd_serve.o $(BUILD)/src/cli/cmd_chat.o: CFLAGS += $(SERVE_CFLAGS)

# per-file ISA flags: these files are only entered after a CPUID check
$(BUILD)/src/kernels/x86/avx2.o: CFLAGS += -mavx2 -mfma -mf16c
$(BUILD)/src/kernels/x86/avx512.o: CFLAGS += -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c
$(BUILD)/src/kernels/arm/neon.o: CFLAGS += $(if $(findstring aarch64,$(ARCH)),-march=armv8.2-a+dotprod,)

V ?= 0
Q := $(if $(filter 1,$(V)),,@)

$(BUILD)/%.o: %.c include/desk.h $(wildcard src/*/*.h src/*/*/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(BUILD)/libdesk.a tests/testutil.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(BUILD)/libdesk.a $(LDLIBS) $(TEST_LIBS)

# bench harnesses (bench/*.c) link the library like the tests
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
$(BUILD)/bench/%: bench/%.c $(BUILD)/libdesk.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libdesk.a $(LDLIBS)

tests: $(TEST_BIN) $(BENCH_BIN)

HAVE_CLANG := $(shell command -v clang 2>/dev/null)
test: all tests $(if $(HAVE_CLANG),$(if $(filter 1,$(SAN)),,$(if $(CROSS),,fuzz)))
	BUILD=$(BUILD) sh tests/run.sh

# fuzz targets: clang + libFuzzer, ASan and UBSan, into build-fuzz/
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang SAN_FLAGS="$(ASAN_UBSAN) -fsanitize=fuzzer-no-link" build-fuzz/libdesk.a
	@mkdir -p build-fuzz/fuzz
	clang -O1 -g -Iinclude $(ASAN_UBSAN) -fsanitize=fuzzer -o build-fuzz/fuzz/fuzz_gguf fuzz/fuzz_gguf.c build-fuzz/libdesk.a $(LDLIBS)
	clang -O1 -g -Iinclude $(ASAN_UBSAN) -fsanitize=fuzzer -o build-fuzz/fuzz/fuzz_tokenize fuzz/fuzz_tokenize.c build-fuzz/libdesk.a $(LDLIBS)
	clang -O1 -g -Iinclude $(ASAN_UBSAN) -fsanitize=fuzzer -o build-fuzz/fuzz/fuzz_template fuzz/fuzz_template.c build-fuzz/libdesk.a $(LDLIBS)
	clang -O1 -g -Iinclude -Isrc $(ASAN_UBSAN) -fsanitize=fuzzer -o build-fuzz/fuzz/fuzz_grammar fuzz/fuzz_grammar.c build-fuzz/libdesk.a $(LDLIBS)
	clang -O1 -g -Iinclude -Isrc $(ASAN_UBSAN) -fsanitize=fuzzer -o build-fuzz/fuzz/fuzz_schema fuzz/fuzz_schema.c build-fuzz/libdesk.a $(LDLIBS)
	clang -O1 -g -Iinclude -Isrc $(SERVE_CFLAGS) $(ASAN_UBSAN) -fsanitize=fuzzer -o build-fuzz/fuzz/fuzz_request fuzz/fuzz_request.c src/serve/openai.c build-fuzz/libdesk.a $(SERVE_LIBS) $(LDLIBS)

# arm64: cross-compile (Debian's gcc-aarch64-linux-gnu + arm64 library packages) and run under qemu-user
ARM64_PKG := env PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig pkg-config
test-arm64:
	$(MAKE) CROSS=aarch64-linux-gnu- PKG="$(ARM64_PKG)" all tests
	sh tests/run_arm64.sh

clean:
	rm -rf build build-san build-*

.PHONY: all tests test clean fuzz test-arm64
