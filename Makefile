# The two quick-start commands: `make run` (the daemon) and `make test` (every test).
# `make install` puts the service, its desktop entry and icons in the user's standard locations
# (PREFIX, default ~/.local); `make uninstall` takes all of it away again (and the relay out of
# Claude Code's settings), keeping config and registry; `make purge` removes those too.
# `make bench` measures the figures of docs/performance.md (not part of `make test`).
.PHONY: run test bench build lint install uninstall purge

PREFIX ?= $(HOME)/.local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
UNITDIR ?= $(DATADIR)/systemd/user
DBUSDIR ?= $(DATADIR)/dbus-1/services
IFACEDIR ?= $(DATADIR)/dbus-1/interfaces
MANDIR ?= $(DATADIR)/man/man1
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
APPDIR ?= $(DATADIR)/applications
ICONDIR ?= $(DATADIR)/icons/hicolor/scalable/apps
STATUSICONDIR ?= $(DATADIR)/icons/hicolor/scalable/status
# The binary to install; the default is built in release mode first. HOOK_BIN is the relay's
# own small executable, which `trusty-mpm hooks install` writes into Claude Code's settings.
BIN ?= target/release/trusty-mpm
HOOK_BIN ?= $(dir $(BIN))trusty-mpm-hook

run:
	scripts/run-daemon.sh

# Unit tests and the integration suite (private dbus-daemon, private tmux server, fake claude,
# private systemd --user for the end-to-end tests).
test:
	scripts/test.sh

# Release build, private dbus-daemon, tmux server and daemon; prints the table and writes
# target/bench/report.json. BENCH_IDLE_SECS shortens the 60 s idle window.
bench:
	cargo bench --bench harness

build:
	cargo build --release

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features test-faults -- -D warnings
	cargo clippy --bench harness -- -D warnings

UNITS = trusty-mpm.service trusty-mpm-notify.service trusty-mpm-tray.service
# The tray's icons, one per state (drawn by src/cli/tray/icon.rs).
STATUSICONS = $(foreach s,down idle running attention,trusty-mpm-$(s).svg)
SLICE = trusty-mpm.slice

install:
	@if [ "$(BIN)" = target/release/trusty-mpm ]; then cargo build --release; fi
	install -Dm755 "$(BIN)" "$(DESTDIR)$(BINDIR)/trusty-mpm"
	install -m755 "$(HOOK_BIN)" "$(DESTDIR)$(BINDIR)/trusty-mpm-hook"
	install -d "$(DESTDIR)$(UNITDIR)" "$(DESTDIR)$(DBUSDIR)" "$(DESTDIR)$(IFACEDIR)" \
		"$(DESTDIR)$(MANDIR)" "$(DESTDIR)$(BASHCOMPDIR)" "$(DESTDIR)$(ZSHCOMPDIR)" "$(DESTDIR)$(FISHCOMPDIR)" \
		"$(DESTDIR)$(APPDIR)" "$(DESTDIR)$(ICONDIR)" "$(DESTDIR)$(STATUSICONDIR)"
	sed -e 's|@bindir@|$(BINDIR)|g' -e 's|@datadir@|$(DATADIR)|g' \
		packaging/systemd/trusty-mpm.service.in > "$(DESTDIR)$(UNITDIR)/trusty-mpm.service"
	sed -e 's|@bindir@|$(BINDIR)|g' \
		packaging/systemd/trusty-mpm-notify.service.in > "$(DESTDIR)$(UNITDIR)/trusty-mpm-notify.service"
	install -m644 packaging/systemd/$(SLICE) "$(DESTDIR)$(UNITDIR)/$(SLICE)"
	sed -e 's|@bindir@|$(BINDIR)|g' \
		packaging/systemd/trusty-mpm-tray.service.in > "$(DESTDIR)$(UNITDIR)/trusty-mpm-tray.service"
	sed -e 's|@bindir@|$(BINDIR)|g' \
		packaging/dbus/org.trusty.Mpm1.service.in > "$(DESTDIR)$(DBUSDIR)/org.trusty.Mpm1.service"
	install -m644 packaging/dbus/org.trusty.Mpm1.xml "$(DESTDIR)$(IFACEDIR)/org.trusty.Mpm1.xml"
	sed -e 's|@bindir@|$(BINDIR)|g' \
		packaging/desktop/trusty-mpm.desktop.in > "$(DESTDIR)$(APPDIR)/trusty-mpm.desktop"
	install -m644 packaging/icons/trusty-mpm.svg "$(DESTDIR)$(ICONDIR)/trusty-mpm.svg"
	install -m644 $(addprefix packaging/icons/,$(STATUSICONS)) "$(DESTDIR)$(STATUSICONDIR)"
	"$(BIN)" man --dir "$(DESTDIR)$(MANDIR)"
	"$(BIN)" completions bash > "$(DESTDIR)$(BASHCOMPDIR)/trusty-mpm"
	"$(BIN)" completions zsh > "$(DESTDIR)$(ZSHCOMPDIR)/_trusty-mpm"
	"$(BIN)" completions fish > "$(DESTDIR)$(FISHCOMPDIR)/trusty-mpm.fish"
