# mentiond: build, test, run, install.  See README.md.
CC      ?= cc
PKGS    := libevent libcurl yajl hiredis libutf8proc libsystemd inih libhs
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CPPFLAGS += -std=c11 -D_GNU_SOURCE -pthread -DMENTIOND_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lm -pthread

B := build
# Pure modules: no libevent/libcurl/hiredis/libsystemd; unit-tested directly.
CORE_SRC := daemon/log.c daemon/buf.c daemon/util.c daemon/config.c daemon/inifile.c \
            daemon/framing.c daemon/json.c daemon/post.c daemon/decode.c \
            daemon/decode_x.c daemon/decode_ndjson.c daemon/text.c daemon/query.c \
            daemon/matcher.c daemon/mpm.c daemon/strmap.c daemon/rules.c daemon/scorer.c daemon/alert.c \
            daemon/pipeline.c daemon/backoff.c
# Modules that own the event loop and network libraries.
IO_SRC   := daemon/http_client.c daemon/source.c daemon/redis_sink.c daemon/sdnotify.c \
            daemon/builder.c daemon/daemon.c daemon/replay.c
MAIN_SRC := daemon/main.c
CORE_OBJ := $(CORE_SRC:daemon/%.c=$(B)/%.o)
IO_OBJ   := $(IO_SRC:daemon/%.c=$(B)/%.o)
MAIN_OBJ := $(MAIN_SRC:daemon/%.c=$(B)/%.o)

UNIT_TESTS := test_framing test_decode test_text test_rules test_conformance test_alert test_config test_backoff
UNIT_BINS  := $(UNIT_TESTS:%=$(B)/%)

PYTHON  := /usr/bin/python3
PREFIX  ?= /usr/local

.PHONY: all deps test unit integration run clean check-clang
all: $(B)/mentiond

deps:
	@scripts/install-deps

$(B):
	@mkdir -p $(B)

$(B)/%.o: daemon/%.c $(wildcard daemon/*.h) Makefile | $(B)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<

$(B)/mentiond: $(CORE_OBJ) $(IO_OBJ) $(MAIN_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/test_%: tests/unit/test_%.c $(CORE_OBJ) tests/unit/testutil.h
	$(CC) $(CPPFLAGS) -Idaemon $(CFLAGS) $(WARN) -o $@ $< $(CORE_OBJ) $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do \
	  MENTIOND_SRCDIR=$(CURDIR) ./$$t || fail=1; done; exit $$fail

integration: $(B)/mentiond
	MENTIOND_BIN=$(CURDIR)/$(B)/mentiond $(PYTHON) -m pytest -q tests/integration

# The README's test command: dependencies, build (gcc, and clang in its own
# directory: both must stay warning-free), unit tests, integration tests.
test: deps
	$(MAKE) all
	$(MAKE) check-clang
	$(MAKE) unit
	$(MAKE) integration

check-clang:
	$(MAKE) B=build-clang CC=clang build-clang/mentiond $(UNIT_TESTS:%=build-clang/%)

run: deps
	$(MAKE) all
	@scripts/run-demo

clean:
	rm -rf $(B) build-clang run
