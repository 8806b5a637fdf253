"""Reference results of Keras 3's deterministic image preprocessing layers (Rescaling, Resizing,
CenterCrop) for tests/layers/image_preprocessing_test.cpp.

Runs with the Keras 3 + JAX in the PyPI-reachable python3; rerun from the repository root with

    KERAS_BACKEND=jax python3 tests/reference/make_keras_preprocessing_references.py

It rewrites tests/reference/preprocessing/image_layers.txt, one tensor a line:
`name dim0 ... : v0 v1 ...`: the input images x (2, 7, 10, 3) in [0, 255), then the output of
each case under the case's name; and preprocessing/normalization.txt: the data d (10, 4, 3),
then for each Normalization case the adapted mean and variance and the output on d. (Keras
adapts on batches only through tf.data, which needs TensorFlow; the C++ test checks that adapting
on batches gives what adapting on d whole gives.); and preprocessing/affine.txt: images a
(2, 6, 9, 2) and transforms t (2, 8), then keras.ops.image.affine_transform for each
interpolation and fill mode, and the random affine layers with factors of one value (lower ==
upper: the draws are then that value on every backend) in training; and
preprocessing/preprocessing_model.keras with its .io.txt (a Sequential of these layers before a
small classifier, as Keras saves it, with x and Keras's predict(x)).

    KERAS_BACKEND=jax python3 tests/reference/make_keras_preprocessing_references.py --check DIR

loads the preprocessing_model.keras that neurona wrote into DIR (NEURONA_WRITE_SAVING_FIXTURES=DIR
when running the C++ tests; the stored copy is in preprocessing/from_neurona/) into Keras and
checks that it predicts neurona's y.
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
    # 7 x 10 to 4 x 4: one row of fill above and below (an odd difference, 3, rounds down).
    "resizing_pad_to_aspect": keras.layers.Resizing(4, 4, pad_to_aspect_ratio=True),
    # 7 x 10 to 3 x 9: five columns of fill (7.0) on each side.
    "resizing_pad_to_aspect_wide": keras.layers.Resizing(
        3, 9, pad_to_aspect_ratio=True, fill_value=7.0),
    # antialias: shrinking axes low-pass filtered (jax.image.resize(..., antialias=True)); a
    # growing axis (13 of 10 columns) as without it.
    "resizing_antialias_down": keras.layers.Resizing(3, 4, antialias=True),
    "resizing_antialias_bicubic": keras.layers.Resizing(
        2, 13, interpolation="bicubic", antialias=True),
    "resizing_antialias_lanczos3": keras.layers.Resizing(
        4, 3, interpolation="lanczos3", antialias=True),
    "resizing_antialias_crop": keras.layers.Resizing(
        2, 2, crop_to_aspect_ratio=True, antialias=True),
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


def affine():
    rng = np.random.default_rng(2)
    a = rng.uniform(0, 255, (2, 6, 9, 2)).astype(np.float32)
    # A rotation by 20 degrees with a zoom and a shift, and a shear with a negative shift.
    c, s = np.cos(np.pi / 9), np.sin(np.pi / 9)
    t = np.array([[1.1 * c, -1.1 * s, 1.7, 1.1 * s, 1.1 * c, -0.6, 0, 0],
                  [1.0, 0.35, -2.25, 0.0, 0.9, 1.3, 0, 0]], dtype=np.float32)
    lines = [f"# Keras {keras.__version__}, JAX backend", line("a", a), line("t", t)]
    for interpolation in ("nearest", "bilinear"):
        for mode in ("constant", "nearest", "wrap", "mirror", "reflect"):
            y = keras.ops.image.affine_transform(a, t, interpolation=interpolation,
                                                 fill_mode=mode, fill_value=17.5)
            lines.append(line(f"affine_{interpolation}_{mode}", y))
    # Keras's JAX backend takes one transform per image (neurona also one for all: the C++ test
    # passes t[0] alone).
    first = keras.ops.image.affine_transform(np.transpose(a, (0, 3, 1, 2)), np.tile(t[:1], (2, 1)),
                                             data_format="channels_first")
    lines.append(line("affine_shared_channels_first", first))
    layers = {
        "translation": keras.layers.RandomTranslation((0.2, 0.2), (-0.3, -0.3)),
        "translation_constant_nearest": keras.layers.RandomTranslation(
            (-0.25, -0.25), (0.15, 0.15), fill_mode="constant", interpolation="nearest",
            fill_value=3.0),
        "rotation": keras.layers.RandomRotation((0.1, 0.1)),
        "rotation_wrap": keras.layers.RandomRotation((-0.3, -0.3), fill_mode="wrap"),
        "zoom": keras.layers.RandomZoom((-0.3, -0.3), (0.2, 0.2)),
        "zoom_height_only": keras.layers.RandomZoom((0.4, 0.4), fill_mode="nearest"),
    }
    for name, layer in layers.items():
        lines.append(line(name, layer(a, training=True)))
    # What RandomCrop(8, 5) documents for images not larger than the window: the largest
    # central window of the target's aspect ratio, resized. (Keras 3.15's RandomCrop slices an
    # 8 x 5 window from that window's corner instead, and stretches it.)
    lines.append(line("crop_to_aspect_8x5", keras.layers.Resizing(8, 5, crop_to_aspect_ratio=True)(a)))
    with open(os.path.join(OUT, "affine.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def preprocessing_model():
    """A Sequential of the preprocessing layers before a small classifier. In inference the
    random layers pass their inputs through (RandomCrop is left out: Keras 3.15's passes its
    input through uncropped in inference, where neurona crops as Keras documents)."""
    keras.utils.set_random_seed(7)
    return keras.Sequential([
        keras.Input((7, 10, 3)),
        keras.layers.Rescaling(1 / 255.0),
        keras.layers.Normalization(mean=[0.4, 0.5, 0.6], variance=[0.04, 0.05, 0.06]),
        keras.layers.Resizing(8, 8, pad_to_aspect_ratio=True, fill_value=0.25),
        keras.layers.RandomFlip("horizontal", seed=1),
        keras.layers.RandomRotation(0.1, fill_mode="nearest", seed=2),
        keras.layers.RandomTranslation(0.1, 0.2, seed=3),
        keras.layers.RandomZoom(0.1, seed=4),
        keras.layers.RandomContrast(0.2, seed=5),
        keras.layers.RandomBrightness(0.1, value_range=(-3, 3), seed=6),
        keras.layers.CenterCrop(6, 6),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2),
    ])


def model_file():
    """preprocessing_model.keras as Keras saves it, and preprocessing_model.io.txt: x (2, 7, 10,
    3) in [0, 255) and Keras's predict(x)."""
    model = preprocessing_model()
    x = np.random.default_rng(3).uniform(0, 255, (2, 7, 10, 3)).astype(np.float32)
    model.save(os.path.join(OUT, "preprocessing_model.keras"))
    lines = [f"# Keras {keras.__version__}, JAX backend", line("x", x),
             line("y", model.predict(x, verbose=0))]
    with open(os.path.join(OUT, "preprocessing_model.io.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def read_lines(path):
    out = {}
    with open(path) as f:
        for text in f:
            if not text.strip() or text.startswith("#"):
                continue
            head, body = text.split(" : ")
            name, *dims = head.split()
            out[name] = np.array([float(v) for v in body.split()], np.float32).reshape(
                [int(d) for d in dims])
    return out


def check(directory):
    """Keras loads the preprocessing_model.keras that neurona wrote into `directory`
    (NEURONA_WRITE_SAVING_FIXTURES=DIR when running the C++ tests) and predicts neurona's y."""
    io = read_lines(os.path.join(directory, "preprocessing_model.io.txt"))
    loaded = keras.saving.load_model(os.path.join(directory, "preprocessing_model.keras"))
    got = np.asarray(loaded.predict(io["x"], verbose=0))
    ok = got.shape == io["y"].shape and np.allclose(got, io["y"], rtol=1e-5, atol=1e-5)
    err = float(np.max(np.abs(got - io["y"]))) if got.shape == io["y"].shape else float("inf")
    print(f"preprocessing_model.keras: max |keras - neurona| = {err:.3g} "
          f"{'ok' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    main()
    normalization()
    affine()
    model_file()
