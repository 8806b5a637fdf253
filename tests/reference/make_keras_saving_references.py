#!/usr/bin/env python3
# Interoperability of neurona's saving with Keras 3 itself, both ways.
#
# Default mode: builds the notebook's models (a Sequential, the SubclassModel), a small MLP and a
# small CNN with fixed weights, saves each as <case>.weights.h5 and <case>.keras, and writes
# <case>.io.txt with an input x and Keras's output y (lines `name dim0 dim1 ... : v0 v1 ...`)
# into tests/reference/saving/. tests/models/saving_keras_test.cpp loads each file into neurona
# and reproduces y.
#
# --check DIR: loads the files neurona wrote into DIR (NEURONA_WRITE_SAVING_FIXTURES=DIR when
# running the test binary; the stored copies are in tests/reference/saving/from_neurona/) into
# Keras and checks that Keras reproduces neurona's y. Exits non-zero on any mismatch.
#
# Run with a Python that has Keras 3, JAX and h5py (Keras 3.15.1, JAX 0.10.2, h5py 3.16.0 when
# these files were made):
#   python3 -m venv /tmp/kerasenv && /tmp/kerasenv/bin/pip install keras jax h5py
#   /tmp/kerasenv/bin/python tests/reference/make_keras_saving_references.py
#   /tmp/kerasenv/bin/python tests/reference/make_keras_saving_references.py \
#       --check tests/reference/saving/from_neurona
import argparse
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "saving")


@keras.saving.register_keras_serializable(package="neurona")
class SubclassModel(keras.Model):
    """The notebook's SubclassModel: one Dense with a sigmoid."""

    def __init__(self, n_output_nodes=3, **kwargs):
        super().__init__(**kwargs)
        self.n_output_nodes = n_output_nodes
        self.dense_layer = layers.Dense(n_output_nodes, activation="sigmoid")

    def call(self, inputs):
        return self.dense_layer(inputs)

    def get_config(self):
        config = super().get_config()
        config["n_output_nodes"] = self.n_output_nodes
        return config


def notebook_sequential():
    return keras.Sequential(
        [layers.Input((2,)), layers.Dense(3, activation="sigmoid"), layers.Dense(8)]
    )


def subclass():
    model = SubclassModel(3)
    model(np.zeros((1, 2), np.float32))
    return model


def mlp():
    return keras.Sequential(
        [
            layers.Input((4,)),
            layers.Dense(8, activation="relu"),
            layers.Dense(8, activation="relu"),
            layers.Dense(1),
        ]
    )


def cnn():
    return keras.Sequential(
        [
            layers.Input((8, 8, 1)),
            layers.ZeroPadding2D(1),
            layers.Conv2D(4, 3, activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(2),
            layers.Dropout(0.25),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )


CASES = {
    "notebook_sequential": (notebook_sequential, (4, 2)),
    "subclass_model": (subclass, (4, 2)),
    "mlp": (mlp, (4, 4)),
    "cnn": (cnn, (2, 8, 8, 1)),
}


def write_io(path, arrays):
    with open(path, "w") as f:
        for name, a in arrays.items():
            a = np.asarray(a, np.float32)
            dims = " ".join(str(d) for d in a.shape)
            values = " ".join("%.9g" % v for v in a.reshape(-1))
            f.write(f"{name} {dims} : {values}\n")


def read_io(path):
    out = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            head, body = line.split(" : ")
            name, *dims = head.split()
            values = np.array([float(v) for v in body.split()], np.float32)
            out[name] = values.reshape([int(d) for d in dims])
    return out


def make():
    os.makedirs(OUT, exist_ok=True)
    for i, (case, (build, x_shape)) in enumerate(CASES.items()):
        keras.utils.set_random_seed(100 + i)
        rng = np.random.default_rng(100 + i)
        model = build()
        # Fixed, non-trivial weights (positive moving variances for BatchNormalization).
        for w in model.weights:
            low = 0.5 if "variance" in w.path else -1.0
            w.assign(rng.uniform(low, 1.0, w.shape).astype(np.float32))
        x = rng.uniform(-1.0, 1.0, x_shape).astype(np.float32)
        y = np.asarray(model.predict(x, verbose=0))
        model.save_weights(os.path.join(OUT, f"{case}.weights.h5"))
        model.save(os.path.join(OUT, f"{case}.keras"))
        write_io(os.path.join(OUT, f"{case}.io.txt"), {"x": x, "y": y})
        print(f"{case}: {len(model.weights)} weights, y {y.shape}")


def check(directory):
    failures = 0
    for case, (build, _) in CASES.items():
        io_path = os.path.join(directory, f"{case}.io.txt")
        if not os.path.exists(io_path):
            print(f"{case}: MISSING {io_path}")
            failures += 1
            continue
        io = read_io(io_path)
        x, y = io["x"], io["y"]
        # .weights.h5 into a model built here.
        model = build()
        model.load_weights(os.path.join(directory, f"{case}.weights.h5"))
        y_h5 = np.asarray(model.predict(x, verbose=0))
        # .keras rebuilt by Keras from neurona's config.json.
        loaded = keras.saving.load_model(
            os.path.join(directory, f"{case}.keras"),
            custom_objects={"SubclassModel": SubclassModel},
        )
        y_keras = np.asarray(loaded.predict(x, verbose=0))
        for what, got in ((".weights.h5", y_h5), (".keras", y_keras)):
            err = float(np.max(np.abs(got - y))) if got.shape == y.shape else float("inf")
            ok = got.shape == y.shape and np.allclose(got, y, rtol=1e-5, atol=1e-6)
            print(f"{case}{what}: max |keras - neurona| = {err:.3g} {'ok' if ok else 'MISMATCH'}")
            failures += not ok
    print("all ok" if failures == 0 else f"{failures} failures")
    return failures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", metavar="DIR", help="check the files neurona wrote in DIR")
    args = parser.parse_args()
    if args.check:
        sys.exit(1 if check(args.check) else 0)
    make()
