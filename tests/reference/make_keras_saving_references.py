#!/usr/bin/env python3
# Interoperability of neurona's saving with Keras 3 itself, both ways.
#
# Default mode: builds the notebook's models (a Sequential, the SubclassModel), a small MLP and a
# small CNN with fixed weights, saves each as <case>.weights.h5 and <case>.keras, and writes
# <case>.io.txt with an input x and Keras's output y (lines `name dim0 dim1 ... : v0 v1 ...`)
# into tests/reference/saving/. tests/models/saving_keras_test.cpp loads each file into neurona
# and reproduces y.
# Compiled models (tests/models/compile_config_test.cpp): compiled_cnn.keras, a small CNN
# compiled with Adam, sparse_categorical_crossentropy and ["accuracy"] and trained for a few
# steps, whose .io.txt also holds a further batch (x_next, y_next) and what Keras's
# train_on_batch on it from the saved state gives (loss_next, the weights after the step:
# kernel_0, bias_0, kernel_1, bias_1 in model.weights order); and compile_configs.json, Keras's
# get_compile_config() for compiled_cnn and for a set of compile() calls that the C++ test
# repeats. dense_float16 and dense_bfloat16: 16-bit weights as Keras stores them (HALF_CASES).
#
# --check DIR: loads the files neurona wrote into DIR (NEURONA_WRITE_SAVING_FIXTURES=DIR when
# running the test binary; the stored copies are in tests/reference/saving/from_neurona/) into
# Keras and checks that Keras reproduces neurona's y, and that Keras loads compiled_cnn.keras
# compiled, with the compile_config and optimizer config neurona wrote. Exits non-zero on any
# mismatch.
#
# Run with a Python that has Keras 3, JAX and h5py (Keras 3.15.1, JAX 0.10.2, h5py 3.16.0 when
# these files were made):
#   python3 -m venv /tmp/kerasenv && /tmp/kerasenv/bin/pip install keras jax h5py
#   /tmp/kerasenv/bin/python tests/reference/make_keras_saving_references.py
#   /tmp/kerasenv/bin/python tests/reference/make_keras_saving_references.py \
#       --check tests/reference/saving/from_neurona
import argparse
import json
import os
import sys
import zipfile

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


def functional():
    # The functional API: a layer called twice, merges, a nested functional model, a call with
    # training fixed (Dropout(training=False)). tests/models/saving_models.h builds the same.
    x = keras.Input((6,), name="x")
    shared = layers.Dense(4, activation="tanh", name="shared")
    a = shared(x)
    b = shared(layers.Dense(6, name="pre")(x))
    s = layers.Add()([a, b])
    c = layers.Concatenate()([a, s])
    inner_in = keras.Input((8,))
    inner = keras.Model(inner_in, layers.Dense(3, activation="relu")(inner_in), name="inner")
    h = inner(c)
    m = layers.Multiply()([h, layers.Dense(3, activation="sigmoid", name="gate")(s)])
    d = layers.Dot(axes=1, normalize=True)([m, h])
    joined = layers.Concatenate()(
        [m, d, layers.Average()([h, m]), layers.Maximum()([h, m]), layers.Subtract()([h, m])]
    )
    joined = layers.Dropout(0.5)(joined, training=False)
    return keras.Model(x, layers.Dense(2, name="head")(joined), name="functional_case")


CASES = {
    "notebook_sequential": (notebook_sequential, (4, 2)),
    "subclass_model": (subclass, (4, 2)),
    "mlp": (mlp, (4, 4)),
    "cnn": (cnn, (2, 8, 8, 1)),
    "functional": (functional, (5, 6)),
}


