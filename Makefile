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
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
INCLUDEDIR ?= $(PREFIX)/include
LIBDIR   ?= $(PREFIX)/lib

CC       ?= cc
PKG_CONFIG ?= pkg-config
VERSION  := 0.1.0

ifeq ($(SANITIZE),1)
B        := build/asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
OPTFLAGS := -O1 -g
else
B        := build
SANFLAGS :=
OPTFLAGS := -O2 -g -D_FORTIFY_SOURCE=2
endif

WARN     := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wundef -Wvla \
            -Wimplicit-fallthrough
PKGS     := jansson sqlite3 inih
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) check 2>/dev/null)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CHECK_LIBS = $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

CFLAGS   ?= $(OPTFLAGS)
CFLAGS   += -std=c11 $(WARN) -fstack-protector-strong $(SANFLAGS) -MMD -MP
CPPFLAGS += -D_GNU_SOURCE -DJOBD_VERSION='"$(VERSION)"' -Iinclude -Idaemon \
            $(PKG_CFLAGS)
LDFLAGS  += $(SANFLAGS)
LDLIBS   += $(PKG_LIBS) -lev -lm

# The daemon's modules, lowest layer first.  main.c is wiring only.
DAEMON_MODS := xmem buf utf8 diag log users safedir backoff ratelimit cron \
               jsonin jobspec producer_spec queue_conf config \
               joblog coro loop await spawner \
               store store_sqlite store_sql store_queue store_job store_job_json \
               queue runner events scheduler jobs \
               consumer submit producer control commands cmd_job cmd_logs \
               cmd_queue cmd_producer cmd_admin sdnotify service
DAEMON_OBJS := $(DAEMON_MODS:%=$(B)/daemon/%.o)
CLIENT_LIB_OBJS := $(B)/client/proto.o $(B)/client/jobd_time.o $(B)/client/client.o
# jobctl's files but main.o, which only the jobctl link takes.  Their
# objects go under $(B)/jobctl-obj/, since $(B)/jobctl is the program.
JOBCTL_MODS := jobctl render spec prom submit jobs logs stats queues top
JOBCTL_OBJS := $(JOBCTL_MODS:%=$(B)/jobctl-obj/%.o)
# What the unit suites test of jobctl: its renderer and Prometheus writer
# (with the helpers they use), not its commands.
JOBCTL_UNIT_OBJS := $(B)/jobctl-obj/jobctl.o $(B)/jobctl-obj/render.o \
                    $(B)/jobctl-obj/prom.o

