# jobd — one hand-written Makefile.  Objects go under build/ (build/asan/ with
# SANITIZE=1), so a sanitizer build never mixes with a normal one.

PREFIX   ?= /usr/local
DESTDIR  ?=
BINDIR   ?= $(PREFIX)/bin
SBINDIR  ?= $(PREFIX)/sbin
MANDIR   ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR  ?= $(PREFIX)/lib/systemd/system
USERUNITDIR ?= $(PREFIX)/lib/systemd/user
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DOCDIR   ?= $(PREFIX)/share/doc/jobd
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
INCLUDEDIR ?= $(PREFIX)/include
LIBDIR   ?= $(PREFIX)/lib

CC       ?= cc
PKG_CONFIG ?= pkg-config
VERSION  := 0.1.0

# CFLAGS, CPPFLAGS, LDFLAGS and LDLIBS are the user's: `make CFLAGS=-O0`
# changes the optimisation and nothing else.  What the build needs (the
# language, the warnings, hardening, sanitizers, dependency files, include
# paths, libraries) lives in the JOBD_* variables below, which the rules
# put before the user's, so a user flag can still override a default.
ifeq ($(SANITIZE),1)
B        := build/asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
CFLAGS   ?= -O1 -g
else
B        := build
SANFLAGS :=
CFLAGS   ?= -O2 -g
endif

WARN     := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wundef -Wvla \
            -Wimplicit-fallthrough
PKGS     := jansson sqlite3 inih libpq
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) check 2>/dev/null)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
JANSSON_LIBS = $(shell $(PKG_CONFIG) --libs jansson 2>/dev/null)
CHECK_LIBS = $(shell $(PKG_CONFIG) --libs check 2>/dev/null)
# libpq, for the integration tests' PostgreSQL fixture, which the unit
# suites of the PostgreSQL store use too (the daemon has it in PKGS).
PQ_CFLAGS = $(shell $(PKG_CONFIG) --cflags libpq 2>/dev/null)
PQ_LIBS = $(shell $(PKG_CONFIG) --libs libpq 2>/dev/null)

# glibc's _FORTIFY_SOURCE needs an optimising compile: without one it does
# nothing, and older glibc's <features.h> warns, which -Werror makes an
# error (newer ones ignore it quietly).  So it is defined
# only when the user's CFLAGS optimise (the compiler says whether
# __OPTIMIZE__ is set), never beside the sanitizers (they check the same
# calls themselves), and never over the user's own _FORTIFY_SOURCE.
OPTIMIZING := $(strip $(shell printf '__OPTIMIZE__\n' | \
                $(CC) $(CPPFLAGS) $(CFLAGS) -E -P -x c - 2>/dev/null))
USER_FORTIFY := $(findstring _FORTIFY_SOURCE,$(CPPFLAGS) $(CFLAGS))
ifeq ($(filter 1,$(SANITIZE))$(OPTIMIZING)$(USER_FORTIFY),1)
FORTIFY  := -D_FORTIFY_SOURCE=2
else
FORTIFY  :=
endif

# Only the daemon's objects, and the unit suites and fuzz targets that
# drive them, see daemon/ headers (DAEMON_INC, set per object below): the
# client library, jobctl, the benchmarks and the integration tests know
# only include/.
BASE_CPPFLAGS = -D_GNU_SOURCE -DJOBD_VERSION='"$(VERSION)"' -Iinclude \
                $(DAEMON_INC) $(PKG_CFLAGS)
DAEMON_INC :=
JOBD_CPPFLAGS = $(BASE_CPPFLAGS) $(FORTIFY)
JOBD_CFLAGS := -std=c11 $(WARN) -fstack-protector-strong $(SANFLAGS) -MMD -MP
JOBD_LDFLAGS := $(SANFLAGS)

# What each program links beside its objects: the daemon (and the unit
# suites, which link its modules) everything; the client library and what
# is built on it only jansson and libm (the integration tests libpq too,
# for their PostgreSQL fixture).
DAEMON_LIBS = $(PKG_LIBS) -lev -lm
CLIENT_LIBS = $(JANSSON_LIBS) -lm
LINK = $(CC) $(JOBD_LDFLAGS) $(LDFLAGS) -o $@ $^

