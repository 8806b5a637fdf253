#!/usr/bin/env bash
# `mpirun -np 2 neurona train --distributed` as a user runs it (the mlp on 2000 Fashion-MNIST
# images, 2 epochs, on the CPU; then the character model on a small text): one rank prints (one
# summary, one progress line per epoch, one test line) and writes the files, and the figures are
# those of one process on the same global batch (float rounding aside).
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
# same_test_figures WHAT ONE_LOG TWO_LOG: the logs' "Test loss: L - test accuracy: A" lines agree
# (loss within 2e-4, accuracy within 2.1e-3: float rounding over the run).
same_test_figures() {
  local loss_one acc_one loss_two acc_two
  figures() { sed -n 's/^Test loss: \([0-9.]*\) - test accuracy: \([0-9.]*\)$/\1 \2/p' "$1"; }
  read -r loss_one acc_one < <(figures "$2")
  read -r loss_two acc_two < <(figures "$3")
  echo "$1: one process: $loss_one $acc_one; two: $loss_two $acc_two"
  awk -v a="$loss_one" -v b="$loss_two" -v c="$acc_one" -v d="$acc_two" \
    'BEGIN { exit !((a - b < 2e-4 && b - a < 2e-4) && (c - d < 2.1e-3 && d - c < 2.1e-3)) }' || {
    echo "$1: the two-process run's test figures differ from one process's" >&2
    exit 1
  }
}
same_test_figures "tensors" "$work/one.log" "$work/two.log"
# A streamed Dataset (--augment: flips and shifts on worker threads, prefetched): the same
# split of each batch, the same figures as one process.
"$neurona" "${args[@]}" --augment --out "$work/aug-one" > "$work/aug-one.log"
"$mpiexec" --allow-run-as-root --oversubscribe -np 2 "$neurona" "${args[@]}" --augment \
  --distributed --out "$work/aug-two" > "$work/aug-two.log"
same_test_figures "--augment" "$work/aug-one.log" "$work/aug-two.log"
# --backup-dir reaches BackupAndRestore: a backup folder under a file cannot be made or read.
touch "$work/a-file"
if "$neurona" "${args[@]}" --out "$work/backup-refused" --backup-dir "$work/a-file/backup" \
     > "$work/backup-refused.log" 2>&1; then
  echo "--backup-dir under a file was accepted" >&2
  exit 1
fi
grep -q "a-file/backup" "$work/backup-refused.log"
# The character model too: 2 epochs of a small transformer on a small text, one report, the
# figures of one process.
line="the quick brown fox jumps over the lazy dog."
for _ in $(seq 1 40); do echo "$line"; done > "$work/corpus.txt"
charlm=(train --model charlm --device cpu --text "$work/corpus.txt" --context 16 --layers 1
        --heads 2 --width 32 --epochs 2 --batch-size 16 --learning-rate 0.01 --verbose 2)
"$neurona" "${charlm[@]}" --out "$work/charlm-one" > "$work/charlm-one.log"
"$mpiexec" --allow-run-as-root --oversubscribe -np 2 "$neurona" "${charlm[@]}" --distributed \
  --out "$work/charlm-two" > "$work/charlm-two.log"
cat "$work/charlm-two.log"
[[ "$(count '^Validation loss' "$work/charlm-two.log")" == 1 ]] || {
  echo "charlm: expected one validation line" >&2
  exit 1
}
for f in charlm.weights.h5 charlm.json history.csv; do
  [[ -f "$work/charlm-two/$f" ]] || { echo "charlm: no $f" >&2; exit 1; }
done
bpc() { sed -n 's/^Validation loss: \([0-9.]*\) - validation bits per character: \([0-9.]*\)$/\2/p' "$1"; }
bpc_one="$(bpc "$work/charlm-one.log")" bpc_two="$(bpc "$work/charlm-two.log")"
echo "charlm validation bits per character: one process $bpc_one, two $bpc_two"
awk -v a="$bpc_one" -v b="$bpc_two" 'BEGIN { exit !(a != "" && a - b < 2e-3 && b - a < 2e-3) }' || {
  echo "charlm: the two-process run's validation figure differs from one process's" >&2
  exit 1
}
# BackupAndRestore does not follow charlm's epoch-at-a-time fits: refused, with a message.
if "$neurona" train --model charlm --backup-dir "$work/b" > "$work/refused.log" 2>&1; then
  echo "train --model charlm --backup-dir was accepted" >&2
  exit 1
fi
grep -q "not charlm yet" "$work/refused.log"
