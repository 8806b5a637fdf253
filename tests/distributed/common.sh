# shellcheck shell=bash
# Sourced by the mpirun tests of this folder.

# wait_for_epoch JOB_PID MARKER_DIR EPOCH LOG NAME: waits (at most 60 s) until fit_child's rank 0
# has begun epoch EPOCH (0-based) and rank 1 has written its pid; otherwise kills the job, shows
# its log and fails.
wait_for_epoch() {
  local job="$1" markers="$2" epoch="$3" log="$4" name="$5"
  for _ in $(seq 1 600); do
    [[ -f "$markers/epoch-$epoch" && -f "$markers/pid-rank1" ]] && return 0
    sleep 0.1
  done
  kill -9 "$job" 2>/dev/null || true
  echo "$name: the job never reached epoch $((epoch + 1))" >&2
  cat "$log" >&2
  exit 1
}