UNIT_SRCS := $(wildcard tests/unit/check_*.c)
UNIT_OBJS := $(UNIT_SRCS:%.c=$(B)/%.o)
INTEG_SRCS := $(wildcard tests/integration/*.c)
INTEG_OBJS := $(INTEG_SRCS:%.c=$(B)/%.o)

all: $(B)/jobd $(B)/jobctl
.PHONY: all deps check unit integration asan valgrind run install clean \
        format tidy bench fuzz fuzz-build fuzz-check

# `deps` installs what pkg-config cannot find, with apt-get (sudo when not
# root).  It does nothing when everything is present.  Every object waits
# for it, so a fresh machine gets its packages before the first compile.
deps:
	@scripts/deps.sh
$(B)/.deps-ok:
	@scripts/deps.sh --quiet
	@mkdir -p $(@D) && touch $@

$(B)/%.o: %.c | $(B)/.deps-ok
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/jobctl-obj/%.o: jobctl/%.c | $(B)/.deps-ok
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/libjobd.a: $(CLIENT_LIB_OBJS)
	$(AR) rcs $@ $^

$(B)/jobd: $(DAEMON_OBJS) $(B)/daemon/main.o $(B)/libjobd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/jobctl: $(B)/jobctl-obj/main.o $(JOBCTL_OBJS) $(B)/libjobd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# The benchmark programs that speak through the client library: the crash
# torture and soak (chaos) and the loop-lag probe, with the start-up helpers
# they share (bench/common.c).  bench/run.sh builds its other tools itself.
BENCH_BINS := $(B)/bench/chaos $(B)/bench/looplag
$(B)/bench/chaos: $(B)/bench/chaos.o $(B)/bench/chaos_client.o \
		$(B)/bench/chaos_audit.o $(B)/bench/common.o $(B)/libjobd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm
$(B)/bench/looplag: $(B)/bench/looplag.o $(B)/bench/common.o $(B)/libjobd.a
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(PKG_LIBS) -lm

$(B)/check_unit: $(UNIT_OBJS) $(DAEMON_OBJS) $(JOBCTL_UNIT_OBJS) $(B)/libjobd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

$(B)/check_integration: $(INTEG_OBJS) $(B)/libjobd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS) -lm

# `make check` runs every test: the unit suites, then the integration
# suites against a real jobd and jobctl.
check: all $(B)/check_unit $(B)/check_integration $(BENCH_BINS)
	scripts/check-layout.sh
	$(B)/check_unit
	JOBD_BIN=$(B)/jobd JOBCTL_BIN=$(B)/jobctl $(B)/check_integration
	bench/run.sh $(B) --smoke
	scripts/verify-units.sh
	$(CHECK_FUZZ)

# The fuzz targets are always sanitized, so `make check` runs them once,
# from the plain build, and not again under SANITIZE=1.
ifeq ($(SANITIZE),1)
CHECK_FUZZ :=
else
CHECK_FUZZ := $(MAKE) --no-print-directory fuzz-check
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
                 $(FZ)/client/proto.o $(FZ)/client/jobd_time.o

# Kept between runs: make would delete them as intermediates.
.PRECIOUS: $(FZ)/%.o

$(FZ)/%.o: %.c | $(B)/.deps-ok
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<

# The request target links runner_spawn to a stand-in that starts nothing:
# no request may run a process while fuzzing.
$(FZ)/fuzz_request: LDWRAP := -Wl,--wrap=runner_spawn
$(FZ)/fuzz_%: $(FZ)/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $(LDWRAP) -o $@ $^ \
		$(PKG_LIBS) -lev -lm

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	tests/fuzz/run.sh $(FZ) $(FUZZ_TIME) $(FUZZ_TARGETS)

fuzz-check: fuzz-build
	tests/fuzz/run.sh --fresh $(FZ) $(FUZZ_CHECK_TIME) $(FUZZ_TARGETS)

unit: $(B)/check_unit
	$(B)/check_unit

integration: all $(B)/check_integration
	JOBD_BIN=$(B)/jobd JOBCTL_BIN=$(B)/jobctl $(B)/check_integration

asan:
	$(MAKE) SANITIZE=1 check

# The unit suites under Valgrind, unforked so leaks are seen.
valgrind: $(B)/check_unit
	CK_FORK=no valgrind -q --error-exitcode=9 --leak-check=full \
		--child-silent-after-fork=yes \
		--errors-for-leak-kinds=definite $(B)/check_unit

run: all
	$(B)/jobd

# BENCH_ARGS=--full for the ten-minute run; the default is --quick.
bench: all $(BENCH_BINS)
	bench/run.sh $(B) $(BENCH_ARGS)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR)
	install -m 0755 $(B)/jobd $(DESTDIR)$(SBINDIR)/jobd
	install -m 0755 $(B)/jobctl $(DESTDIR)$(BINDIR)/jobctl
	install -d $(DESTDIR)$(INCLUDEDIR)/jobd $(DESTDIR)$(LIBDIR)
	install -m 0644 include/jobd/*.h $(DESTDIR)$(INCLUDEDIR)/jobd/
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
	install -d $(DESTDIR)$(SYSCONFDIR)/jobd
	install -m 0644 docs/jobd.conf.example $(DESTDIR)$(SYSCONFDIR)/jobd/jobd.conf.example
	install -d $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 scripts/jobctl.bash $(DESTDIR)$(BASHCOMPDIR)/jobctl

format:
	clang-format -i daemon/*.[ch] client/*.[ch] include/jobd/*.h tests/*/*.[ch]

tidy:
	clang-tidy daemon/*.c client/*.c -- $(CPPFLAGS) -std=c11

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
