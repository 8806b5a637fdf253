#!/usr/bin/env bash
# Two processes under `mpirun -np 2` with DataParallel train to the weights and History of one
# process on the same global batch of 128 (64 rows each, the last batch split 9 and 8), within
# float rounding, dropout included (each replica draws its rows of the global batch's masks);
# both replicas end with the same weights, bit for bit. Then they predict every
# row, each its half of every batch, and both get all the predictions, those of one process.
#   equivalence.sh FIT_CHILD MPIEXEC WORK_DIR
set -euo pipefail
child="$1" mpiexec="$2" work="$3"
rm -rf "$work" && mkdir -p "$work"
"$child" --out "$work/one" --epochs 3
"$mpiexec" --allow-run-as-root --oversubscribe -np 2 "$child" --distributed --out "$work/two" \
  --epochs 3
# The gradients' all-reduce in buckets of at most 100 bytes (four, one per weight, each started
# during the backward pass as the tape finishes it) sums the same numbers: the same weights.
"$mpiexec" --allow-run-as-root --oversubscribe -np 2 "$child" --distributed --out "$work/buckets" \
  --epochs 3 --bucket-bytes 100
cmp "$work/two/weights-rank0.txt" "$work/buckets/weights-rank0.txt"
cmp "$work/two/weights-rank1.txt" "$work/buckets/weights-rank1.txt"
# Each replica trained on its part of every batch: 3 epochs of 64 + 64 + 64 + 9 rows (rank 0)
# and 64 + 64 + 64 + 8 (rank 1), where one process trained on all 401 rows.
[[ "$(cat "$work/one/rows-rank0.txt")" == 1203 ]]
[[ "$(cat "$work/two/rows-rank0.txt")" == 603 ]]
[[ "$(cat "$work/two/rows-rank1.txt")" == 600 ]]
# predict in batches of 100: 5 x 50 + 1 rows each (the last batch of 2 split), 502 alone.
[[ "$(cat "$work/one/predicted-rows-rank0.txt")" == 502 ]]
[[ "$(cat "$work/two/predicted-rows-rank0.txt")" == 251 ]]
[[ "$(cat "$work/two/predicted-rows-rank1.txt")" == 251 ]]
# Replicas agree exactly; against one process, float32 sums taken in another order.
cmp "$work/two/weights-rank0.txt" "$work/two/weights-rank1.txt"
cmp "$work/two/predictions-rank0.txt" "$work/two/predictions-rank1.txt"
"$child" --compare "$work/one" "$work/two" --tolerance 1e-5
