#!/usr/bin/env bash
# A rank killed with SIGKILL mid-epoch ends the job (mpirun exits non-zero within 60 s, no hang);
# the same command run again resumes from the last backup (BackupAndRestore, written by rank 0,
# read by both) and ends with the History and weights of an uninterrupted run.
#   kill_resume.sh FIT_CHILD MPIEXEC WORK_DIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
child="$1" mpiexec="$2" work="$3"
rm -rf "$work" && mkdir -p "$work"
mpi=("$mpiexec" --allow-run-as-root --oversubscribe -np 2 "$child" --distributed --epochs 4
     --batch-delay-ms 150)
"${mpi[@]}" --out "$work/full" --backup "$work/full-backup"

"${mpi[@]}" --out "$work/resumed" --backup "$work/backup" --marker-dir "$work/markers" \
  > "$work/killed.log" 2>&1 &
job=$!
# Epoch 2 (0-based) has begun: epochs 0 and 1 are in the backup.
wait_for_epoch "$job" "$work/markers" 2 "$work/killed.log" kill_resume
kill -9 "$(cat "$work/markers/pid-rank1")"
start=$SECONDS
rc=0
wait "$job" || rc=$?
elapsed=$((SECONDS - start))
echo "kill_resume: mpirun exited with $rc, $elapsed s after rank 1 was killed"
if ((rc == 0)); then
  echo "kill_resume: the job succeeded with a rank killed" >&2
  exit 1
fi
if ((elapsed > 60)); then
  echo "kill_resume: the other rank took $elapsed s to exit (more than 60)" >&2
  exit 1
fi
if [[ -f "$work/resumed/history.json" ]]; then
  echo "kill_resume: the killed job wrote a final history" >&2
  exit 1
fi

"${mpi[@]}" --out "$work/resumed" --backup "$work/backup" --marker-dir "$work/markers-2"
# The resumed run started at epoch 2: it never began epochs 0 or 1.
if [[ -f "$work/markers-2/epoch-0" || ! -f "$work/markers-2/epoch-2" ]]; then
  echo "kill_resume: the restarted job did not resume at epoch 3" >&2
  exit 1
fi
cmp "$work/resumed/weights-rank0.txt" "$work/resumed/weights-rank1.txt"
"$child" --compare "$work/full" "$work/resumed" --tolerance 1e-6
