#!/usr/bin/env bash
# A last batch with fewer rows than replicas, and BatchNormalization(synchronized=True), under
# `mpirun -np 2` with DataParallel, against one process on the same global batches of 100 (401
# rows: four of 50 + 50 and one of 1, which rank 1 meets with a stand-in row of share 0).
#   synchronized.sh FIT_CHILD MPIEXEC WORK_DIR
set -euo pipefail
child="$1" mpiexec="$2" work="$3"
rm -rf "$work" && mkdir -p "$work"
run_two() {
  "$mpiexec" --allow-run-as-root --oversubscribe -np 2 "$child" --distributed --epochs 3 \
    --batch-size 100 "$@"
}
# Dropout only: the replica with no rows draws its (stand-in) rows of every mask as the others
# do, so its generators stay in step and the later epochs' masks are one process's.
"$child" --out "$work/one" --epochs 3 --batch-size 100
run_two --out "$work/two"
# Each rank ran 3 epochs of four parts of 50 rows and the last batch's one row (rank 1's the
# stand-in: the batch's first row, run for the collectives' sake, counting for nothing).
[[ "$(cat "$work/two/rows-rank0.txt")" == 603 ]]
[[ "$(cat "$work/two/rows-rank1.txt")" == 603 ]]
cmp "$work/two/weights-rank0.txt" "$work/two/weights-rank1.txt"
"$child" --compare "$work/one" "$work/two" --tolerance 1e-5
# A synchronized BatchNormalization normalizes each replica's rows with the global batch's
# statistics (sums over the replicas, the stand-in adding nothing) and its gradient flows
# through them: the weights, moving statistics included, and the History of one process.
"$child" --out "$work/one-bn" --epochs 3 --batch-size 100 --batch-norm
run_two --out "$work/two-bn" --batch-norm
cmp "$work/two-bn/weights-rank0.txt" "$work/two-bn/weights-rank1.txt"
"$child" --compare "$work/one-bn" "$work/two-bn" --tolerance 1e-5
# train_on_batch, each replica on its own half of a batch of 128: a synchronized BatchNormalization
# normalizes with both halves' statistics, and the mean of the replicas' gradients is the step of
# one process on the whole batch.
"$child" --out "$work/one-tob" --epochs 3 --batch-norm --train-on-batch
run_two --out "$work/two-tob" --batch-norm --train-on-batch
cmp "$work/two-tob/weights-rank0.txt" "$work/two-tob/weights-rank1.txt"
"$child" --compare-weights "$work/one-tob" "$work/two-tob" --tolerance 1e-5
