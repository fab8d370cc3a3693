# The two quick-start commands: `make run` (the daemon) and `make test` (every test).
.PHONY: run test build lint

run:
	scripts/run-daemon.sh

# Unit tests and the integration suite (private dbus-daemon, private tmux server, fake claude).
test:
	cargo test --all-targets

build:
	cargo build --release

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
