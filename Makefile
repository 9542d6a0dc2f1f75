# mentiond: build, test, run, install.  See README.md.
CC      ?= cc
PKGS    := libevent libevent_openssl openssl libcurl yajl hiredis libutf8proc libsystemd inih libhs expat libzstd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CPPFLAGS += -std=c11 -D_GNU_SOURCE -pthread -DMENTIOND_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lm -pthread

B := build
# Each object (and test program) records the headers it includes (-MMD) with
# phony targets for them (-MP: a header removed is not an error); a header
# change rebuilds what uses it and nothing else.
DEPFLAGS := -MMD -MP
# One driver per source type (source_driver.h); the table is in source_driver.c.
SOURCE_DRIVERS := daemon/source_x_v2.c daemon/source_x_v1.c daemon/source_mastodon.c daemon/source_jetstream.c \
                  daemon/source_ndjson.c daemon/source_sse.c daemon/source_rss.c daemon/source_file.c
# Pure modules: no libevent/libcurl/hiredis/libsystemd; unit-tested directly.
CORE_SRC := daemon/log.c daemon/buf.c daemon/util.c daemon/config.c daemon/inifile.c \
            daemon/framing.c daemon/json.c daemon/post.c daemon/decode.c \
            daemon/decode_x.c daemon/decode_x1.c daemon/decode_ndjson.c daemon/decode_mastodon.c daemon/decode_rss.c daemon/decode_jetstream.c daemon/html.c daemon/text.c daemon/query.c \
            daemon/matcher.c daemon/mpm.c daemon/strmap.c daemon/pii.c daemon/window.c daemon/level.c daemon/rules.c daemon/scorer.c \
            daemon/alert.c daemon/alert_build.c daemon/impersonation.c \
            daemon/source_driver.c $(SOURCE_DRIVERS) \
            daemon/pipeline.c daemon/workers.c daemon/backoff.c daemon/ws.c daemon/zdec.c daemon/spool.c daemon/spike.c daemon/incident.c daemon/oncall.c \
            daemon/rendezvous.c daemon/cluster.c daemon/ledger.c daemon/xquery.c daemon/spend.c
# Modules that own the event loop and network libraries.
IO_SRC   := daemon/http_client.c daemon/ws_client.c daemon/source.c daemon/redis_conn.c daemon/redis_sink.c daemon/sdnotify.c daemon/notify.c daemon/paging.c \
            daemon/builder.c daemon/metrics.c daemon/store.c daemon/status.c daemon/readiness.c daemon/heartbeat.c daemon/baseline.c daemon/fleet.c daemon/fleet_rates.c daemon/fleet_shares.c \
            daemon/prometheus.c daemon/daemon.c daemon/replay.c daemon/xrules.c
MAIN_SRC := daemon/main.c
CORE_OBJ := $(CORE_SRC:daemon/%.c=$(B)/%.o)
IO_OBJ   := $(IO_SRC:daemon/%.c=$(B)/%.o)
MAIN_OBJ := $(MAIN_SRC:daemon/%.c=$(B)/%.o)

UNIT_TESTS := test_framing test_source_driver test_impersonation test_ws test_spool test_spike test_incident test_decode test_text test_rules test_conformance test_alert test_config test_backoff test_pii test_scorer test_pipeline test_rendezvous test_cluster test_ledger test_xquery test_spend
UNIT_BINS  := $(UNIT_TESTS:%=$(B)/%) $(B)/test_alloc

# The allocation-failure build switch: every allocator counts its calls and
# alloc_fail_at(n) fails the nth (util.h).  test_alloc links the core built
# with it ($(B)/alloc/); ALLOC_FAIL=1 builds everything that way.
ALLOC_B   := $(B)/alloc
ALLOC_OBJ := $(CORE_SRC:daemon/%.c=$(ALLOC_B)/%.o)
ifeq ($(ALLOC_FAIL),1)
CPPFLAGS += -DMENTIOND_ALLOC_FAIL
endif