ifeq ($(DESTDIR),)
	-systemctl --user daemon-reload
	@# systemd finds units only on its user unit path; elsewhere they must be linked.
	@if command -v systemd-analyze >/dev/null && \
	    ! systemd-analyze --user unit-paths 2>/dev/null | grep -qxF "$(UNITDIR)"; then \
	  echo "$(UNITDIR) is not on systemd's user unit path; link the units with:"; \
	  echo "  systemctl --user link $(addprefix $(UNITDIR)/,$(UNITS) $(SLICE))"; \
	fi
endif

# What the daemon keeps and `make purge` removes: the config file, the state dir (registry,
# history, the list of settings files the hooks went into) and notify's runtime file. The same
# defaults and variables as the program's.
CONFIG_FILE ?= $(or $(TRUSTY_MPM_CONFIG),$(or $(XDG_CONFIG_HOME),$(HOME)/.config)/trusty-mpm/config.toml)
STATE_DIR ?= $(or $(TRUSTY_MPM_STATE_DIR),$(or $(XDG_STATE_HOME),$(HOME)/.local/state)/trusty-mpm)
RUNTIME_FILE ?= $(or $(XDG_RUNTIME_DIR),/run/user/$(shell id -u))/trusty-mpm-notify.ids

# First the relay's entries in every settings file `hooks install` wrote (while the binary that
# knows them is there: Claude Code would fail each hook on a missing binary), then the units
# (their .wants links, and the links `systemctl --user link` made) and the sessions' units
# (claude and what its tools run; the conversations stay in ~/.claude), then exactly what
# install put there.
uninstall:
ifeq ($(DESTDIR),)
	@if [ -x "$(BINDIR)/trusty-mpm" ]; then "$(BINDIR)/trusty-mpm" hooks uninstall --everywhere; \
	 else echo "$(BINDIR)/trusty-mpm is not there; check the hooks with \`trusty-mpm hooks status\`."; fi
	-systemctl --user disable --now $(UNITS)
	@echo "Stopping the sessions' units (claude and its tools; Claude Code keeps their conversations):"
	-systemctl --user stop $(SLICE) 'trusty-mpm-session-*.scope'
	-systemctl --user disable $(SLICE)
endif
	rm -f "$(DESTDIR)$(BINDIR)/trusty-mpm" "$(DESTDIR)$(BINDIR)/trusty-mpm-hook" $(foreach u,$(UNITS) $(SLICE),"$(DESTDIR)$(UNITDIR)/$(u)") \
		"$(DESTDIR)$(DBUSDIR)/org.trusty.Mpm1.service" "$(DESTDIR)$(IFACEDIR)/org.trusty.Mpm1.xml" \
		"$(DESTDIR)$(MANDIR)/trusty-mpm.1" "$(DESTDIR)$(MANDIR)"/trusty-mpm-*.1 \
		"$(DESTDIR)$(BASHCOMPDIR)/trusty-mpm" \
		"$(DESTDIR)$(ZSHCOMPDIR)/_trusty-mpm" "$(DESTDIR)$(FISHCOMPDIR)/trusty-mpm.fish" \
		"$(DESTDIR)$(APPDIR)/trusty-mpm.desktop" "$(DESTDIR)$(ICONDIR)/trusty-mpm.svg" \
		$(foreach i,$(STATUSICONS),"$(DESTDIR)$(STATUSICONDIR)/$(i)")
ifeq ($(DESTDIR),)
	-systemctl --user daemon-reload
	@echo "Kept your config ($(CONFIG_FILE)) and the registry ($(STATE_DIR)); \`make purge\` removes them too."
endif

# Uninstalls, then removes what the daemon and its clients kept.
purge: uninstall
	rm -rf "$(STATE_DIR)"
	rm -f "$(CONFIG_FILE)" "$(RUNTIME_FILE)"
	-rmdir "$(dir $(CONFIG_FILE))" 2>/dev/null
