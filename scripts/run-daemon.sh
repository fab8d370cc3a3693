#!/usr/bin/env bash
# `make run`: runs the daemon in the foreground on the session bus. Without a session bus it
# starts a private one (stopped again when the daemon exits) and prints how to reach it.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in tmux dbus-daemon busctl; do
  command -v "$tool" >/dev/null || { echo "make run needs '$tool' (Debian: apt-get install tmux dbus-daemon systemd)" >&2; exit 1; }
done

# cargo's own progress: the first build takes minutes and should be seen to move.
echo "Building trusty-mpm (cargo build)..."
cargo build
bin="${CARGO_TARGET_DIR:-target}/debug/trusty-mpm"

bus_ok() { busctl --user status >/dev/null 2>&1; }
private_bus_pid=""
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] && [ -S "${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/bus" ]; then
  export DBUS_SESSION_BUS_ADDRESS="unix:path=${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/bus"
fi
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] || ! bus_ok; then
  rundir=$(mktemp -d -t trusty-mpm-bus.XXXXXX)
  read -r addr pid < <(dbus-daemon --session --fork --address="unix:path=$rundir/bus" --print-address=1 --print-pid=1 | paste -sd' ')
  export DBUS_SESSION_BUS_ADDRESS="$addr"
  private_bus_pid=$pid
  trap 'kill "$private_bus_pid" 2>/dev/null; rm -rf "$rundir"' EXIT
  echo "No session bus was running; started a private one. To reach it from another shell:"
  echo "  export DBUS_SESSION_BUS_ADDRESS='$addr'"
fi

if [ -z "${TRUSTY_MPM_CLAUDE_COMMAND:-}" ] && ! command -v claude >/dev/null; then
  export TRUSTY_MPM_CLAUDE_COMMAND="$PWD/tests/fixtures/claude"
  echo "claude is not on PATH; new sessions run the stand-in $TRUSTY_MPM_CLAUDE_COMMAND"
fi

cat <<MSG
Starting trusty-mpm on $DBUS_SESSION_BUS_ADDRESS (Ctrl-C stops it; sessions keep running). Try:
  busctl --user call org.trusty.Mpm1 /org/trusty/Mpm1 org.trusty.Mpm1 StartSession 'ssa{sv}' "\$PWD" '' 0
  busctl --user call org.trusty.Mpm1 /org/trusty/Mpm1 org.trusty.Mpm1 ListSessions
  busctl --user tree org.trusty.Mpm1
MSG
# Not exec: the trap above must stop the private bus when the daemon exits. Ctrl-C reaches the
# daemon (same process group), which stops; this script only waits for it and says so.
trap : INT TERM
status=0
"$bin" daemon || status=$?
echo "trusty-mpm stopped (exit status $status)${private_bus_pid:+; stopping the private bus it ran on}." \
  "Sessions keep running in tmux; \`make run\` again picks them up."
exit "$status"
