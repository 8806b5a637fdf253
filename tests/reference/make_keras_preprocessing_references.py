"""Reference results of Keras 3's deterministic image preprocessing layers (Rescaling, Resizing,
CenterCrop) for tests/layers/image_preprocessing_test.cpp.

Runs with the Keras 3 + JAX in the PyPI-reachable python3; rerun from the repository root with

    KERAS_BACKEND=jax python3 tests/reference/make_keras_preprocessing_references.py

It rewrites tests/reference/preprocessing/image_layers.txt, one tensor a line:
`name dim0 ... : v0 v1 ...`: the input images x (2, 7, 10, 3) in [0, 255), then the output of
each case under the case's name; and preprocessing/normalization.txt: the data d (10, 4, 3),
then for each Normalization case the adapted mean and variance and the output on d. (Keras
adapts on batches only through tf.data, which needs TensorFlow; the C++ test checks that adapting
on batches gives what adapting on d whole gives.)
"""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np

assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "preprocessing")


def line(name, a):
    a = np.asarray(a, dtype=np.float32)
    dims = " ".join(str(d) for d in a.shape)
    vals = " ".join(f"{v:.9g}" for v in a.reshape(-1))
    return f"{name} {dims} : {vals}".replace("  :", " :")


CASES = {
    "rescaling": keras.layers.Rescaling(1 / 127.5, offset=-1),
    "resizing_bilinear_up": keras.layers.Resizing(9, 13),
    "resizing_bilinear_down": keras.layers.Resizing(4, 5),
    "resizing_nearest": keras.layers.Resizing(5, 7, interpolation="nearest"),
    "resizing_bicubic": keras.layers.Resizing(6, 8, interpolation="bicubic"),
    "resizing_crop_to_aspect": keras.layers.Resizing(4, 4, crop_to_aspect_ratio=True),
    "center_crop": keras.layers.CenterCrop(4, 6),
    "center_crop_smaller": keras.layers.CenterCrop(9, 6),
}


def main():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, 7, 10, 3)).astype(np.float32)
    lines = [f"# Keras {keras.__version__}, JAX backend", line("x", x)]
    for name, layer in CASES.items():
        lines.append(line(name, layer(x)))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "image_layers.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def normalization():
    rng = np.random.default_rng(1)
    d = (rng.normal(size=(10, 4, 3)) * 3 + 5).astype(np.float32)
    lines = [f"# Keras {keras.__version__}, JAX backend", line("d", d)]
    cases = {
        "last_axis": (dict(axis=-1), d),
        "axes_1_2": (dict(axis=(1, 2)), d),
        "no_axis": (dict(axis=None), d),
    }
    for name, (kwargs, data) in cases.items():
        layer = keras.layers.Normalization(**kwargs)
        layer.adapt(data)
        lines += [line(f"{name}_mean", layer.adapt_mean), line(f"{name}_variance", layer.adapt_variance),
                  line(f"{name}_y", layer(d))]
    given = keras.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 0.25], invert=True)
    lines.append(line("invert_given_y", given(d)))
    with open(os.path.join(OUT, "normalization.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
    normalization()
