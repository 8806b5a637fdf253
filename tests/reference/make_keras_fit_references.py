"""Reference runs of Keras 3's fit and evaluate on a functional model with two inputs and
three outputs, for tests/models/multi_output_fit_test.cpp.

Runs with the Keras 3 + JAX of the PyPI-reachable Python; rerun from the repository root with

    KERAS_BACKEND=jax python3 tests/reference/make_keras_fit_references.py

It rewrites tests/reference/training/fit_multi_<case>.txt. The model (the same in every case):
inputs a (4,) and b (3,); shared = Dense(8, relu)(a); concat = Concatenate()([shared, b]);
outputs digits = Dense(3, softmax)(concat), size = Dense(1)(concat), aux = Dense(2)(shared),
which has no loss. SGD(0.1), batch 8, shuffle=False, 2 epochs over 24 samples.

Cases:
- list: losses, loss weights and metrics as lists (aux's None), y only for the outputs with a
  loss, a list of sample weights (one per output with a loss).
- dict: x, y, losses, loss weights and metrics as dicts by name, validation_split=0.25; y also
  for aux (Keras 3.15's metrics need every output in a dict y); no sample weights (Keras 3.15
  fails on one array or a dict of them beside a dict y).

File format, one tensor a line: `name dim0 dim1 ... : v0 v1 ...` (row-major, 17 significant
digits). Names: x_a, x_b, y_digits, y_size, sw_digits and sw_size (list case), y_aux (dict case);
init_<layer>_<i> (the weights before fit, in the layer's order); h_<log> (History, one value per
epoch); final_<layer>_<i> (after fit); e_<log> (evaluate on all 24 samples, return_dict);
p_<output> (predict on all 24).
"""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np
from keras import layers

assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "training")
N = 24


def fmt(values):
    return " ".join(repr(float(v)) for v in values)


def line(name, array):
    a = np.asarray(array, dtype=np.float64)
    dims = " ".join(str(d) for d in a.shape)
    head = f"{name} {dims}" if dims else name
    return f"{head} : {fmt(a.reshape(-1))}\n"


def make_model():
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    shared = layers.Dense(8, activation="relu", name="shared")(a)
    concat = layers.Concatenate(name="concat")([shared, b])
    digits = layers.Dense(3, activation="softmax", name="digits")(concat)
    size = layers.Dense(1, name="size")(concat)
    aux = layers.Dense(2, name="aux")(shared)
    return keras.Model([a, b], [digits, size, aux])


def run(case):
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(3)
    xa = rng.normal(size=(N, 4)).astype("float32")
    xb = rng.normal(size=(N, 3)).astype("float32")
    yd = rng.integers(0, 3, size=(N,)).astype("int32")
    ys = rng.normal(size=(N, 1)).astype("float32")
    sw = rng.uniform(0.5, 2.0, size=(N,)).astype("float32")
    sw2 = rng.uniform(0.5, 2.0, size=(N,)).astype("float32")
    ya = rng.normal(size=(N, 2)).astype("float32")
    model = make_model()
    text = line("x_a", xa) + line("x_b", xb) + line("y_digits", yd) + line("y_size", ys)
    dense = ["shared", "digits", "size", "aux"]
    for name in dense:
        for i, w in enumerate(model.get_layer(name).get_weights()):
            text += line(f"init_{name}_{i}", w)
    if case == "list":
        model.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss=["sparse_categorical_crossentropy", "mse", None],
            loss_weights=[1.0, 0.5, 1.0],
            metrics=[["accuracy"], ["mae", "mse"], None],
        )
        text += line("sw_digits", sw) + line("sw_size", sw2)
        history = model.fit([xa, xb], [yd, ys], sample_weight=[sw, sw2], batch_size=8, epochs=2,
                            shuffle=False, verbose=0)
        logs = model.evaluate([xa, xb], [yd, ys], batch_size=8, verbose=0, return_dict=True)
    else:
        model.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss={"digits": "sparse_categorical_crossentropy", "size": "mae", "aux": None},
            loss_weights={"digits": 1.0, "size": 2.0, "aux": 1.0},
            metrics={"digits": "accuracy", "size": ["mse"]},
        )
        text += line("y_aux", ya)
        history = model.fit({"a": xa, "b": xb}, {"digits": yd, "size": ys, "aux": ya},
                            batch_size=8, epochs=2,
                            shuffle=False, verbose=0, validation_split=0.25)
        logs = model.evaluate({"a": xa, "b": xb}, {"digits": yd, "size": ys, "aux": ya}, batch_size=8,
                              verbose=0, return_dict=True)
    for key in sorted(history.history):
        text += line(f"h_{key}", history.history[key])
    for name in dense:
        for i, w in enumerate(model.get_layer(name).get_weights()):
            text += line(f"final_{name}_{i}", w)
    for key in sorted(logs):
        text += line(f"e_{key}", logs[key])
    for name, p in zip(["digits", "size", "aux"], model.predict([xa, xb], verbose=0)):
        text += line(f"p_{name}", p)
    path = os.path.join(OUT, f"fit_multi_{case}.txt")
    with open(path + ".tmp", "w") as f:
        f.write(f"# Keras {keras.__version__}, backend {keras.backend.backend()}\n" + text)
    os.replace(path + ".tmp", path)
    print("wrote", path)


for case in ["list", "dict"]:
    run(case)