PYTHON  := /usr/bin/python3
# make install: PREFIX for the program, manuals and shared files; SYSCONFDIR
# for the configuration (always /etc: the unit and the defaults look there);
# UNITDIR where systemd finds units for that prefix; DESTDIR for packaging.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/mentiond
DOCDIR  ?= $(PREFIX)/share/doc/mentiond
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system

FUZZ_TARGETS := fuzz_alert fuzz_impersonation fuzz_query fuzz_decode_x fuzz_decode_x1 fuzz_ndjson fuzz_mastodon fuzz_framing fuzz_rss fuzz_jetstream fuzz_ws fuzz_config fuzz_pii fuzz_spool
FB := build-fuzz
FUZZ_TIME ?= 60
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined

.PHONY: all deps test unit integration run clean clean-objs check-clang check-layers fuzz fuzz-replay bench soak sanitize integration-san \
        man install uninstall check-ops deb package-test
all: $(B)/mentiond man

# Manuals: mentiond(8) from its template, mentiond.conf(5) from README.md's
# configuration and rule sections (one text for both).
man: $(B)/man/mentiond.8 $(B)/man/mentiond.conf.5

$(B)/man/mentiond.8: man/mentiond.8.in VERSION | $(B)
	@mkdir -p $(B)/man
	sed 's/@VERSION@/$(VERSION)/' $< > $@

$(B)/man/mentiond.conf.5: README.md scripts/gen-man VERSION | $(B)
	@mkdir -p $(B)/man
	$(PYTHON) scripts/gen-man README.md $@ $(VERSION)

# Configuration files are installed only where none exists: an upgrade never
# overwrites what ops edited (the new examples go to DOCDIR/examples).
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(DATADIR)/prometheus $(DESTDIR)$(DATADIR)/grafana $(DESTDIR)$(DOCDIR)/examples/rules.d \
	  $(DESTDIR)$(DOCDIR)/examples/lexicons $(DESTDIR)$(SYSCONFDIR)/mentiond/rules.d $(DESTDIR)$(SYSCONFDIR)/mentiond/lexicons
	install -m 755 $(B)/mentiond $(DESTDIR)$(BINDIR)/mentiond
	install -m 644 $(B)/man/mentiond.8 $(DESTDIR)$(MANDIR)/man8/mentiond.8
	install -m 644 $(B)/man/mentiond.conf.5 $(DESTDIR)$(MANDIR)/man5/mentiond.conf.5
	sed 's|/usr/local/bin/mentiond|$(BINDIR)/mentiond|g; s|file:///usr/local/share/doc/mentiond|file://$(DOCDIR)|' \
	  systemd/mentiond.service > $(DESTDIR)$(UNITDIR)/mentiond.service
	chmod 644 $(DESTDIR)$(UNITDIR)/mentiond.service
	install -m 644 ops/prometheus/mentiond.rules.yml ops/prometheus/mentiond.rules.test.yml $(DESTDIR)$(DATADIR)/prometheus/
	install -m 644 ops/grafana/mentiond.json $(DESTDIR)$(DATADIR)/grafana/
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 644 conf/mentiond.conf $(DESTDIR)$(DOCDIR)/examples/
	install -m 644 conf/rules.d/*.rules $(DESTDIR)$(DOCDIR)/examples/rules.d/
	install -m 644 conf/lexicons/*.txt $(DESTDIR)$(DOCDIR)/examples/lexicons/
	install -m 755 scripts/consumer-list scripts/consumer-stream $(DESTDIR)$(DOCDIR)/examples/
	@[ -e $(DESTDIR)$(SYSCONFDIR)/mentiond/mentiond.conf ] || \
	  install -m 644 conf/mentiond.conf $(DESTDIR)$(SYSCONFDIR)/mentiond/mentiond.conf
	@ls $(DESTDIR)$(SYSCONFDIR)/mentiond/rules.d/*.rules >/dev/null 2>&1 || \
	  install -m 644 conf/rules.d/*.rules $(DESTDIR)$(SYSCONFDIR)/mentiond/rules.d/
	@for f in conf/lexicons/*.txt; do t=$(DESTDIR)$(SYSCONFDIR)/mentiond/lexicons/$${f##*/}; \
	  [ -e $$t ] || install -m 644 $$f $$t; done

