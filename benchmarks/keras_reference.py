"""Keras 3 itself on neurona's `cnn` and `resnet` (tools/fashion_models.h), to tell how training
in neurona compares with training in Keras. Two modes:

  fit SEED EPOCHS [MODEL]
                    trains as `neurona train --model MODEL --epochs EPOCHS --seed SEED` does
                    (MODEL cnn, the default, or resnet; Adam 1e-3, for the resnet decayed along a
                    cosine over the run; batch 128, shuffled each epoch, all 60000 images) and
                    prints the test accuracy; the seeds are Keras's, so runs compare as
                    distributions.
  steps DIR N       writes Keras's initial weights to DIR/w0.weights.h5, then runs
                    train_on_batch on the first N batches of 128 in file order and prints each
                    step's loss; `build-cpu/benchmarks/train_steps DIR/w0.weights.h5 N` does the
                    same in neurona from the same weights, so the two columns compare step by step.

Runs with the Keras 3 + JAX virtual environment, CPU (made once with
`python3 -m venv /tmp/kerasenv && /tmp/kerasenv/bin/pip install keras jax h5py`):

    KERAS_BACKEND=jax /tmp/kerasenv/bin/python benchmarks/keras_reference.py fit 1 10

The data is Debian's dataset-fashion-mnist, read directly (no download).
"""
import gzip
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"


def images(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16)
    return raw.reshape(-1, 28, 28, 1).astype(np.float32) / 255.0


def labels(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)


def make_cnn():
    L = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(),
        L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(),
        L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def make_resnet(epochs):
    """ResNet-20 as nr::applications::ResNet20 builds it (same layer names, initializers,
    L2(1e-4) on the kernels, bias-free convolutions before batch normalization), on the images
    padded to 32x32 inside the model, compiled with the recipe of `neurona train --model
    resnet`: 273,466 parameters."""
    L = keras.layers
    decay = keras.regularizers.L2(1e-4)

    def conv(x, filters, kernel, strides, bias, name):
        return L.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=bias,
                        kernel_initializer="he_normal", kernel_regularizer=decay,
                        name=name + "_conv")(x)

    def conv_bn(x, filters, strides, name, relu=True):
        y = L.BatchNormalization(name=name + "_bn")(conv(x, filters, 3, strides, False, name))
        return L.Activation("relu", name=name + "_relu")(y) if relu else y

    image = keras.Input((28, 28, 1), name="image")
    x = conv_bn(L.ZeroPadding2D(2, name="pad")(image), 16, 1, "conv1")
    for stage in range(3):
        filters = 16 << stage
        for block in range(3):
            name = f"conv{stage + 2}_block{block + 1}"
            strides = 2 if stage > 0 and block == 0 else 1
            y = conv_bn(x, filters, strides, name + "_1")
            y = conv_bn(y, filters, 1, name + "_2", relu=False)
            shortcut = conv(x, filters, 1, strides, True, name + "_0") if strides != 1 else x
            x = L.Activation("relu", name=name + "_out")(L.Add(name=name + "_add")([shortcut, y]))
    x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    x = L.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(image, x, name="resnet20")
    steps = epochs * -(-60000 // 128)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main():
    mode = sys.argv[1]
    x = images("train-images-idx3-ubyte.gz")
    y = labels("train-labels-idx1-ubyte.gz")
    xt = images("t10k-images-idx3-ubyte.gz")
    yt = labels("t10k-labels-idx1-ubyte.gz")
    if mode == "fit":
        seed, epochs = int(sys.argv[2]), int(sys.argv[3])
        kind = sys.argv[4] if len(sys.argv) > 4 else "cnn"
        keras.utils.set_random_seed(seed)
        model = make_resnet(epochs) if kind == "resnet" else make_cnn()
        start = time.time()
        h = model.fit(x, y, batch_size=128, epochs=epochs, verbose=2)
        r = model.evaluate(xt, yt, batch_size=256, verbose=0, return_dict=True)
        print(f"keras {keras.__version__} model {kind} seed {seed} epochs {epochs} "
              f"test_accuracy {100 * r['accuracy']:.2f} test_loss {r['loss']:.4f} "
              f"train_accuracy {100 * h.history['accuracy'][-1]:.2f} "
              f"seconds {time.time() - start:.0f}")
    elif mode == "steps":
        out, steps = sys.argv[2], int(sys.argv[3])
        keras.utils.set_random_seed(1)
        model = make_cnn()
        model.save_weights(os.path.join(out, "w0.weights.h5"))
        for i in range(steps):
            r = model.train_on_batch(x[i * 128:(i + 1) * 128], y[i * 128:(i + 1) * 128],
                                     return_dict=True)
            print(f"step {i} loss {r['loss']:.7f}")
    else:
        sys.exit(f"unknown mode {mode!r}: fit or steps")


if __name__ == "__main__":
    main()
