#!/usr/bin/env python3
# keras.applications models saved by Keras 3 itself, for tests/applications/: neurona must load
# them and predict what Keras predicts, and its own applications must have the same layers.
#
# Default mode: saves keras.applications.MobileNetV2(alpha=0.35, input_shape=(32, 32, 3),
# weights=None, classes=10) (32x32 is the smallest input Keras allows) as
# tests/reference/saving/mobilenet_v2_035.keras, and mobilenet_v2_035.io.txt with an input
# batch x and Keras's predict(x) y (lines `name dim0 dim1 ... : v0 v1 ...`). The weights are
# Keras's initial ones (keras.utils.set_random_seed) with random BatchNormalization gammas and
# betas and a random classifier bias; the moving means and variances are the statistics of a
# calibration batch, so that every block is normalised and the output depends on the image
# (with Keras's initial statistics, 0 and 1, the features fade through the 17 blocks and every
# image gets the same softmax to 7 digits).
# It also writes tests/reference/applications/<case>.layers.txt for the STRUCTURE_CASES: one
# line per layer in model.layers order, `name class_name parameters output_shape inbound |
# options` (the shape as None,112,112,64; inbound: the layers whose outputs the layer is called
# on, comma-separated, - for none; options: the layer's get_config() as JSON without its name,
# trainable, dtype and the entries that are objects (initializers), i.e. every option that
# decides what the layer computes), which tests/applications/*_test.cpp compares with neurona's
# applications layer by layer, and prints the numbers those tests write down (parameter counts,
# layer counts, shapes).
#
# --check DIR: loads the mobilenet_v2_035.keras that neurona wrote into DIR
# (NEURONA_WRITE_SAVING_FIXTURES=DIR when running the test binary) into Keras and checks that
# Keras rebuilds the same layers as keras.applications.MobileNetV2 and reproduces neurona's y,
# both from the archive and with the archive's weights loaded into Keras's own MobileNetV2.
# Exits non-zero on any mismatch.
#
# --preprocess: writes only tests/reference/applications/preprocess_input.txt: images and what
# keras.applications' preprocess_input functions make of them (imagenet_utils' three modes in
# both data formats, resnet's and mobilenet_v2's), from a uint8 batch, a float32 batch and one
# float32 image, for tests/applications/imagenet_utils_test.cpp.
#
# Run with a Python that has Keras 3 and JAX (Keras 3.15.1, JAX 0.10.2 when these files were
# made):
#   KERAS_BACKEND=jax python3 tests/reference/make_keras_application_references.py
#   KERAS_BACKEND=jax python3 tests/reference/make_keras_application_references.py --check DIR
#   KERAS_BACKEND=jax python3 tests/reference/make_keras_application_references.py --preprocess
import argparse
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import keras  # noqa: E402

from make_keras_saving_references import read_io, write_io  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "saving")
STRUCTURE_OUT = os.path.join(HERE, "applications")
CASE = "mobilenet_v2_035"
SEED = 18
# Float32 rounding that 52 batch normalizations in a row amplify: Keras's and neurona's float32
# predictions of mobilenet_v2_035 are each 7e-6 from the exact one and 1.3e-5 from each other
# (tests/applications/mobilenet_v2_test.cpp, kFloat32Tolerance).
FLOAT32_TOLERANCE = 3e-5


def mobilenet_v2_035():
    return keras.applications.MobileNetV2(
        alpha=0.35, input_shape=(32, 32, 3), weights=None, classes=10
    )


def calibrate_batch_normalization(model, x):
    """Sets every BatchNormalization's moving statistics to those of `x` in one pass."""
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = 0.0  # moving = this batch's statistics
    model(x, training=True)
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum


def make():
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    model = mobilenet_v2_035()
    for w in model.weights:
        leaf = w.path.split("/")[-1]
        if leaf == "gamma":
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
        elif leaf == "beta" or (leaf == "bias" and "predictions" in w.path):
            w.assign(rng.uniform(-0.5, 0.5, w.shape).astype(np.float32))
    calibration = rng.uniform(-1.0, 1.0, (16, 32, 32, 3)).astype(np.float32)
    calibrate_batch_normalization(model, calibration)
    x = rng.uniform(-1.0, 1.0, (2, 32, 32, 3)).astype(np.float32)
    y = np.asarray(model.predict(x, verbose=0))
    os.makedirs(OUT, exist_ok=True)
    model.save(os.path.join(OUT, f"{CASE}.keras"))
    write_io(
        os.path.join(OUT, f"{CASE}.io.txt"),
        {"x": x, "y": y},
        "keras.applications.MobileNetV2(alpha=0.35, input_shape=(32, 32, 3), weights=None, "
        f"classes=10): x and Keras {keras.__version__}'s predict(x)",
    )
    print(f"{CASE}: {model.count_params()} parameters, y {y.shape}:\n{y}")


