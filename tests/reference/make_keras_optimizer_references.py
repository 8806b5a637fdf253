"""Reference steps of Keras 3 optimizers and learning-rate schedules for
tests/training/optimizers_test.cpp and tests/training/schedules_test.cpp.

Runs with the Keras 3 + JAX virtual environment (made once with
`python3 -m venv /tmp/kerasenv && /tmp/kerasenv/bin/pip install keras jax`); rerun from the
repository root with

    KERAS_BACKEND=jax /tmp/kerasenv/bin/python tests/reference/make_keras_optimizer_references.py

It rewrites tests/reference/training/optimizer_<case>.txt (one optimizer configuration each)
and tests/reference/training/optimizer_schedules.txt.

Optimizer cases: two float32 variables, w0 of shape (2, 3) and w1 of shape (3,), start from
numpy values with a fixed seed; each of five steps applies gradients drawn from numpy with a
fixed seed through `optimizer.apply(grads, variables)`. A case may leave a gradient out
(None) at some step. File format, one tensor a line: `name dim0 dim1 ... : v0 v1 ...`
(row-major, values printed with 17 significant digits so float32 values round-trip). Names:
w0, w1 (initial values); g<step>_<i> (the gradient of variable i at step 1..5, absent when
None); lr<step> (optimizer.learning_rate before the step); w<i>_<step> (variable i after the
step); state<k> (optimizer.variables[k] after the last step, in Keras's order; its path is
given in a `#` comment line above it); iterations (after the last step).

Schedules file: `<case> : v0 v1 ...` lines holding schedule(step) for step 0..N-1.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np
from keras import optimizers
from keras.optimizers import schedules

assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "training")
STEPS = 5


def fmt(values):
    return " ".join(repr(float(v)) if np.isfinite(v) else str(float(v)) for v in values)


def line(name, array):
    a = np.asarray(array, dtype=np.float64)
    dims = " ".join(str(d) for d in a.shape)
    head = f"{name} {dims}" if dims else name
    return f"{head} : {fmt(a.reshape(-1))}\n"


# name -> (make optimizer, gradient scale, steps at which w1's gradient is None)
CASES = {
    "sgd": (lambda: optimizers.SGD(0.1), 1.0, ()),
    "sgd_momentum": (lambda: optimizers.SGD(0.1, momentum=0.9), 1.0, ()),
    "sgd_nesterov": (lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True), 1.0, ()),
    "sgd_weight_decay": (lambda: optimizers.SGD(0.1, weight_decay=0.05), 1.0, ()),
    "sgd_clipnorm": (lambda: optimizers.SGD(0.1, clipnorm=1.0), 3.0, ()),
    "sgd_global_clipnorm": (lambda: optimizers.SGD(0.1, global_clipnorm=1.0), 3.0, ()),
    "sgd_exponential_decay": (
        lambda: optimizers.SGD(schedules.ExponentialDecay(0.1, 2, 0.5, staircase=True),
                               momentum=0.5),
        1.0,
        (),
    ),
    "adam": (lambda: optimizers.Adam(0.01), 1.0, ()),
    "adam_defaults": (lambda: optimizers.Adam(), 1.0, ()),
    "adam_amsgrad": (lambda: optimizers.Adam(0.01, amsgrad=True), 1.0, ()),
    "adam_clipvalue": (lambda: optimizers.Adam(0.01, clipvalue=0.5), 1.0, ()),
    "adam_missing_gradient": (lambda: optimizers.Adam(0.01), 1.0, (2, 3)),
    "adam_cosine_warmup": (
        lambda: optimizers.Adam(schedules.CosineDecay(0.0, 4, warmup_target=0.01,
                                                      warmup_steps=2)),
        1.0,
        (),
    ),
    "adamw": (lambda: optimizers.AdamW(0.01), 1.0, ()),
    "adamw_amsgrad_clipnorm": (
        lambda: optimizers.AdamW(0.01, weight_decay=0.1, amsgrad=True, clipnorm=0.5), 1.0, ()),
    "rmsprop": (lambda: optimizers.RMSprop(0.01), 1.0, ()),
    "rmsprop_momentum": (lambda: optimizers.RMSprop(0.01, momentum=0.5), 1.0, ()),
    "rmsprop_centered": (lambda: optimizers.RMSprop(0.01, centered=True), 1.0, ()),
    "rmsprop_centered_momentum": (
        lambda: optimizers.RMSprop(0.01, rho=0.8, momentum=0.5, centered=True), 1.0, ()),
    "adagrad": (lambda: optimizers.Adagrad(0.1), 1.0, ()),
    "adagrad_options": (
        lambda: optimizers.Adagrad(0.1, initial_accumulator_value=0.5, epsilon=1e-3), 1.0, ()),
    "adamax": (lambda: optimizers.Adamax(0.01), 1.0, ()),
    "adamax_global_clipnorm": (lambda: optimizers.Adamax(0.01, global_clipnorm=0.7), 3.0, ()),
    "nadam": (lambda: optimizers.Nadam(0.01), 1.0, ()),
    "nadam_weight_decay": (lambda: optimizers.Nadam(0.01, weight_decay=0.2), 1.0, ()),
}


def run_case(name, make, scale, missing):
    rng = np.random.RandomState(1234)
    w0 = rng.uniform(-1, 1, (2, 3)).astype(np.float32)
    w1 = rng.uniform(-1, 1, (3,)).astype(np.float32)
    v0 = keras.Variable(w0, name="w0")
    v1 = keras.Variable(w1, name="w1")
    opt = make()
    lines = [f"# keras {keras.__version__}: {type(opt).__name__} {opt.get_config()}\n"]
    lines.append(line("w0", w0))
    lines.append(line("w1", w1))
    for step in range(1, STEPS + 1):
        g0 = (scale * rng.uniform(-1, 1, (2, 3))).astype(np.float32)
        g1 = (scale * rng.uniform(-1, 1, (3,))).astype(np.float32)
        lines.append(line(f"g{step}_0", g0))
        grads = [g0, g1]
        if step in missing:
            grads[1] = None
        else:
            lines.append(line(f"g{step}_1", g1))
        lines.append(line(f"lr{step}", float(np.asarray(opt.learning_rate))))
        opt.apply(grads, [v0, v1])
        lines.append(line(f"w0_{step}", np.asarray(v0.value)))
        lines.append(line(f"w1_{step}", np.asarray(v1.value)))
    for k, var in enumerate(opt.variables):
        lines.append(f"# {var.path} {var.dtype}\n")
        lines.append(line(f"state{k}", np.asarray(var.value)))
    lines.append(line("iterations", int(np.asarray(opt.iterations))))
    with open(os.path.join(OUT, f"optimizer_{name}.txt"), "w") as f:
        f.writelines(lines)


SCHEDULES = {
    "exponential": (schedules.ExponentialDecay(0.1, 10, 0.5), 25),
    "exponential_staircase": (schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True), 25),
    "piecewise": (schedules.PiecewiseConstantDecay([3, 7], [1.0, 0.5, 0.1]), 10),
    "cosine": (schedules.CosineDecay(0.1, 10), 13),
    "cosine_alpha": (schedules.CosineDecay(0.1, 10, alpha=0.2), 13),
    "cosine_warmup": (schedules.CosineDecay(0.0, 10, warmup_target=0.1, warmup_steps=5), 18),
    "cosine_warmup_alpha": (
        schedules.CosineDecay(0.01, 6, alpha=0.1, warmup_target=0.05, warmup_steps=3), 12),
    "inverse_time": (schedules.InverseTimeDecay(0.1, 4, 0.5), 12),
    "inverse_time_staircase": (schedules.InverseTimeDecay(0.1, 4, 0.5, staircase=True), 12),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, (make, scale, missing) in CASES.items():
        run_case(name, make, scale, missing)
    with open(os.path.join(OUT, "optimizer_schedules.txt"), "w") as f:
        f.write(f"# keras {keras.__version__}: schedule(step) for step = 0, 1, ...\n")
        for name, (sched, n) in SCHEDULES.items():
            f.write(f"# {type(sched).__name__} {sched.get_config()}\n")
            f.write(f"{name} : {fmt([float(np.asarray(sched(s))) for s in range(n)])}\n")


if __name__ == "__main__":
    main()
