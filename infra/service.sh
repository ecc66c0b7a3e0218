# Shared by infra/dynamodb-local.sh and infra/tansu.sh (sourced, not run): wait for a background service to be
# ready, and stop it. Callers define say() and die().

# wait_ready PID_FILE LOG_FILE WHAT CHECK...: run CHECK every 0.25 s until it succeeds (30 s at most); fail with
# the service's log if the process exits first or never becomes ready.
wait_ready() {
  local pid_file="$1" log_file="$2" what="$3"
  shift 3
  for _ in $(seq 1 120); do
    if "$@" >/dev/null 2>&1; then
      say "ready at $what (pid $(cat "$pid_file"))"
      return
    fi
    kill -0 "$(cat "$pid_file")" 2>/dev/null || { cat "$log_file" >&2; die "it exited during start-up"; }
    sleep 0.25
  done
  cat "$log_file" >&2
  die "not ready after 30 s"
}

# stop_pid PID_FILE: SIGTERM, up to 10 s to exit, then SIGKILL; forget the pid.
stop_pid() {
  local pid_file="$1" pid
  [[ -f "$pid_file" ]] || return 0
  pid=$(cat "$pid_file")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
}