def print_architectures():
    """The numbers tests/applications/*_test.cpp writes down."""

    def show(what, model, layers=()):
        print(
            f"{what}: name {model.name}, {model.count_params()} parameters, "
            f"{len(model.layers)} layers, input {model.inputs[0].shape}, output {model.outputs[0].shape}"
        )
        for name in layers:
            print(f"    {name}: {model.get_layer(name).output.shape}")

    app = keras.applications
    keras.backend.clear_session()
    show(
        "ResNet50()",
        app.ResNet50(weights=None),
        ["conv1_pad", "conv1_conv", "pool1_pad", "pool1_pool", "conv2_block1_out",
         "conv3_block1_0_conv", "conv4_block6_out", "conv5_block3_out", "avg_pool"],
    )
    show("ResNet50(include_top=False)", app.ResNet50(weights=None, include_top=False))
    show("ResNet101()", app.ResNet101(weights=None))
    show("ResNet152()", app.ResNet152(weights=None))
    show(
        "ResNet50(input_shape=(32, 32, 3), include_top=False, pooling='max')",
        app.ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="max"),
    )
    for alpha in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4):
        keras.backend.clear_session()
        show(f"MobileNetV2(alpha={alpha})", app.MobileNetV2(weights=None, alpha=alpha),
             ["Conv1", "block_1_pad", "block_16_project", "Conv_1"])
    keras.backend.clear_session()
    show(
        "MobileNetV2(input_shape=(33, 40, 1), alpha=0.6, include_top=False, pooling='avg')",
        app.MobileNetV2(input_shape=(33, 40, 1), alpha=0.6, weights=None, include_top=False,
                        pooling="avg"),
        ["block_1_pad", "block_3_pad", "block_6_pad", "block_13_pad", "Conv_1"],
    )
    keras.backend.clear_session()
    show("MobileNetV2(include_top=False)", app.MobileNetV2(weights=None, include_top=False))
    keras.backend.clear_session()
    show("MobileNetV2(alpha=0.35, input_shape=(32, 32, 3), classes=10)", mobilenet_v2_035())
    keras.backend.clear_session()
    tensor = keras.Input((160, 160, 3))
    show("MobileNetV2(input_tensor=Input((160, 160, 3)))",
         app.MobileNetV2(weights=None, input_tensor=tensor))


# case -> (the call as the file's comment says it, the model)
STRUCTURE_CASES = {
    "resnet50": ("ResNet50(weights=None)", lambda: keras.applications.ResNet50(weights=None)),
    "mobilenet_v2_100": (
        "MobileNetV2(weights=None)",
        lambda: keras.applications.MobileNetV2(weights=None),
    ),
    # Odd and unequal sizes (correct_pad pads each axis differently), one channel, an alpha
    # without ImageNet weights, no top and average pooling.
    "mobilenet_v2_060_33x40": (
        "MobileNetV2(input_shape=(33, 40, 1), alpha=0.6, weights=None, include_top=False, "
        "pooling='avg')",
        lambda: keras.applications.MobileNetV2(
            input_shape=(33, 40, 1), alpha=0.6, weights=None, include_top=False, pooling="avg"
        ),
    ),
}


def write_structures():
    os.makedirs(STRUCTURE_OUT, exist_ok=True)
    for case, (call, build) in STRUCTURE_CASES.items():
        keras.backend.clear_session()  # automatic names from scratch (input_layer, ...)
        model = build()
        with open(os.path.join(STRUCTURE_OUT, f"{case}.layers.txt"), "w") as f:
            f.write(
                f"# keras.applications.{call}: name {model.name}, {model.count_params()} "
                f"parameters (Keras {keras.__version__}); per layer: name class_name "
                "parameters output_shape inbound | options\n"
            )
            for cls, name, inbound in structure(model):
                layer = model.get_layer(name)
                shape = ",".join("None" if d is None else str(d) for d in layer.output.shape)
                options = {
                    k: v
                    for k, v in layer.get_config().items()
                    if k not in ("name", "trainable", "dtype") and not isinstance(v, dict)
                }
                fields = [name, cls, str(layer.count_params()), shape, ",".join(inbound) or "-"]
                f.write(" ".join(fields) + " | " + json.dumps(options) + "\n")
        print(f"{case}.layers.txt: {len(model.layers)} layers")


