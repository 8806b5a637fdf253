"""Reference values of Keras 3 losses and metrics for tests/training/losses_test.cpp and
tests/training/metrics_test.cpp.

Runs with the Keras 3 + JAX virtual environment (made once with
`python3 -m venv /tmp/kerasenv && /tmp/kerasenv/bin/pip install keras jax`); rerun from the
repository root with

    KERAS_BACKEND=jax /tmp/kerasenv/bin/python tests/reference/make_keras_loss_metric_references.py

It rewrites tests/reference/training/loss_<case>.txt and metric_<case>.txt. Inputs come from
numpy with a fixed seed.

File format, one tensor a line: `name dim0 dim1 ... : v0 v1 ...` (row-major, values printed
with 9 significant digits, as tests/reference/layers/).
- loss_<case>: y_true, y_pred, optionally sample_weight; per_sample (the loss function's values,
  Loss.call), loss (the Loss object's reduced value with the sample weights) and grad (JAX's
  gradient of that value with respect to y_pred).
- metric_<case>: for each update i = 0, 1, ...: y_true_i, y_pred_i (values_i for Mean),
  optionally sample_weight_i, and result_i, the metric's result() after that update.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import keras
import numpy as np

assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "training")


def line(name, a):
    a = np.asarray(a, dtype=np.float64)
    dims = " ".join(str(d) for d in a.shape)
    vals = " ".join(f"{v:.9g}" for v in a.reshape(-1))
    return f"{name} {dims} : {vals}".replace("  :", " :")


def write(name, lines):
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def loss_case(name, loss_obj, fn, y_true, y_pred, sample_weight=None):
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred, dtype=np.float32)
    per_sample = fn(y_true, y_pred)

    def reduced(p):
        return loss_obj(y_true, p, sample_weight=sample_weight)

    value = reduced(jnp.asarray(y_pred))
    grad = jax.grad(lambda p: jnp.sum(reduced(p)))(jnp.asarray(y_pred))
    lines = [line("y_true", y_true), line("y_pred", y_pred)]
    if sample_weight is not None:
        lines.append(line("sample_weight", sample_weight))
    lines += [line("per_sample", per_sample), line("loss", value), line("grad", grad)]
    write("loss_" + name, lines)


def metric_case(name, metric, updates, values=False):
    lines = []
    for i, u in enumerate(updates):
        if values:
            v, w = u
            metric.update_state(v, sample_weight=w)
            lines.append(line(f"values_{i}", v))
        else:
            t, p, w = u
            metric.update_state(t, p, sample_weight=w)
            lines += [line(f"y_true_{i}", t), line(f"y_pred_{i}", p)]
        if w is not None:
            lines.append(line(f"sample_weight_{i}", w))
        lines.append(line(f"result_{i}", metric.result()))
    write("metric_" + name, lines)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240601)
    f32 = np.float32
    L = keras.losses

    # Regression losses: (4, 3), errors on both sides of Huber's delta.
    t = rng.uniform(-2, 2, (4, 3)).astype(f32)
    p = rng.uniform(-2, 2, (4, 3)).astype(f32)
    w = np.array([1.0, 0.5, 0.0, 2.0], f32)
    loss_case("mse", L.MeanSquaredError(), L.mean_squared_error, t, p)
    loss_case("mse_weighted", L.MeanSquaredError(), L.mean_squared_error, t, p, w)
    loss_case("mae", L.MeanAbsoluteError(), L.mean_absolute_error, t, p)
    loss_case("mae_weighted_sum", L.MeanAbsoluteError(reduction="sum"), L.mean_absolute_error,
              t, p, w.reshape(4, 1))
    loss_case("huber", L.Huber(), L.huber, t, p)
    loss_case("huber_delta", L.Huber(delta=0.5), lambda a, b: L.huber(a, b, delta=0.5), t, p, w)
    # (4,) against (4, 1): Keras squeezes / expands to the same rank.
    loss_case("mse_rank", L.MeanSquaredError(), L.mean_squared_error, t[:, 0], p[:, :1])

    # Distributions (rows sum to 1) for KL divergence, with one exact 0 to exercise the clip.
    dt = rng.uniform(0, 1, (4, 5)).astype(f32)
    dt[1, 2] = 0
    dt /= dt.sum(-1, keepdims=True)
    dp = rng.uniform(0.05, 1, (4, 5)).astype(f32)
    dp /= dp.sum(-1, keepdims=True)
    loss_case("kld", L.KLDivergence(), L.kl_divergence, dt, dp)
    loss_case("kld_weighted", L.KLDivergence(), L.kl_divergence, dt, dp, w)

    # Binary cross-entropy: probabilities including exact 0 and 1 (clipped), and logits.
    bt = rng.integers(0, 2, (4, 3)).astype(f32)
    bp = rng.uniform(0, 1, (4, 3)).astype(f32)
    bp[0, 0], bp[2, 1] = 0.0, 1.0
    bl = rng.uniform(-4, 4, (4, 3)).astype(f32)
    loss_case("bce", L.BinaryCrossentropy(), L.binary_crossentropy, bt, bp)
    loss_case("bce_logits", L.BinaryCrossentropy(from_logits=True),
              lambda a, b: L.binary_crossentropy(a, b, from_logits=True), bt, bl)
    loss_case("bce_smoothing_weighted",
              L.BinaryCrossentropy(from_logits=True, label_smoothing=0.2),
              lambda a, b: L.binary_crossentropy(a, b, from_logits=True, label_smoothing=0.2),
              bt, bl, w)
    loss_case("bce_smoothing_probs", L.BinaryCrossentropy(label_smoothing=0.1),
              lambda a, b: L.binary_crossentropy(a, b, label_smoothing=0.1), bt, bp)

    # Categorical: one-hot labels; probabilities not normalised (Keras divides by the sum) with
    # a zero (clipped), and logits.
    classes = 5
    labels = rng.integers(0, classes, (4,))
    onehot = np.eye(classes, dtype=f32)[labels]
    cp = rng.uniform(0, 1, (4, classes)).astype(f32)
    cp[1, labels[1]] = 0.0
    cl = rng.uniform(-3, 3, (4, classes)).astype(f32)
    loss_case("cce", L.CategoricalCrossentropy(), L.categorical_crossentropy, onehot, cp)
    loss_case("cce_logits", L.CategoricalCrossentropy(from_logits=True),
              lambda a, b: L.categorical_crossentropy(a, b, from_logits=True), onehot, cl)
    loss_case("cce_smoothing_logits_weighted",
              L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
              lambda a, b: L.categorical_crossentropy(a, b, from_logits=True,
                                                      label_smoothing=0.1),
              onehot, cl, w)
    loss_case("cce_smoothing_probs", L.CategoricalCrossentropy(label_smoothing=0.3),
              lambda a, b: L.categorical_crossentropy(a, b, label_smoothing=0.3), onehot, cp)

    # Sparse: integer labels (4,) and (4, 1).
    loss_case("scce", L.SparseCategoricalCrossentropy(), L.sparse_categorical_crossentropy,
              labels.astype(np.int32), cp)
    loss_case("scce_logits", L.SparseCategoricalCrossentropy(from_logits=True),
              lambda a, b: L.sparse_categorical_crossentropy(a, b, from_logits=True),
              labels.astype(np.int32), cl)
    loss_case("scce_logits_column_weighted_mean",
              L.SparseCategoricalCrossentropy(from_logits=True,
                                              reduction="mean_with_sample_weight"),
              lambda a, b: L.sparse_categorical_crossentropy(a, b, from_logits=True),
              labels.reshape(4, 1).astype(np.int32), cl, w)
    loss_case("scce_none", L.SparseCategoricalCrossentropy(from_logits=True, reduction="none"),
              lambda a, b: L.sparse_categorical_crossentropy(a, b, from_logits=True),
              labels.astype(np.int32), cl, w)

    M = keras.metrics
    # Mean of values with and without weights.
    metric_case("mean", M.Mean(), [
        (np.array([1.0, 3.0, 5.0, 7.0], f32), None),
        (np.array([2.0, 4.0], f32), np.array([1.0, 0.0], f32)),
        (np.array([[1.0, 2.0], [3.0, 5.0]], f32), np.array([0.5, 2.0], f32)),
    ], values=True)

    def batches(n, make):
        return [make(i) for i in range(n)]

    # Binary accuracy, precision, recall, AUC on probabilities (batch, 1), labels (batch,).
    def binary_batch(i, weighted):
        bt_ = rng.integers(0, 2, (6,)).astype(f32)
        bp_ = rng.uniform(0, 1, (6, 1)).astype(f32)
        bp_[0, 0] = 0.5  # exactly at the threshold: not positive
        sw = rng.uniform(0, 2, (6,)).astype(f32) if weighted and i > 0 else None
        return bt_, bp_, sw

    metric_case("binary_accuracy", M.BinaryAccuracy(), batches(3, lambda i: binary_batch(i, True)))
    metric_case("precision", M.Precision(), batches(3, lambda i: binary_batch(i, True)))
    metric_case("recall", M.Recall(), batches(3, lambda i: binary_batch(i, True)))

    def auc_batch(i):
        at = rng.integers(0, 2, (20,)).astype(f32)
        ap = rng.uniform(0, 1, (20,)).astype(f32)
        ap[:3] = [0.0, 1.0, 0.5]  # ends and a threshold-exact value
        sw = rng.uniform(0, 2, (20,)).astype(f32) if i == 1 else None
        return at, ap, sw

    metric_case("auc", M.AUC(), batches(3, auc_batch))

    # Categorical family: 7 classes so that top-5 differs from top-1; a tie at the label.
    def cat_batch(i):
        lab = rng.integers(0, 7, (5,))
        pr = rng.uniform(0, 1, (5, 7)).astype(f32)
        pr[0, :] = 0.5  # all tied: the label ranks first
        sw = rng.uniform(0, 2, (5,)).astype(f32) if i == 2 else None
        return lab, pr, sw

    cats = batches(3, cat_batch)
    metric_case("categorical_accuracy", M.CategoricalAccuracy(),
                [(np.eye(7, dtype=f32)[lab], pr, sw) for lab, pr, sw in cats])
    metric_case("sparse_categorical_accuracy", M.SparseCategoricalAccuracy(),
                [(lab.astype(f32).reshape(-1, 1), pr, sw) for lab, pr, sw in cats])
    metric_case("top_k_categorical_accuracy", M.TopKCategoricalAccuracy(),
                [(np.eye(7, dtype=f32)[lab], pr, sw) for lab, pr, sw in cats])
    metric_case("sparse_top_k_categorical_accuracy_k2", M.SparseTopKCategoricalAccuracy(k=2),
                [(lab.astype(np.int32), pr, sw) for lab, pr, sw in cats])

    # Regression metrics.
    def reg_batch(i):
        rt = rng.uniform(-1, 1, (4, 2)).astype(f32)
        rp = rng.uniform(-1, 1, (4, 2)).astype(f32)
        sw = rng.uniform(0, 2, (4,)).astype(f32) if i == 1 else None
        return rt, rp, sw

    regs = batches(2, reg_batch)
    metric_case("mean_squared_error", M.MeanSquaredError(), regs)
    metric_case("mean_absolute_error", M.MeanAbsoluteError(), regs)


if __name__ == "__main__":
    main()
