#!/usr/bin/env bash
# `make test`: the whole suite. The end-to-end tests start a private `systemd --user`, which
# needs /run/systemd/system to exist (it does on any machine booted with systemd; on a bare
# container we are root and create it, as a booted system would have it).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d /run/systemd/system ]; then
  if [ "$(id -u)" = 0 ]; then
    mkdir -p /run/systemd/system
  else
    echo "make test: /run/systemd/system is missing, so systemd --user cannot run here" >&2
    exit 1
  fi
fi
# test-faults: the fault switches the watchdog test uses (never in a release build).
# The tests that run a private `systemd --user` go last, one at a time: as root on a cgroup-v1
# host such a manager reaches beyond its own processes, and the other tests' sessions stalled
# when it ran beside them.
SYSTEMD_TESTS=(e2e_systemd:: install:: readme::readme_service_commands_run
  the_service_s_key_reaches_claude)
skips=()
systemd_skips=()
for t in "${SYSTEMD_TESTS[@]}"; do skips+=(--skip "$t"); done
# The real Claude Code suite installs Claude Code with npm (into ~/.cache, once per version).
# Without npm it is skipped, and said so; never on CI, which must run it (.ci/run installs npm).
if ! command -v npm >/dev/null && [ "${CI:-}" != true ]; then
  echo "make test: npm is not on PATH, so the real Claude Code suite (tests/it/real_claude) is" \
    "SKIPPED; install nodejs and npm to run it" >&2
  skips+=(--skip real_claude::)
  systemd_skips=(--skip real_claude::)
fi
cargo test --all-targets --features test-faults -- "${skips[@]}"
cargo test --features test-faults --test it -- --test-threads=1 "${SYSTEMD_TESTS[@]}" \
  "${systemd_skips[@]}"