def structure(model):
    """(class name, layer name, inbound layer names) of each layer, in order."""
    out = []
    for layer in model.layers:
        inbound = []
        for node in layer._inbound_nodes:
            inbound += [t._keras_history.operation.name for t in node.input_tensors]
        out.append((type(layer).__name__, layer.name, tuple(inbound)))
    return out


def check(directory):
    failures = 0

    def expect(what, ok, detail=""):
        nonlocal failures
        print(f"{CASE}: {what}: {'ok' if ok else 'MISMATCH'} {detail}")
        failures += not ok

    path = os.path.join(directory, f"{CASE}.keras")
    io_path = os.path.join(directory, f"{CASE}.io.txt")
    if not os.path.exists(path) or not os.path.exists(io_path):
        print(f"{CASE}: MISSING {path} or {io_path}")
        return 1
    io = read_io(io_path)
    keras.backend.clear_session()
    loaded = keras.saving.load_model(path)
    keras.backend.clear_session()
    reference = mobilenet_v2_035()
    expect("the same layers as keras.applications.MobileNetV2",
           structure(loaded) == structure(reference))
    differing = [
        l.name for l, r in zip(loaded.layers, reference.layers) if l.get_config() != r.get_config()
    ]
    expect("every layer's config as keras.applications.MobileNetV2's", not differing,
           f"(differing: {differing})" if differing else "")
    expect("count_params", loaded.count_params() == reference.count_params(),
           f"{loaded.count_params()} vs {reference.count_params()}")
    reference.load_weights(path)
    for what, model in ((".keras", loaded), ("its weights in Keras's MobileNetV2", reference)):
        got = np.asarray(model.predict(io["x"], verbose=0))
        y = io["y"]
        err = float(np.max(np.abs(got - y))) if got.shape == y.shape else float("inf")
        expect(f"{what} reproduces neurona's y",
               got.shape == y.shape and np.allclose(got, y, rtol=0.0, atol=FLOAT32_TOLERANCE),
               f"(max |keras - neurona| = {err:.3g})")
    print("all ok" if failures == 0 else f"{failures} failures")
    return failures


def write_preprocess():
    from keras.applications import imagenet_utils, mobilenet_v2, resnet

    rng = np.random.default_rng(5)
    images = {
        "u8": rng.integers(0, 256, (2, 3, 4, 3)).astype(np.uint8),
        "f32": rng.uniform(0, 255, (2, 3, 4, 3)).astype(np.float32),
        "one": rng.uniform(0, 255, (4, 2, 3)).astype(np.float32),
    }
    lines = []
    for name, x in images.items():
        lines.append(line(f"x_{name}", x))
        for mode in ("caffe", "tf", "torch"):
            y = imagenet_utils.preprocess_input(x.copy(), mode=mode)
            lines.append(line(f"{mode}_{name}", y))
            # channels_first: the same images with the channels moved first.
            xf = np.moveaxis(x, -1, -3).copy()
            yf = imagenet_utils.preprocess_input(xf, mode=mode, data_format="channels_first")
            lines.append(line(f"{mode}_first_{name}", yf))
        lines.append(line(f"resnet_{name}", resnet.preprocess_input(x.copy())))
        lines.append(line(f"mobilenet_v2_{name}", mobilenet_v2.preprocess_input(x.copy())))
    path = os.path.join(STRUCTURE_OUT, "preprocess_input.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", path)


def line(name, a):
    a = np.asarray(a, dtype=np.float32)
    dims = " ".join(str(d) for d in a.shape)
    vals = " ".join(f"{v:.9g}" for v in a.reshape(-1))
    return f"{name} {dims} : {vals}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", metavar="DIR", help="check the files neurona wrote in DIR")
    parser.add_argument("--preprocess", action="store_true",
                        help="write preprocess_input.txt only")
    args = parser.parse_args()
    if args.check:
        sys.exit(1 if check(args.check) else 0)
    if args.preprocess:
        write_preprocess()
        sys.exit(0)
    make()
    write_structures()
    print_architectures()
