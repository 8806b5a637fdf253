#!/usr/bin/env bash
# A rank that stops answering (SIGSTOP: alive, silent) mid-epoch: the other's next collective
# times out (--timeout 3) and ends the job with a line naming the call and the rank; mpirun
# exits non-zero within 60 s, never a hang.
#   stopped_rank.sh FIT_CHILD MPIEXEC WORK_DIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
child="$1" mpiexec="$2" work="$3"
rm -rf "$work" && mkdir -p "$work"
"$mpiexec" --allow-run-as-root --oversubscribe -np 2 "$child" --distributed --epochs 50 \
  --batch-delay-ms 100 --timeout 3 --out "$work/out" --marker-dir "$work/markers" \
  > "$work/job.log" 2>&1 &
job=$!
wait_for_epoch "$job" "$work/markers" 1 "$work/job.log" stopped_rank
stopped="$(cat "$work/markers/pid-rank1")"
kill -STOP "$stopped"
start=$SECONDS
rc=0
wait "$job" || rc=$?
elapsed=$((SECONDS - start))
kill -9 "$stopped" 2>/dev/null || true
cat "$work/job.log"
echo "stopped_rank: mpirun exited with $rc, $elapsed s after rank 1 was stopped"
((rc != 0)) || { echo "stopped_rank: the job succeeded with a rank stopped" >&2; exit 1; }
((elapsed <= 60)) || { echo "stopped_rank: $elapsed s to end the job (more than 60)" >&2; exit 1; }
grep -q "on rank 0 of 2 did not finish within 3 s" "$work/job.log" || {
  echo "stopped_rank: no line saying which collective timed out" >&2
  exit 1
}