# make deb: the Debian package, built from a copy of the tracked files (so
# dpkg-buildpackage's clean never touches this tree) in build-deb/.
DEB := build-deb
deb:
	rm -rf $(DEB)/src && mkdir -p $(DEB)/src
	git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -C $(DEB)/src -xf -
	cd $(DEB)/src && dpkg-buildpackage -us -uc -b
	@ls -l $(DEB)/*.deb

# The package on a clean Debian 12 booted with systemd (systemd-nspawn):
# installed with apt, started, fed, reloaded, checked.  Not part of make test
# (debootstrap downloads a system: minutes); see README "Install".
package-test: deb
	scripts/package-test $(DEB)

# Removes what install put outside /etc; the configuration stays (as dpkg's
# remove does; delete /etc/mentiond by hand to purge).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mentiond $(DESTDIR)$(MANDIR)/man8/mentiond.8 $(DESTDIR)$(MANDIR)/man5/mentiond.conf.5 \
	  $(DESTDIR)$(UNITDIR)/mentiond.service
	rm -rf $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)
	@echo "uninstall: $(SYSCONFDIR)/mentiond kept (your configuration)"

deps:
	@scripts/install-deps

$(B):
	@mkdir -p $(B)

$(B)/%.o: daemon/%.c Makefile | $(B)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<

$(B)/mentiond: $(CORE_OBJ) $(IO_OBJ) $(MAIN_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/test_%: tests/unit/test_%.c $(CORE_OBJ)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) -Idaemon $(CFLAGS) $(WARN) -o $@ $< $(CORE_OBJ) $(LDLIBS) -lcmocka

$(ALLOC_B)/%.o: daemon/%.c Makefile
	@mkdir -p $(ALLOC_B)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) -DMENTIOND_ALLOC_FAIL $(CFLAGS) $(WARN) -c -o $@ $<

$(B)/test_alloc: tests/unit/test_alloc.c $(ALLOC_OBJ)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) -DMENTIOND_ALLOC_FAIL -Idaemon $(CFLAGS) $(WARN) -o $@ $< $(ALLOC_OBJ) $(LDLIBS) -lcmocka

# Fuzz targets' regression corpora, replayed without libFuzzer (part of make test).
$(B)/%_replay: tests/fuzz/%.c tests/fuzz/replay_main.c $(CORE_OBJ)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) -Idaemon $(CFLAGS) $(WARN) -o $@ $< tests/fuzz/replay_main.c $(CORE_OBJ) $(LDLIBS)

# The stream targets also take every real capture of ../shared/corpus, when
# it is beside the project (read there, never copied in).
CORPUS_SEEDS_decode_x := $(wildcard ../shared/corpus/twitter-v2-stream/twarc-csv/*.jsonl)
CORPUS_SEEDS_ndjson := $(wildcard ../shared/corpus/mastodon/rtoot/stream/*.jsonl)
CORPUS_SEEDS_decode_x1 := $(wildcard ../shared/corpus/twitter-v1.1-tweets/tweet_parser/*.json \
                            ../shared/corpus/twitter-v1.1-tweets/tweet_parser/broken_and_unsupported_payloads/*.json)
CORPUS_SEEDS_mastodon := $(wildcard ../shared/corpus/mastodon/docs/*.sse ../shared/corpus/mastodon/rtoot/stream/*.jsonl)
CORPUS_SEEDS_rss := $(wildcard ../shared/corpus/rss-atom/rss-parser/*)
CORPUS_SEEDS_jetstream := $(wildcard ../shared/corpus/bluesky-jetstream/*.jsonl)
# Whole captures as one long post text: every escape the encoder meets.
CORPUS_SEEDS_alert := $(wildcard ../shared/corpus/mastodon/rtoot/stream/*.jsonl)

fuzz-replay: $(FUZZ_TARGETS:%=$(B)/%_replay)
	@for t in $(FUZZ_TARGETS); do ./$(B)/$${t}_replay tests/fuzz/corpus/$${t#fuzz_} || exit 1; done
	@[ -z "$(CORPUS_SEEDS_decode_x)" ] || ./$(B)/fuzz_decode_x_replay $(CORPUS_SEEDS_decode_x)
	@[ -z "$(CORPUS_SEEDS_ndjson)" ] || ./$(B)/fuzz_ndjson_replay $(CORPUS_SEEDS_ndjson)
	@[ -z "$(CORPUS_SEEDS_decode_x1)" ] || ./$(B)/fuzz_decode_x1_replay $(CORPUS_SEEDS_decode_x1)
	@[ -z "$(CORPUS_SEEDS_mastodon)" ] || ./$(B)/fuzz_mastodon_replay $(CORPUS_SEEDS_mastodon)
	@[ -z "$(CORPUS_SEEDS_rss)" ] || ./$(B)/fuzz_rss_replay $(CORPUS_SEEDS_rss)
	@[ -z "$(CORPUS_SEEDS_jetstream)" ] || ./$(B)/fuzz_jetstream_replay $(CORPUS_SEEDS_jetstream)
	@[ -z "$(CORPUS_SEEDS_alert)" ] || ./$(B)/fuzz_alert_replay $(CORPUS_SEEDS_alert)

# libFuzzer with ASan/UBSan: make fuzz [FUZZ_TIME=seconds per target].  New
# coverage goes to $(FB)/corpus-*, crashes to $(FB)/; add what a crash teaches
# to tests/fuzz/corpus/ once fixed.
$(FB)/%.o: daemon/%.c | $(FB)
	clang $(CPPFLAGS) $(DEPFLAGS) -g -O1 -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c -o $@ $<

$(FB):
	@mkdir -p $(FB)

$(FB)/fuzz_%: tests/fuzz/fuzz_%.c $(CORE_SRC:daemon/%.c=$(FB)/%.o)
	clang $(CPPFLAGS) $(DEPFLAGS) -Idaemon -g -O1 -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(CORE_SRC:daemon/%.c=$(FB)/%.o) $(LDLIBS)

fuzz: $(FUZZ_TARGETS:%=$(FB)/%)
	@for t in $(FUZZ_TARGETS); do c=$${t#fuzz_}; mkdir -p $(FB)/corpus-$$c; \
	  ./$(FB)/$$t -max_total_time=$(FUZZ_TIME) -max_len=4096 -artifact_prefix=$(FB)/$$t- \
	    $(FB)/corpus-$$c tests/fuzz/corpus/$$c > $(FB)/$$t.log 2>&1; rc=$$?; \
	  grep -E "DONE|ERROR|SUMMARY" $(FB)/$$t.log; \
	  [ $$rc -eq 0 ] || { echo "$$t: failed, see $(FB)/$$t.log"; exit 1; }; done

# Keep the sanitizer objects between fuzz builds.
.SECONDARY:

# make bench: optimised build, then the figures of README "Performance".
$(B)/bench_rules: scripts/bench/bench_rules.c $(CORE_OBJ)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) -Idaemon $(CFLAGS) $(WARN) -o $@ $< $(CORE_OBJ) $(LDLIBS)

$(B)/bench_spike: scripts/bench/bench_spike.c $(CORE_OBJ)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) -Idaemon $(CFLAGS) $(WARN) -o $@ $< $(CORE_OBJ) $(LDLIBS)

$(B)/xblast: scripts/bench/xblast.c | $(B)
	$(CC) -O2 $(WARN) -o $@ $<

# An experiment, not part of mentiond: simdjson (C++) on the bench's input.
$(B)/simdjson_parse: scripts/bench/simdjson_parse.cc | $(B)
	$(CXX) -O3 -std=c++17 -Wall -Wextra -Werror -o $@ $< -lsimdjson

bench: deps
	@scripts/install-deps bench
	$(MAKE) clean-objs
	$(MAKE) CFLAGS="-O3 -g" all $(B)/bench_rules $(B)/bench_spike $(B)/xblast $(B)/simdjson_parse
	$(PYTHON) scripts/bench/run
	@echo
	./$(B)/bench_spike 30

# Minutes of steady stream through Redis and mentiond faults, then a gap
# check and the RSS samples (scripts/soak).  Not part of make test.
SOAK_SECONDS ?= 300
SOAK_RATE ?= 200
SOAK_FLEET_SECONDS ?= 600
SOAK_FLEET_RATE ?= 60
soak: $(B)/mentiond
	$(PYTHON) scripts/soak --seconds $(SOAK_SECONDS) --rate $(SOAK_RATE)
	$(PYTHON) scripts/soak --fleet 3 --seconds $(SOAK_FLEET_SECONDS) --rate $(SOAK_FLEET_RATE) --fault-every 30

clean-objs:
	rm -f $(B)/*.o $(B)/*.d $(ALLOC_B)/*.o $(ALLOC_B)/*.d

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do \
	  MENTIOND_SRCDIR=$(CURDIR) ./$$t || fail=1; done; exit $$fail

integration: $(B)/mentiond
	MENTIOND_BIN=$(CURDIR)/$(B)/mentiond $(PYTHON) -m pytest -q tests/integration

# The same scenarios against the ASan/UBSan daemon: every test checks the
# exit status, so a sanitizer report or a leak at shutdown fails it.
integration-san:
	$(MAKE) B=build-san CFLAGS="$(SAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" build-san/mentiond
	MENTIOND_SANITIZED=1 MENTIOND_BIN=$(CURDIR)/build-san/mentiond $(PYTHON) -m pytest -q tests/integration

# The README's test command: dependencies, build (gcc, and clang in its own
# directory: both must stay warning-free), unit tests, integration tests.
test: deps
	$(MAKE) all
	$(MAKE) check-clang
	$(MAKE) check-layers
	$(MAKE) unit
	$(MAKE) fuzz-replay
	$(MAKE) sanitize
	$(MAKE) fuzz FUZZ_TIME=4
	$(MAKE) integration
	$(MAKE) integration-san

# The unit tests, fuzz replays and daemon again under AddressSanitizer and
# UndefinedBehaviorSanitizer (build-san/), as make test runs them.
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
sanitize:
	$(MAKE) B=build-san CFLAGS="$(SAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" build-san/mentiond unit fuzz-replay

check-clang:
	$(MAKE) B=build-clang CC=clang build-clang/mentiond $(UNIT_TESTS:%=build-clang/%) build-clang/test_alloc

# Delivery sits below matching: spool and redis_sink must compile with only
# their own headers and those below them.  Each is copied with exactly those
# into a directory of its own, so a "..." include cannot reach the rest of
# daemon/ (the rule engine: rules, matcher, scorer, incident, alert_build).
DELIVERY_SRC := spool.c redis_sink.c fleet.c
DELIVERY_HDR := spool.h redis_sink.h redis_conn.h alert.h level.h config.h pii.h buf.h util.h log.h strmap.h fleet.h rendezvous.h
check-layers: | $(B)
	@rm -rf $(B)/layers && mkdir -p $(B)/layers
	@cp $(addprefix daemon/,$(DELIVERY_SRC) $(DELIVERY_HDR)) $(B)/layers/
	@for f in $(DELIVERY_SRC); do \
	  $(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $(B)/layers/$${f%.c}.o $(B)/layers/$$f || exit 1; done
	@echo "check-layers: $(DELIVERY_SRC) compile with only $(DELIVERY_HDR)"

run: deps
	$(MAKE) all
	@scripts/run-demo

clean:
	rm -rf $(B) build-clang build-san $(FB) $(DEB) run

# The recorded header dependencies of whatever this build directory holds.
-include $(wildcard $(B)/*.d $(ALLOC_B)/*.d $(FB)/*.d)
