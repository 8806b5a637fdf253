#!/usr/bin/env bash
# `mpirun -np 2 neurona train --distributed` as a user runs it (the mlp on 2000 Fashion-MNIST
# images, 2 epochs, on the CPU): one rank prints (one summary, one progress line per epoch, one
# test line) and writes the files, and the test figures are those of one process on the same
# global batch (float rounding aside).
#   train_distributed_test.sh NEURONA MPIEXEC WORK_DIR
set -euo pipefail
neurona="$1" mpiexec="$2" work="$3"
rm -rf "$work" && mkdir -p "$work"
args=(train --model mlp --device cpu --epochs 2 --train-samples 2000 --test-samples 500
      --verbose 2)
"$neurona" "${args[@]}" --out "$work/one" > "$work/one.log"
"$mpiexec" --allow-run-as-root --oversubscribe -np 2 "$neurona" "${args[@]}" --distributed \
  --out "$work/two" > "$work/two.log"
cat "$work/two.log"
count() { grep -c "$1" "$2" || true; }
[[ "$(count '^Test loss' "$work/two.log")" == 1 ]] || { echo "expected one test line" >&2; exit 1; }
[[ "$(count '^Epoch 2/2' "$work/two.log")" == 1 ]] || { echo "expected one epoch line" >&2; exit 1; }
[[ "$(count 'Total params' "$work/two.log")" == 1 ]] || { echo "expected one summary" >&2; exit 1; }
for f in history.csv mlp.weights.h5; do
  [[ -f "$work/two/$f" ]] || { echo "no $f" >&2; exit 1; }
done
[[ "$(wc -l < "$work/two/history.csv")" == 3 ]] || { echo "history.csv: not 2 epochs" >&2; exit 1; }
figures() { sed -n 's/^Test loss: \([0-9.]*\) - test accuracy: \([0-9.]*\)$/\1 \2/p' "$1"; }
read -r loss_one acc_one < <(figures "$work/one.log")
read -r loss_two acc_two < <(figures "$work/two.log")
echo "one process: $loss_one $acc_one; two: $loss_two $acc_two"
awk -v a="$loss_one" -v b="$loss_two" -v c="$acc_one" -v d="$acc_two" \
  'BEGIN { exit !((a - b < 2e-4 && b - a < 2e-4) && (c - d < 2.1e-3 && d - c < 2.1e-3)) }' || {
  echo "the two-process run's test figures differ from one process's" >&2
  exit 1
}
# --distributed trains the Fashion-MNIST models only.
if "$mpiexec" --allow-run-as-root -np 1 "$neurona" train --model charlm --distributed \
     > "$work/charlm.log" 2>&1; then
  echo "train --model charlm --distributed was accepted" >&2
  exit 1
fi
grep -q "not charlm yet" "$work/charlm.log"
