#!/usr/bin/env python3
# Regenerates the reference texts of Keras 3's model.summary() that tests/models/summary_test.cpp
# compares against character for character. Run with a Python that has Keras 3 and JAX
# (`python3 -m venv /tmp/kerasenv && /tmp/kerasenv/bin/pip install keras jax`, the first
# python3 on PATH, 3.11, with Keras 3.15.1 and JAX 0.10.2 when these files were made):
#
#   KERAS_BACKEND=jax /tmp/kerasenv/bin/python tests/reference/make_keras_summaries.py
#
# It writes tests/reference/summary_<case>.txt beside itself. COLUMNS is set wide so that
# Keras uses its default line length (88) rather than narrowing the table to the terminal.
import os

os.environ["COLUMNS"] = "200"
os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
from keras import layers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class SubclassModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(1, activation="sigmoid")

    def call(self, inputs, training=False):
        return self.dense(inputs)


def mlp():
    return keras.Sequential(
        [
            layers.Input((16,)),
            layers.Dense(64, activation="relu"),
            layers.Dense(64, activation="relu"),
            layers.Dense(1),
        ]
    )


def fashion_dense():
    return keras.Sequential(
        [
            layers.Input((28, 28, 1)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ]
    )


def frozen():
    model = keras.Sequential(
        [layers.Input((8,)), layers.Dense(4), layers.Dense(2)]
    )
    model.layers[1].trainable = False
    return model


def shapes():
    return keras.Sequential(
        [
            layers.Input((5, 8)),
            layers.Dense(4),
            layers.Reshape((20,)),
            layers.Activation("tanh"),
            layers.Reshape((4, -1)),
        ]
    )


def unbuilt():
    return keras.Sequential([layers.Dense(3), layers.Dense(2)])


def called():
    model = keras.Sequential([layers.Dense(3)])
    model(keras.ops.ones((4, 2)))
    return model


def big():
    return keras.Sequential([layers.Input((4096,)), layers.Dense(4096)])


def subclass():
    model = SubclassModel()
    model(keras.ops.ones((4, 3)))
    return model


def long_name():
    return keras.Sequential(
        [
            layers.Input((2,)),
            layers.Dense(1, name="a_rather_long_layer_name_for_the_first_column"),
        ]
    )


def empty():
    return keras.Sequential([layers.Input((2,))])


def cnn():
    # The model of DESIGN.md, neurona's main job.
    return keras.Sequential(
        [
            layers.Input((28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )


def cnn_extras():
    return keras.Sequential(
        [
            layers.Input((32, 32, 3)),
            layers.ZeroPadding2D(((1, 0), (0, 1))),
            layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.Conv2D(16, 3, padding="same", groups=4),
            layers.AveragePooling2D(2, padding="same"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(10),
        ]
    )


def functional():
    # Two inputs, a shared layer, merges and a nested functional model: the "Connected to"
    # column, and a layer called twice.
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    shared = layers.Dense(3, name="shared")
    x, y = shared(a), shared(b)
    s = layers.Add()([x, y])
    c = layers.Concatenate()([x, s])
    inner_in = keras.Input((6,))
    inner = keras.Model(inner_in, layers.Dense(2)(inner_in), name="inner")
    return keras.Model([a, b], [inner(c), layers.Dense(1, name="out2")(s)])


def functional_chain():
    # A functional model that is a chain: Keras prints it without "Connected to".
    x = keras.Input((8,))
    h = layers.Dense(4, activation="relu")(x)
    return keras.Model(x, layers.Dense(2)(h), name="chain")


CASES = {
    "cnn": cnn,
    "cnn_extras": cnn_extras,
    "mlp": mlp,
    "fashion_dense": fashion_dense,
    "frozen": frozen,
    "shapes": shapes,
    "unbuilt": unbuilt,
    "called": called,
    "big": big,
    "subclass": subclass,
    "long_name": long_name,
    "empty": empty,
    "functional": functional,
    "functional_chain": functional_chain,
}

for name, make in CASES.items():
    keras.backend.clear_session()  # layer names start again at dense, dense_1, ...
    lines = []
    make().summary(print_fn=lambda s, **kwargs: lines.append(s))
    path = os.path.join(HERE, f"summary_{name}.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(lines))
    print("wrote", path)