# The daemon's modules, lowest layer first.  main.c is wiring only.
DAEMON_MODS := xmem buf utf8 diag log users safedir backoff ratelimit cron \
               jsonin joblimits labels jobspec progress producer_spec queue_conf \
               config joblog talkback coro loop await errpipe spawner cgroup \
               store store_sqlite store_sql store_queue store_job \
               store_job_json store_jobobj store_dispatch pgconn \
               store_pg_sql store_pg store_pg_job \
               store_pg_queue store_pg_job_json store_pg_dep store_pg_node \
               store_pg_attempt store_pg_events \
               queue runner events scheduler jobs \
               consumer submit hooks producer cluster relay control commands \
               cmd_job cmd_bulk cmd_logs cmd_queue cmd_producer cmd_admin sdnotify \
               service
DAEMON_OBJS := $(DAEMON_MODS:%=$(B)/daemon/%.o)
# The client library, libjobd.a: the C API of include/jobd/.  The daemon
# links it too, for the protocol names and times.
LIB_SRCS := lib/proto.c lib/jobd_time.c lib/client.c
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
# jobctl: main.c dispatches, one file per command family beside it.  Its
# objects go under $(B)/jobctl-obj/, since $(B)/jobctl is the program.
# The unit suites link what they test of it (the renderer and the
# Prometheus writer, with the helpers those use), not its commands.
JOBCTL_SRCS := $(wildcard jobctl/*.c)
JOBCTL_OBJS := $(JOBCTL_SRCS:jobctl/%.c=$(B)/jobctl-obj/%.o)
JOBCTL_MOD_OBJS := $(B)/jobctl-obj/jobctl.o $(B)/jobctl-obj/render.o \
                   $(B)/jobctl-obj/prom.o

UNIT_SRCS := $(wildcard tests/unit/check_*.c)
UNIT_OBJS := $(UNIT_SRCS:%.c=$(B)/%.o)
INTEG_SRCS := $(wildcard tests/integration/*.c)
INTEG_OBJS := $(INTEG_SRCS:%.c=$(B)/%.o)
CLUSTER_SRCS := $(wildcard tests/cluster/*.c)
CLUSTER_OBJS := $(CLUSTER_SRCS:%.c=$(B)/%.o)

all: $(B)/jobd $(B)/jobctl
.PHONY: all deps check check-cluster unit integration asan valgrind run install uninstall \
        clean format format-check tidy bench fuzz fuzz-build fuzz-check

# `deps` installs whatever is missing with apt-get (sudo when not root),
# and does nothing when everything is present.  No object rule runs it:
# the targets that need packages (run, check, bench, the fuzz and format
# targets) run scripts/deps.sh first and then build in a sub-make, so even
# with -j nothing compiles before the packages are in.
deps:
	@scripts/deps.sh

$(B)/daemon/%.o $(B)/tests/unit/%.o: DAEMON_INC := -Idaemon
$(B)/tests/integration/%.o: JOBD_CPPFLAGS += $(PQ_CFLAGS)
$(B)/tests/cluster/%.o: JOBD_CPPFLAGS += $(PQ_CFLAGS) -Itests/integration

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(JOBD_CPPFLAGS) $(CPPFLAGS) $(JOBD_CFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/jobctl-obj/%.o: jobctl/%.c
	@mkdir -p $(@D)
	$(CC) $(JOBD_CPPFLAGS) $(CPPFLAGS) $(JOBD_CFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/libjobd.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/jobd: $(DAEMON_OBJS) $(B)/daemon/main.o $(B)/libjobd.a
	$(LINK) $(DAEMON_LIBS) $(LDLIBS)

$(B)/jobctl: $(JOBCTL_OBJS) $(B)/libjobd.a
	$(LINK) $(CLIENT_LIBS) $(LDLIBS)

# The benchmark programs that speak through the client library: the crash
# torture and soak (chaos) and the loop-lag probe, with the start-up helpers
# they share (bench/common.c).  bench/run.sh builds its other tools itself.
BENCH_BINS := $(B)/bench/chaos $(B)/bench/looplag
$(B)/bench/chaos: $(B)/bench/chaos.o $(B)/bench/chaos_client.o \
		$(B)/bench/chaos_audit.o $(B)/bench/common.o $(B)/libjobd.a
	$(LINK) $(CLIENT_LIBS) $(LDLIBS)
$(B)/bench/looplag: $(B)/bench/looplag.o $(B)/bench/common.o $(B)/libjobd.a
	$(LINK) -pthread $(CLIENT_LIBS) $(LDLIBS)

# The unit suites of the PostgreSQL store start a server with the
# integration tests' fixture (pgfix, with the harness's jd_guard).
PGFIX_OBJS := $(B)/tests/integration/pgfix.o $(B)/tests/integration/harness.o
$(B)/check_unit: $(UNIT_OBJS) $(DAEMON_OBJS) $(JOBCTL_MOD_OBJS) \
                 $(PGFIX_OBJS) $(B)/libjobd.a
	$(LINK) $(DAEMON_LIBS) $(CHECK_LIBS) $(LDLIBS)

$(B)/check_integration: $(INTEG_OBJS) $(B)/libjobd.a
	$(LINK) $(CLIENT_LIBS) $(PQ_LIBS) $(CHECK_LIBS) $(LDLIBS)

# The cluster scenarios: three nodes on one private PostgreSQL, with the
# integration harness and its server fixture.
$(B)/check_cluster: $(CLUSTER_OBJS) $(PGFIX_OBJS) $(B)/libjobd.a
	$(LINK) $(CLIENT_LIBS) $(PQ_LIBS) $(CHECK_LIBS) $(LDLIBS)

# `make check` runs every test: the layout rules (scripts/check-layout.sh),
# the unit suites, then the integration suites against a real jobd and
# jobctl, the cluster scenarios, a bench smoke, the systemd unit checks, an install and uninstall
# into a temporary DESTDIR, and the fuzz targets.
check:
	@scripts/deps.sh --quiet build pg $(CHECK_DEPS)
	@$(MAKE) --no-print-directory all $(B)/check_unit $(B)/check_integration \
		$(B)/check_cluster $(BENCH_BINS)
	scripts/check-layout.sh
	$(B)/check_unit
	scripts/check-stores.sh $(B) $(CHECK_STORES)
	$(CHECK_PLAIN)

# The plain build runs the integration suites on both stores, the second
# time with every jobd on PostgreSQL (those the runner marks so), then the
# cluster scenarios (tests/cluster/: JOBD_CLUSTER_ALL=1 adds those whose
# features jobd does not have yet), the bench smoke, the unit files, the
# install and the fuzz targets (always sanitized).  Under SANITIZE=1 only
# the SQLite run comes again: the sanitizers see the PostgreSQL store's
# code in the unit suites of both backends, and the rest tests nothing the
# sanitizers would add to.
ifeq ($(SANITIZE),1)
CHECK_STORES := sqlite
CHECK_PLAIN := @true
CHECK_DEPS :=
else
CHECK_STORES :=
CHECK_PLAIN := JOBD_BIN=$(B)/jobd JOBCTL_BIN=$(B)/jobctl $(B)/check_cluster && \
	bench/run.sh $(B) --smoke && scripts/verify-units.sh && \
	scripts/check-install.sh && $(MAKE) --no-print-directory fuzz-check
CHECK_DEPS := fuzz
endif

# ---- fuzzing (tests/fuzz/README.md) ----
# libFuzzer targets built with clang under ASan+UBSan in build/fuzz/: every
# source compiled with coverage, and each target linked with all daemon
# modules.  `make fuzz` runs each for FUZZ_TIME seconds (new inputs kept
# in build/fuzz/corpus/), `make fuzz-check` for FUZZ_CHECK_TIME from the
# seeds alone; tests/fuzz/corpus/ is only read, crashes go to
# build/fuzz/artifacts/, and the run fails if any target crashed.
FUZZ_CC  ?= clang
FUZZ_TIME ?= 60
FUZZ_CHECK_TIME ?= 20
FZ       := build/fuzz
FUZZ_TARGETS := request jobspec config cron time utf8
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
FUZZ_CFLAGS := -O1 -g -std=c11 $(WARN) $(FUZZ_SAN) \
               -fsanitize=fuzzer-no-link -MMD -MP
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FZ)/fuzz_%)
FUZZ_LIB_OBJS := $(DAEMON_MODS:%=$(FZ)/daemon/%.o) \
                 $(FZ)/lib/proto.o $(FZ)/lib/jobd_time.o

# Kept between runs: make would delete them as intermediates.
.PRECIOUS: $(FZ)/%.o

$(FZ)/daemon/%.o $(FZ)/tests/fuzz/%.o: DAEMON_INC := -Idaemon

$(FZ)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(BASE_CPPFLAGS) $(CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<

# The request target links runner_spawn to a stand-in that starts nothing:
# no request may run a process while fuzzing.
$(FZ)/fuzz_request: LDWRAP := -Wl,--wrap=runner_spawn
$(FZ)/fuzz_%: $(FZ)/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $(LDWRAP) -o $@ $^ \
		$(DAEMON_LIBS)

fuzz-build:
	@scripts/deps.sh --quiet build fuzz
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

fuzz: fuzz-build
	tests/fuzz/run.sh $(FZ) $(FUZZ_TIME) $(FUZZ_TARGETS)

fuzz-check: fuzz-build
	tests/fuzz/run.sh --fresh $(FZ) $(FUZZ_CHECK_TIME) $(FUZZ_TARGETS)

unit: $(B)/check_unit
	$(B)/check_unit

integration: all $(B)/check_integration
	JOBD_BIN=$(B)/jobd JOBCTL_BIN=$(B)/jobctl $(B)/check_integration

check-cluster:
	@scripts/deps.sh --quiet build pg
	@$(MAKE) --no-print-directory all $(B)/check_cluster
	JOBD_BIN=$(B)/jobd JOBCTL_BIN=$(B)/jobctl $(B)/check_cluster

asan:
	$(MAKE) SANITIZE=1 check

# The unit suites under Valgrind, unforked so leaks are seen.
valgrind: $(B)/check_unit
	CK_FORK=no valgrind -q --error-exitcode=9 --leak-check=full \
		--child-silent-after-fork=yes \
		--errors-for-leak-kinds=definite $(B)/check_unit

run:
	@scripts/deps.sh --quiet build
	@$(MAKE) --no-print-directory all
	$(B)/jobd

# BENCH_ARGS=--full for the ten-minute run; the default is --quick.
bench:
	@scripts/deps.sh --quiet build
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	bench/run.sh $(B) $(BENCH_ARGS)

# What `make install` puts, one path each (under $(DESTDIR)), so that
# `make uninstall` removes exactly that with the same PREFIX and DESTDIR.
PUBLIC_HEADERS := $(wildcard include/jobd/*.h)
INSTALLED := $(SBINDIR)/jobd $(BINDIR)/jobctl \
             $(PUBLIC_HEADERS:include/%=$(INCLUDEDIR)/%) $(LIBDIR)/libjobd.a \
             $(MANDIR)/man1/jobctl.1 $(MANDIR)/man5/jobd.conf.5 \
             $(MANDIR)/man7/jobd-protocol.7 $(MANDIR)/man8/jobd.8 \
             $(UNITDIR)/jobd.service $(UNITDIR)/jobd.socket \
             $(USERUNITDIR)/jobd.service $(USERUNITDIR)/jobd.socket \
             $(SYSUSERSDIR)/jobd.conf $(TMPFILESDIR)/jobd.conf \
             $(DOCDIR)/jobd-strict.conf \
             $(SYSCONFDIR)/jobd/jobd.conf.example $(BASHCOMPDIR)/jobctl
# The directories that are jobd's alone; uninstall removes them when empty
# (a jobd.conf written beside the example stays, and so does its folder).
INSTALLED_DIRS := $(INCLUDEDIR)/jobd $(SYSCONFDIR)/jobd $(DOCDIR)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR)
	install -m 0755 $(B)/jobd $(DESTDIR)$(SBINDIR)/jobd
	install -m 0755 $(B)/jobctl $(DESTDIR)$(BINDIR)/jobctl
	install -d $(DESTDIR)$(INCLUDEDIR)/jobd $(DESTDIR)$(LIBDIR)
	install -m 0644 $(PUBLIC_HEADERS) $(DESTDIR)$(INCLUDEDIR)/jobd/
	install -m 0644 $(B)/libjobd.a $(DESTDIR)$(LIBDIR)/libjobd.a
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 docs/jobctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 docs/jobd.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 docs/jobd-protocol.7 $(DESTDIR)$(MANDIR)/man7/
	install -m 0644 docs/jobd.8 $(DESTDIR)$(MANDIR)/man8/
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(USERUNITDIR)
	sed 's|@SBINDIR@|$(SBINDIR)|g' systemd/jobd.service.in > $(DESTDIR)$(UNITDIR)/jobd.service
	install -m 0644 systemd/jobd.socket $(DESTDIR)$(UNITDIR)/jobd.socket
	sed 's|@SBINDIR@|$(SBINDIR)|g' systemd/jobd-user.service.in > $(DESTDIR)$(USERUNITDIR)/jobd.service
	install -m 0644 systemd/jobd-user.socket $(DESTDIR)$(USERUNITDIR)/jobd.socket
	install -d $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(DOCDIR)
	install -m 0644 systemd/jobd.sysusers $(DESTDIR)$(SYSUSERSDIR)/jobd.conf
	install -m 0644 systemd/jobd.tmpfiles $(DESTDIR)$(TMPFILESDIR)/jobd.conf
	install -m 0644 systemd/jobd-strict.conf $(DESTDIR)$(DOCDIR)/jobd-strict.conf
	install -d $(DESTDIR)$(SYSCONFDIR)/jobd
	install -m 0644 docs/jobd.conf.example $(DESTDIR)$(SYSCONFDIR)/jobd/jobd.conf.example
	install -d $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 scripts/jobctl.bash $(DESTDIR)$(BASHCOMPDIR)/jobctl
	@$(APPLY_SNIPPETS)

# Installing as root into the live system (no DESTDIR) applies the two
# snippets at once, where systemd's tools are present: the group jobd and
# /var/lib/jobd, /run/jobd are there before anything starts.  Otherwise
# systemd applies them at the next boot (packages run the tools themselves).
ifeq ($(DESTDIR),)
APPLY_SNIPPETS = if [ "$$(id -u)" = 0 ]; then \
	if command -v systemd-sysusers >/dev/null 2>&1; then \
		echo "systemd-sysusers $(SYSUSERSDIR)/jobd.conf"; \
		systemd-sysusers $(SYSUSERSDIR)/jobd.conf || exit 1; \
	fi; \
	if command -v systemd-tmpfiles >/dev/null 2>&1; then \
		echo "systemd-tmpfiles --create $(TMPFILESDIR)/jobd.conf"; \
		systemd-tmpfiles --create $(TMPFILESDIR)/jobd.conf || exit 1; \
	fi; \
fi
else
APPLY_SNIPPETS = :
endif

# uninstall leaves what the snippets made (the group jobd, /var/lib/jobd
# with every job's database and logs): remove those by hand if wanted.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	for d in $(addprefix $(DESTDIR),$(INSTALLED_DIRS)); do \
		if [ -d "$$d" ]; then rmdir --ignore-fail-on-non-empty "$$d"; fi; \
	done

# clang-format lays out every C file of the project (.clang-format, written
# for clang-format 14: another version may lay out a few lines otherwise).
# `format` rewrites them in place; `format-check` changes nothing, lists the
# files that differ and fails if there are any.
CLANG_FORMAT ?= clang-format
FORMAT_DIRS := daemon lib $(patsubst %/,%,$(sort $(dir $(JOBCTL_SRCS)))) \
               include/jobd tests/unit tests/integration tests/cluster \
               tests/fuzz bench
FORMAT_SRCS = $(wildcard $(addsuffix /*.[ch],$(FORMAT_DIRS)))

format:
	@CLANG_FORMAT=$(CLANG_FORMAT) scripts/deps.sh --quiet format
	$(CLANG_FORMAT) -i $(FORMAT_SRCS)

format-check:
	@CLANG_FORMAT=$(CLANG_FORMAT) scripts/deps.sh --quiet format
	@differ=; \
	for f in $(FORMAT_SRCS); do \
		$(CLANG_FORMAT) --dry-run --Werror "$$f" 2>/dev/null || \
			differ="$$differ $$f"; \
	done; \
	if [ -n "$$differ" ]; then \
		echo "format-check: not as clang-format lays them out" \
			"(make format):"; \
		printf '  %s\n' $$differ; \
		exit 1; \
	fi

tidy:
	clang-tidy daemon/*.c -- $(JOBD_CPPFLAGS) -Idaemon $(CPPFLAGS) -std=c11
	clang-tidy $(LIB_SRCS) $(JOBCTL_SRCS) -- $(JOBD_CPPFLAGS) $(CPPFLAGS) \
		-std=c11

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