def compiled_cnn():
    return keras.Sequential(
        [
            layers.Input((8, 8, 1)),
            layers.Conv2D(4, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )


# compiled_cnn's compile() arguments; tests/models/compile_config_test.cpp uses the same.
COMPILED_CNN_LEARNING_RATE = 5e-3


def compile_compiled_cnn(model):
    model.compile(
        optimizer=keras.optimizers.Adam(COMPILED_CNN_LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


# compile() calls whose get_compile_config() compile_configs.json records; the C++ test makes
# the same calls (explicit optimizer names: Keras's automatic ones depend on what ran before).
def compile_config_cases():
    s = keras.optimizers.schedules
    return {
        "adam_mse_mae": dict(
            optimizer=keras.optimizers.Adam(1e-2, name="adam"), loss="mse", metrics=["mae"]
        ),
        "sgd_schedule_objects": dict(
            optimizer=keras.optimizers.SGD(
                s.ExponentialDecay(0.1, 100, 0.9, staircase=True),
                momentum=0.9,
                nesterov=True,
                name="sgd",
            ),
            loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
            metrics=[
                keras.metrics.CategoricalAccuracy(),
                keras.metrics.AUC(num_thresholds=50),
                "acc",
            ],
            loss_weights=0.5,
        ),
        "adamw_huber_metrics": dict(
            optimizer=keras.optimizers.AdamW(2e-3, weight_decay=0.01, clipnorm=1.0, name="adam_w"),
            loss=keras.losses.Huber(),
            metrics=[
                keras.metrics.Precision(thresholds=0.3),
                keras.metrics.Recall(),
                keras.metrics.TopKCategoricalAccuracy(k=3),
                keras.metrics.BinaryAccuracy(threshold=0.7),
                keras.metrics.MeanSquaredError(),
            ],
        ),
        "rmsprop_cosine_sparse": dict(
            optimizer=keras.optimizers.RMSprop(
                s.CosineDecay(0.1, 100, alpha=0.1, warmup_target=0.2, warmup_steps=10),
                rho=0.8,
                momentum=0.5,
                centered=True,
                name="rmsprop",
            ),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[
                keras.metrics.SparseCategoricalAccuracy(),
                keras.metrics.SparseTopKCategoricalAccuracy(k=2),
            ],
        ),
        "nadam_piecewise": dict(
            optimizer=keras.optimizers.Nadam(
                s.PiecewiseConstantDecay([10, 20], [0.1, 0.01, 0.001]),
                global_clipnorm=2.0,
                name="nadam",
            ),
            loss=keras.losses.MeanSquaredError(reduction="sum"),
            metrics=[keras.metrics.Accuracy(), keras.metrics.MeanAbsoluteError()],
        ),
        "adagrad_inverse_time": dict(
            optimizer=keras.optimizers.Adagrad(
                s.InverseTimeDecay(0.1, 10, 0.5),
                initial_accumulator_value=0.2,
                epsilon=1e-6,
                clipvalue=0.5,
                name="adagrad",
            ),
            loss=keras.losses.BinaryCrossentropy(label_smoothing=0.1),
            metrics=["binary_accuracy", "AUC"],
        ),
        "adamax_kld": dict(
            optimizer=keras.optimizers.Adamax(2e-3, beta_1=0.8, name="adamax"),
            loss=keras.losses.KLDivergence(),
        ),
        "adam_amsgrad_strings": dict(
            optimizer=keras.optimizers.Adam(
                3e-4, beta_1=0.85, beta_2=0.99, epsilon=1e-6, amsgrad=True, name="adam"
            ),
            loss="categorical_crossentropy",
            metrics=["accuracy", "mse"],
        ),
        "sgd_mae_object": dict(
            optimizer=keras.optimizers.SGD(0.1, name="sgd"),
            loss=keras.losses.MeanAbsoluteError(),
            loss_weights=2.0,
        ),
    }


# 16-bit weights (tests/models/saving_half_test.cpp): Dense(8) on 4 inputs with dtype float16
# and with dtype bfloat16. Keras 3 writes float16 variables as IEEE half datasets and bfloat16
# ones as 2-byte opaque data with the dataset attribute dtype="bfloat16"; <case>.io.txt holds
# the weights' values (exact in float32) as kernel and bias.
HALF_CASES = {"dense_float16": "float16", "dense_bfloat16": "bfloat16"}


def half_model(dtype):
    return keras.Sequential([layers.Input((4,)), layers.Dense(8, dtype=dtype)])


def make_half():
    for i, (case, dtype) in enumerate(HALF_CASES.items()):
        rng = np.random.default_rng(300 + i)
        model = half_model(dtype)
        for w in model.weights:
            w.assign(rng.uniform(-1.0, 1.0, w.shape).astype(np.float32))
        model.save_weights(os.path.join(OUT, f"{case}.weights.h5"))
        kernel, bias = (np.asarray(w).astype(np.float32) for w in model.weights)
        write_io(os.path.join(OUT, f"{case}.io.txt"), {"kernel": kernel, "bias": bias})
        print(f"{case}: {dtype} weights")


def check_half(directory):
    """Keras loads neurona's 16-bit weights, stored as Keras stores them, to the same values."""
    import h5py

    failures = 0
    for case, dtype in HALF_CASES.items():
        path = os.path.join(directory, f"{case}.weights.h5")
        io_path = os.path.join(directory, f"{case}.io.txt")
        if not os.path.exists(path) or not os.path.exists(io_path):
            print(f"{case}: MISSING {path} or {io_path}")
            failures += 1
            continue
        with h5py.File(path) as f:
            ds = f["layers/dense/vars/0"]
            if dtype == "float16":
                stored_ok = ds.dtype == np.float16
            else:
                stored_ok = ds.dtype.kind == "V" and ds.dtype.itemsize == 2
                stored_ok = stored_ok and ds.attrs.get("dtype") == "bfloat16"
            print(f"{case}: stored as {ds.dtype} {dict(ds.attrs)}: {'ok' if stored_ok else 'MISMATCH'}")
            failures += not stored_ok
        model = half_model(dtype)
        model.load_weights(path)
        io = read_io(io_path)
        for name, w in zip(("kernel", "bias"), model.weights):
            got = np.asarray(w).astype(np.float32)
            ok = w.dtype == dtype and np.array_equal(got, io[name])
            print(f"{case} {name}: {w.dtype} {'ok' if ok else 'MISMATCH'}")
            failures += not ok
    return failures


def write_io(path, arrays, comment=None):
    with open(path, "w") as f:
        if comment:
            f.write(f"# {comment}\n")
        for name, a in arrays.items():
            a = np.asarray(a, np.float32)
            dims = " ".join(str(d) for d in a.shape)
            values = " ".join("%.9g" % v for v in a.reshape(-1))
            f.write(f"{name} {dims} : {values}\n")


def read_io(path):
    out = {}
    with open(path) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
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
    configs = {"compiled_cnn": make_compiled_cnn()}
    for case, kwargs in compile_config_cases().items():
        model = compiled_cnn()
        model.compile(**kwargs)
        configs[case] = model.get_compile_config()
    with open(os.path.join(OUT, "compile_configs.json"), "w") as f:
        json.dump(configs, f, indent=1)
        f.write("\n")
    print(f"compile_configs.json: {len(configs)} cases")
    make_half()


def weight_names(model):
    """kernel_0, bias_0, kernel_1, ... for the layers' weights in model.weights order."""
    names, layer_index = [], -1
    for w in model.weights:
        if w.name == "kernel":
            layer_index += 1
        names.append(f"{w.name}_{layer_index}")
    return names


def make_compiled_cnn():
    keras.utils.set_random_seed(200)
    rng = np.random.default_rng(200)
    model = compiled_cnn()
    compile_compiled_cnn(model)
    x_train = rng.uniform(-1.0, 1.0, (32, 8, 8, 1)).astype(np.float32)
    y_train = rng.integers(0, 3, (32,)).astype(np.int32)
    model.fit(x_train, y_train, batch_size=8, epochs=1, shuffle=False, verbose=0)
    path = os.path.join(OUT, "compiled_cnn.keras")
    model.save(path)
    x = rng.uniform(-1.0, 1.0, (4, 8, 8, 1)).astype(np.float32)
    x_next = rng.uniform(-1.0, 1.0, (8, 8, 8, 1)).astype(np.float32)
    y_next = rng.integers(0, 3, (8,)).astype(np.int32)
    # From the saved state, as the C++ test starts from it.
    loaded = keras.saving.load_model(path)
    y = np.asarray(loaded.predict(x, verbose=0))
    logs = loaded.train_on_batch(x_next, y_next, return_dict=True)
    arrays = {"x": x, "y": y, "x_next": x_next, "y_next": y_next}
    arrays["loss_next"] = np.array([logs["loss"]], np.float32)
    for name, w in zip(weight_names(loaded), loaded.weights):
        arrays[name] = np.asarray(w)
    write_io(os.path.join(OUT, "compiled_cnn.io.txt"), arrays)
    print(
        f"compiled_cnn: iterations {int(model.optimizer.iterations)}, "
        f"loss after train_on_batch {logs['loss']:.6g}"
    )
    return model.get_compile_config()


def check_compiled_cnn(directory):
    """Keras loads neurona's compiled_cnn.keras compiled as neurona wrote it."""
    path = os.path.join(directory, "compiled_cnn.keras")
    io_path = os.path.join(directory, "compiled_cnn.io.txt")
    if not os.path.exists(path) or not os.path.exists(io_path):
        print(f"compiled_cnn: MISSING {path} or {io_path}")
        return 1
    with zipfile.ZipFile(path) as z:
        written = json.loads(z.read("config.json"))["compile_config"]
    loaded = keras.saving.load_model(path)
    failures = 0

    def expect(what, ok):
        nonlocal failures
        print(f"compiled_cnn: {what}: {'ok' if ok else 'MISMATCH'}")
        failures += not ok

    expect("compiled", bool(loaded.compiled) and written is not None)
    if not loaded.compiled or written is None:
        return failures + 1
    # Keras serializes what it loaded back to exactly what neurona wrote.
    expect(
        "get_compile_config() == neurona's compile_config",
        loaded.get_compile_config() == written,
    )
    reference = keras.optimizers.Adam(COMPILED_CNN_LEARNING_RATE).get_config()
    got = loaded.optimizer.get_config()
    expect(
        f"optimizer {type(loaded.optimizer).__name__} config == Adam({COMPILED_CNN_LEARNING_RATE})",
        isinstance(loaded.optimizer, keras.optimizers.Adam)
        and {k: v for k, v in got.items() if k != "name"}
        == {k: v for k, v in reference.items() if k != "name"},
    )
    expect("loss", written["loss"] == "sparse_categorical_crossentropy")
    expect("metrics", written["metrics"] == ["accuracy"])
    io = read_io(io_path)
    got_y = np.asarray(loaded.predict(io["x"], verbose=0))
    expect("predict reproduces neurona's y", np.allclose(got_y, io["y"], rtol=1e-5, atol=1e-6))
    iterations = int(loaded.optimizer.iterations)
    print(f"compiled_cnn: Keras's optimizer iterations after loading: {iterations}")
    logs = loaded.train_on_batch(io["x"], np.zeros((io["x"].shape[0],), np.int32), return_dict=True)
    expect("train_on_batch runs", np.isfinite(logs["loss"]))
    return failures


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
    failures += check_compiled_cnn(directory)
    failures += check_half(directory)
    print("all ok" if failures == 0 else f"{failures} failures")
    return failures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", metavar="DIR", help="check the files neurona wrote in DIR")
    args = parser.parse_args()
    if args.check:
        sys.exit(1 if check(args.check) else 0)
    make()
