#!/usr/bin/env python3
"""Reads the TensorBoard logs of a `neurona train --tensorboard DIR` run with TensorBoard's own
reader (EventAccumulator, from `pip install tensorboard`) and compares them with the run's
history.csv: every epoch_* scalar of train/ and validation/ must equal the logged value (as
float32), every weight histogram must be whole (bucket counts summing to its count), and the
model's config must be there for TensorBoard's Graphs tab (the graph_keras_model plugin), and
every weight image (write_images) must be a PNG of the width and height its record gives.

    python3 tests/reference/check_tensorboard_logs.py runs/fashion/logs runs/fashion/history.csv

Uses the `python3` first on PATH (where tensorboard is installed); not run by CI.
"""
import csv
import json
import sys

import numpy as np
from tensorboard.backend.event_processing import event_accumulator, plugin_event_accumulator
from tensorboard.plugins.graph import keras_util


def load(folder):
    acc = event_accumulator.EventAccumulator(
        folder, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0})
    acc.Reload()
    return acc


def main():
    log_dir, history_csv = sys.argv[1], sys.argv[2]
    with open(history_csv) as f:
        rows = list(csv.DictReader(f))
    train, val = load(f"{log_dir}/train"), load(f"{log_dir}/validation")
    checked = 0
    for row in rows:
        epoch = int(row["epoch"])
        for key, text in row.items():
            if key == "epoch":
                continue
            acc, name = (val, key[4:]) if key.startswith("val_") else (train, key)
            events = {e.step: e.value for e in acc.Scalars(f"epoch_{name}")}
            want = np.float32(float(text))
            got = np.float32(events[epoch])
            if abs(got - want) > 1e-6 * max(1.0, abs(want)):
                sys.exit(f"epoch {epoch} {key}: TensorBoard reads {got}, history.csv has {want}")
            checked += 1
    histograms = [t for t in train.Tags()["histograms"]]
    for tag in histograms:
        for h in train.Histograms(tag):
            v = h.histogram_value
            if abs(sum(v.bucket) - v.num) > 0.5 or v.min > v.max:
                sys.exit(f"{tag} at step {h.step}: buckets sum to {sum(v.bucket)}, num {v.num}")
    # What the TensorBoard server itself reads: values migrated to its plugins' tensors.
    plugin = plugin_event_accumulator.EventAccumulator(f"{log_dir}/train")
    plugin.Reload()
    by_plugin = {p: sorted(plugin.PluginTagToContent(p)) for p in ("scalars", "histograms")}
    if "epoch_loss" not in by_plugin["scalars"] or set(by_plugin["histograms"]) != set(histograms):
        sys.exit(f"TensorBoard's plugins see {by_plugin}")
    # The model's config under the graph plugin (write_graph), which the Graphs tab draws.
    keras_tags = plugin.PluginTagToContent("graph_keras_model")
    if list(keras_tags) != ["keras"] or keras_tags["keras"] != b"1":
        sys.exit(f"TensorBoard's graph_keras_model plugin sees {keras_tags}")
    model_config = json.loads(plugin.Tensors("keras")[0].tensor_proto.string_val[0])
    # What the Graphs tab draws: the graph plugin's conversion of that config.
    graph = keras_util.keras_model_to_graph_def(model_config)
    if len(graph.node) != len(model_config["config"]["layers"]):
        sys.exit(f"the graph plugin draws {len(graph.node)} nodes of "
                 f"{len(model_config['config']['layers'])} layers")
    # The weights as images (write_images), as the Images tab reads them: width, height, PNGs.
    images = sorted(plugin.PluginTagToContent("images"))
    for tag in images:
        for event in plugin.Tensors(tag):
            width, height, *pngs = event.tensor_proto.string_val
            if not pngs or len(pngs) > 3:
                sys.exit(f"{tag}: {len(pngs)} images (1 to 3 expected)")
            for png in pngs:
                # A PNG's IHDR chunk holds its width and height (big-endian) at bytes 16 to 24.
                if png[:8] != b"\x89PNG\r\n\x1a\n" or (
                        int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) != (
                        int(width), int(height)):
                    sys.exit(f"{tag} at step {event.step}: not a {width} x {height} PNG")
    batch_tags = [t for t in train.Tags()["scalars"] if t.startswith("batch_")]
    print(f"TensorBoard read {checked} epoch scalars equal to history.csv, "
          f"{len(histograms)} weight histograms ({', '.join(histograms[:2])}, ...), "
          f"{len(images)} weight images ({', '.join(images[:2])}, ...), "
          f"batch scalars {batch_tags}, validation scalars {val.Tags()['scalars']}, "
          f"the {model_config['class_name']} model's config of "
          f"{len(model_config['config']['layers'])} layers (drawn as {len(graph.node)} nodes)")


if __name__ == "__main__":
    main()
