"""Reference outputs and gradients of Keras 3 layers for tests/layers/keras_reference_test.cpp.

Runs with the Keras 3 + JAX virtual environment (made once with
`python3 -m venv /tmp/kerasenv && /tmp/kerasenv/bin/pip install keras jax`); rerun from the
repository root with

    KERAS_BACKEND=jax /tmp/kerasenv/bin/python tests/reference/make_keras_layer_references.py

It rewrites tests/reference/layers/<case>.txt (with the argument `normalization`, only the
RMSNormalization and UnitNormalization files: normalization_cases(); with `renorm`, only the
batch renormalization ones: renorm_cases()), and reshaping_model.keras with its
reshaping_model.io.txt (a Sequential model of the reshaping and 1-D pooling layers, saved by
Keras, with an input and Keras's prediction). For each case, inputs, weights and the output
cotangent g come from numpy with a fixed seed; Keras computes y = layer(x) (through
stateless_call, which also returns BatchNormalization's updated moving statistics) and JAX
the gradients of sum(y * g) with respect to x and the trainable weights.

File format, one tensor a line: `name dim0 dim1 ... : v0 v1 ...` (row-major, float32 values
printed with 9 significant digits). Names: x, w0, w1, ... (the weights in layer.weights
order), g, y, grad_x, grad_w0, ... (for the trainable weights, in order), and for
BatchNormalization moving_mean, moving_variance (after the training call) and y_inference
(training=False with the initial weights); softmax_masked and global_average_pooling1d_masked*
also hold the mask (0/1 floats); merge_* (merging layers) hold their inputs x0, x1, ... and
grad_x0, grad_x1, ...
It also writes conv_layers_model.keras, a Sequential of Conv1D, Conv2DTranspose,
DepthwiseConv2D and SeparableConv2D as Keras saves it, with conv_layers_model.txt (x and
Keras's prediction y) for tests/layers/conv_layers_saving_test.cpp, and reshaping_model.keras
likewise for the reshaping layers.

The rerun rewrites every file; the existing ones should come back unchanged, but Keras's output
can move in the last digit between Keras/JAX versions and CPUs (2026-12-05: Keras 3.15 on an AMD
Zen against the files' Keras on a Cooperlake, up to 1e-7 relative in the convolutions): check
`git diff` and keep the existing files as they were.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import keras
import numpy as np

assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layers")


def line(name, a):
    a = np.asarray(a, dtype=np.float32)
    dims = " ".join(str(d) for d in a.shape)
    vals = " ".join(f"{v:.9g}" for v in a.reshape(-1))
    return f"{name} {dims} : {vals}".replace("  :", " :")


def case(name, layer, x_shape, seed, training=False, positive_weights=()):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, x_shape).astype(np.float32)
    layer.build(x_shape)
    weights = []
    for i, w in enumerate(layer.weights):
        if i in positive_weights:
            weights.append(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
        else:
            weights.append(rng.uniform(-1, 1, w.shape).astype(np.float32))
    layer.set_weights(weights)
    n_train = len(layer.trainable_weights)
    train0 = [jnp.asarray(w) for w in weights[:n_train]]
    non_train0 = [jnp.asarray(w) for w in weights[n_train:]]

    def run(xx, train):
        kwargs = {"training": training} if isinstance(layer, keras.layers.BatchNormalization) else {}
        y, non_train = layer.stateless_call(train, non_train0, xx, **kwargs)
        return y, non_train

    y, non_train = run(jnp.asarray(x), train0)
    g = rng.uniform(0.5, 1.5, y.shape).astype(np.float32)

    def loss(xx, train):
        return jnp.sum(run(xx, train)[0] * g)

    gx, gw = jax.grad(loss, argnums=(0, 1))(jnp.asarray(x), train0)
    lines = [line("x", x)]
    lines += [line(f"w{i}", w) for i, w in enumerate(weights)]
    lines += [line("g", g), line("y", y), line("grad_x", gx)]
    lines += [line(f"grad_w{i}", w) for i, w in enumerate(gw)]
    if isinstance(layer, keras.layers.BatchNormalization):
        lines += [line("moving_mean", non_train[0]), line("moving_variance", non_train[1])]
        if layer.renorm:
            lines += [line(n, v) for n, v in
                      zip(("moving_stddev", "renorm_mean", "renorm_stddev"), non_train[2:])]
        y_inf, _ = layer.stateless_call(train0, non_train0, jnp.asarray(x), training=False)
        lines.append(line("y_inference", y_inf))
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def case_masked_softmax(name, axis, x_shape, mask_shape, seed):
    """Softmax(axis)(x, mask=mask): x, mask (0/1 floats), g, y and grad_x."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, x_shape).astype(np.float32)
    mask = (rng.uniform(0, 1, mask_shape) > 0.4).astype(np.float32)
    layer = keras.layers.Softmax(axis=axis)

    def run(xx):
        return layer(xx, mask=jnp.asarray(mask) > 0.5)

    y = run(jnp.asarray(x))
    g = rng.uniform(0.5, 1.5, y.shape).astype(np.float32)
    gx = jax.grad(lambda xx: jnp.sum(run(xx) * g))(jnp.asarray(x))
    lines = [line("x", x), line("mask", mask), line("g", g), line("y", y), line("grad_x", gx)]
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def case_merge(name, layer, x_shapes, seed):
    """A merging layer on a list of inputs: x0, x1, ..., g, y, grad_x0, grad_x1, ..."""
    rng = np.random.default_rng(seed)
    xs = [rng.uniform(-1, 1, s).astype(np.float32) for s in x_shapes]
    y = layer([jnp.asarray(x) for x in xs])
    g = rng.uniform(0.5, 1.5, y.shape).astype(np.float32)
    grads = jax.grad(lambda xx: jnp.sum(layer(list(xx)) * g))([jnp.asarray(x) for x in xs])
    lines = [line(f"x{i}", x) for i, x in enumerate(xs)]
    lines += [line("g", g), line("y", y)]
    lines += [line(f"grad_x{i}", gx) for i, gx in enumerate(grads)]
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def case_masked_global_average_pooling1d(name, data_format, x_shape, seed):
    """GlobalAveragePooling1D(data_format)(x, mask=mask), mask (batch, steps) as 0/1 floats."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, x_shape).astype(np.float32)
    steps = x_shape[1] if data_format == "channels_last" else x_shape[2]
    mask = (rng.uniform(0, 1, (x_shape[0], steps)) > 0.4).astype(np.float32)
    mask[:, 0] = 1  # every row keeps a step
    layer = keras.layers.GlobalAveragePooling1D(data_format=data_format)

    def run(xx):
        return layer(xx, mask=jnp.asarray(mask) > 0.5)

    y = run(jnp.asarray(x))
    g = rng.uniform(0.5, 1.5, y.shape).astype(np.float32)
    gx = jax.grad(lambda xx: jnp.sum(run(xx) * g))(jnp.asarray(x))
    lines = [line("x", x), line("mask", mask), line("g", g), line("y", y), line("grad_x", gx)]
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def reshaping_model():
    """A Sequential model of every reshaping and 1-D pooling layer of issue 18."""
    L = keras.layers
    return keras.Sequential([
        L.Input((6, 4)),
        L.ZeroPadding1D(1),                                # (8, 4)
        L.Cropping1D((1, 0)),                              # (7, 4)
        L.UpSampling1D(2),                                 # (14, 4)
        L.MaxPooling1D(2),                                 # (7, 4)
        L.AveragePooling1D(2, padding="same"),             # (4, 4)
        L.Permute((2, 1)),                                 # (4, 4)
        L.Reshape((4, 4, 1)),
        L.UpSampling2D(2, interpolation="bilinear"),       # (8, 8, 1)
        L.Conv2D(2, 3, activation="relu"),                 # (6, 6, 2)
        L.Cropping2D(((1, 0), (0, 1))),                    # (5, 5, 2)
        L.Reshape((5, 10)),
        L.GlobalMaxPooling1D(data_format="channels_first", keepdims=True),  # (5, 1)
        L.Flatten(),
        L.RepeatVector(2),                                 # (2, 5)
        L.GlobalAveragePooling1D(),                        # (5,)
        L.Dense(3),
    ])


def save_reshaping_model():
    """reshaping_model.keras and reshaping_model.io.txt (x and Keras's predict(x))."""
    rng = np.random.default_rng(60)
    model = reshaping_model()
    for w in model.weights:
        w.assign(rng.uniform(-1, 1, w.shape).astype(np.float32))
    x = rng.uniform(-1, 1, (3, 6, 4)).astype(np.float32)
    y = np.asarray(model.predict(x, verbose=0))
    model.save(os.path.join(OUT, "reshaping_model.keras"))
    with open(os.path.join(OUT, "reshaping_model.io.txt"), "w") as f:
        f.write(line("x", x) + "\n" + line("y", y) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    L = keras.layers
    case("dense", L.Dense(3), (2, 4), 1)
    case("conv2d_same_strides2_even", L.Conv2D(3, 3, strides=2, padding="same"), (2, 6, 6, 2), 2)
    case("conv2d_same_strides2_odd", L.Conv2D(3, (3, 2), strides=2, padding="same"), (2, 5, 7, 2), 3)
    case("conv2d_dilation", L.Conv2D(2, 3, dilation_rate=2), (1, 7, 6, 2), 4)
    case("conv2d_dilation_same", L.Conv2D(2, 3, dilation_rate=(2, 1), padding="same"), (1, 5, 6, 2), 5)
    case("conv2d_groups", L.Conv2D(4, 2, groups=2, padding="same"), (1, 5, 5, 4), 6)
    case("conv2d_channels_first",
         L.Conv2D(3, 3, strides=2, padding="same", data_format="channels_first"), (2, 2, 5, 6), 7)
    case("max_pooling2d_same", L.MaxPooling2D(3, strides=2, padding="same"), (2, 5, 6, 2), 8)
    case("average_pooling2d_same", L.AveragePooling2D(3, strides=2, padding="same"), (2, 5, 6, 2), 9)
    case("average_pooling2d_same_even", L.AveragePooling2D(2, padding="same"), (1, 5, 4, 3), 10)
    case("zero_padding2d", L.ZeroPadding2D(((1, 2), (0, 3))), (1, 3, 2, 2), 11)
    # gamma, beta, moving_mean, moving_variance: the moving variance must be positive.
    case("batch_normalization", L.BatchNormalization(momentum=0.9), (4, 3, 3), 12, training=True,
         positive_weights=(3,))
    # The activation layer classes.
    case("relu_max_slope_threshold", L.ReLU(max_value=0.8, negative_slope=0.3, threshold=0.2),
         (3, 5), 13)
    case("relu_max", L.ReLU(max_value=0.5), (3, 5), 14)
    case("relu6_slope", L.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.1), (3, 5), 15)
    case("relu_slope", L.ReLU(negative_slope=0.25), (3, 5), 16)
    case("leaky_relu", L.LeakyReLU(negative_slope=0.2), (3, 5), 17)
    case("elu", L.ELU(alpha=0.7), (3, 5), 18)
    case("prelu", L.PReLU(), (3, 4), 19)
    case("prelu_shared_axes", L.PReLU(shared_axes=[1, 2]), (2, 3, 3, 2), 20)
    case("softmax", L.Softmax(), (3, 5), 21)
    case("softmax_axes", L.Softmax(axis=[1, 2]), (2, 3, 4), 22)
    case_masked_softmax("softmax_masked", -1, (2, 3, 5), (3, 5), 23)
    # gamma, beta over the last axis; over axes [1, 2] (weights of shape (3, 4)); the deprecated
    # rms_scaling (gamma only, x / sqrt(var + epsilon)); axes given unsorted and negative (Keras
    # sorts them as given: [-1, 1], so gamma has shape (4, 3), reshaped onto axes (1, 2)).
    case("layer_normalization", L.LayerNormalization(), (3, 5), 13)
    case("layer_normalization_axes", L.LayerNormalization(axis=[2, 1], epsilon=1e-5), (2, 3, 4), 14)
    case("layer_normalization_rms", L.LayerNormalization(rms_scaling=True), (2, 3, 4), 15)
    case("layer_normalization_mixed_axes", L.LayerNormalization(axis=[1, -1]), (2, 3, 4), 16)
    # groups of 2 channels on NHWC images; one group per channel (instance normalization); the
    # channels on axis 1 (NCHW).
    case("group_normalization", L.GroupNormalization(groups=2), (2, 3, 3, 4), 17)
    case("group_normalization_groups_eq_channels", L.GroupNormalization(groups=-1), (2, 3, 2, 3), 18)
    case("group_normalization_axis1", L.GroupNormalization(groups=3, axis=1, epsilon=1e-4),
         (2, 6, 2, 2), 19)
    # The merging layers: three inputs, broadcasting a 1, and a lower-rank input (Keras inserts
    # its missing axes after the batch axis); Concatenate along a middle axis; Dot over
    # several axis choices, normalized.
    case_merge("merge_add", L.Add(), [(2, 3, 4), (2, 3, 4), (2, 1, 4)], 30)
    case_merge("merge_subtract", L.Subtract(), [(2, 3), (2, 3)], 31)
    case_merge("merge_multiply", L.Multiply(), [(2, 3, 4), (2, 4)], 32)
    case_merge("merge_average", L.Average(), [(2, 3), (2, 3), (2, 3)], 33)
    case_merge("merge_maximum", L.Maximum(), [(2, 3, 4), (2, 3, 4)], 34)
    case_merge("merge_minimum", L.Minimum(), [(2, 5), (2, 5), (2, 5)], 35)
    case_merge("merge_concatenate_axis1", L.Concatenate(axis=1), [(2, 3, 4), (2, 2, 4)], 36)
    case_merge("merge_dot", L.Dot(axes=1), [(3, 4), (3, 4)], 37)
    case_merge("merge_dot_axes", L.Dot(axes=(2, 1)), [(2, 3, 4), (2, 4, 5)], 38)
    case_merge("merge_dot_normalize", L.Dot(axes=-1, normalize=True), [(2, 3, 4), (2, 5, 4)], 39)
    # Conv1D: valid with relu, same with strides, causal with dilation, groups on channels_first.
    case("conv1d_relu", L.Conv1D(3, 3, activation="relu"), (2, 7, 2), 24)
    case("conv1d_same_strides2", L.Conv1D(4, 3, strides=2, padding="same"), (2, 8, 3), 25)
    case("conv1d_causal_dilation", L.Conv1D(2, 3, padding="causal", dilation_rate=2), (2, 9, 2), 26)
    case("conv1d_groups_channels_first", L.Conv1D(4, 2, groups=2, data_format="channels_first"),
         (2, 4, 6), 27)
    # DepthwiseConv2D and SeparableConv2D (weights: depthwise_kernel, pointwise_kernel, bias).
    case("depthwise_conv2d_multiplier", L.DepthwiseConv2D(3, depth_multiplier=2), (2, 5, 6, 3), 28)
    case("depthwise_conv2d_same_strides2", L.DepthwiseConv2D((3, 2), strides=2, padding="same"),
         (2, 7, 6, 3), 29)
    case("depthwise_conv2d_dilation_channels_first",
         L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, data_format="channels_first",
                           dilation_rate=2), (1, 2, 6, 7), 30)
    case("separable_conv2d_multiplier", L.SeparableConv2D(4, 3, depth_multiplier=2), (2, 6, 5, 3), 31)
    case("separable_conv2d_same_strides2", L.SeparableConv2D(3, 3, strides=2, padding="same"),
         (2, 7, 7, 2), 32)
    case("separable_conv2d_dilation_channels_first",
         L.SeparableConv2D(3, (3, 2), dilation_rate=2, data_format="channels_first"), (1, 2, 7, 6), 33)
    # Conv2DTranspose (kernel (kh, kw, filters, in)): 'valid' and 'same' with and without
    # output_padding, strides larger than the kernel, dilation, channels_first.
    case("conv2d_transpose_valid", L.Conv2DTranspose(3, 3), (2, 4, 5, 2), 34)
    case("conv2d_transpose_same_strides2", L.Conv2DTranspose(3, 3, strides=2, padding="same"),
         (2, 4, 3, 2), 35)
    case("conv2d_transpose_same_strides2_even", L.Conv2DTranspose(2, 4, strides=2, padding="same"),
         (1, 3, 4, 3), 36)
    case("conv2d_transpose_output_padding",
         L.Conv2DTranspose(2, 3, strides=(2, 3), output_padding=(1, 2)), (2, 3, 4, 2), 37)
    case("conv2d_transpose_same_output_padding",
         L.Conv2DTranspose(2, (3, 4), strides=2, padding="same", output_padding=(1, 0)),
         (1, 4, 3, 2), 38)
    case("conv2d_transpose_strides_over_kernel", L.Conv2DTranspose(2, 2, strides=3), (1, 3, 3, 2), 39)
    case("conv2d_transpose_dilation", L.Conv2DTranspose(2, 3, dilation_rate=2, padding="same"),
         (1, 4, 5, 2), 40)
    case("conv2d_transpose_channels_first",
         L.Conv2DTranspose(3, 3, strides=2, data_format="channels_first"), (2, 2, 3, 4), 41)
    conv_layers_model()
    # Reshaping and 1-D pooling layers of issue 18, and gelu's tanh form.
    case("up_sampling2d_nearest", L.UpSampling2D((2, 3)), (2, 3, 2, 2), 30)
    case("up_sampling2d_nearest_channels_first",
         L.UpSampling2D(2, data_format="channels_first"), (1, 2, 3, 2), 31)
    case("up_sampling2d_bilinear", L.UpSampling2D(2, interpolation="bilinear"), (2, 3, 4, 2), 32)
    case("up_sampling2d_bilinear_channels_first",
         L.UpSampling2D((3, 2), data_format="channels_first", interpolation="bilinear"),
         (1, 2, 3, 4), 33)
    case("up_sampling2d_bilinear_unit_height", L.UpSampling2D((1, 3), interpolation="bilinear"),
         (1, 3, 4, 2), 34)
    case("up_sampling2d_bicubic", L.UpSampling2D(2, interpolation="bicubic"), (1, 4, 5, 2), 35)
    case("up_sampling2d_lanczos3", L.UpSampling2D((2, 3), interpolation="lanczos3"), (1, 4, 3, 1),
         36)
    case("up_sampling2d_lanczos5", L.UpSampling2D(3, interpolation="lanczos5"), (1, 3, 7, 2), 37)
    case("up_sampling1d", L.UpSampling1D(3), (2, 3, 4), 38)
    case("cropping1d", L.Cropping1D((1, 2)), (2, 6, 3), 39)
    case("cropping2d", L.Cropping2D(((1, 0), (2, 1))), (2, 4, 5, 3), 40)
    case("cropping2d_channels_first", L.Cropping2D((1, 2), data_format="channels_first"),
         (2, 3, 5, 6), 41)
    case("zero_padding1d", L.ZeroPadding1D((2, 1)), (2, 3, 4), 42)
    case("zero_padding1d_channels_first", L.ZeroPadding1D(2, data_format="channels_first"),
         (2, 3, 4), 43)
    case("zero_padding2d_channels_first",
         L.ZeroPadding2D(((1, 0), (2, 1)), data_format="channels_first"), (2, 3, 2, 3), 44)
    case("permute", L.Permute((3, 1, 2)), (2, 3, 4, 5), 45)
    case("repeat_vector", L.RepeatVector(3), (2, 4), 46)
    case("max_pooling1d_same", L.MaxPooling1D(3, strides=2, padding="same"), (2, 7, 3), 47)
    case("max_pooling1d_channels_first", L.MaxPooling1D(2, data_format="channels_first"),
         (2, 3, 7), 48)
    case("average_pooling1d_same", L.AveragePooling1D(3, strides=2, padding="same"), (2, 8, 3), 49)
    case("average_pooling1d_channels_first",
         L.AveragePooling1D(2, strides=1, padding="same", data_format="channels_first"), (2, 3, 5),
         50)
    case("global_max_pooling1d", L.GlobalMaxPooling1D(), (2, 5, 3), 51)
    case("global_max_pooling1d_channels_first_keepdims",
         L.GlobalMaxPooling1D(data_format="channels_first", keepdims=True), (2, 3, 5), 52)
    case("global_average_pooling1d_keepdims", L.GlobalAveragePooling1D(keepdims=True), (2, 5, 3),
         53)
    case("global_average_pooling1d_channels_first",
         L.GlobalAveragePooling1D(data_format="channels_first"), (2, 3, 5), 54)
    case_masked_global_average_pooling1d("global_average_pooling1d_masked", "channels_last",
                                         (3, 6, 2), 55)
    case_masked_global_average_pooling1d("global_average_pooling1d_masked_channels_first",
                                         "channels_first", (3, 2, 6), 56)
    case("gelu_approximate",
         L.Activation(lambda x: keras.activations.gelu(x, approximate=True)), (4, 5), 57)
    save_reshaping_model()
    normalization_cases()
    renorm_cases()



def conv_layers_model():
    """conv_layers_model.keras: a Sequential of issue 18's convolution layers as Keras saves it,
    and conv_layers_model.txt with an input x and Keras's prediction y
    (tests/layers/conv_layers_saving_test.cpp loads the file into neurona)."""
    L = keras.layers
    keras.utils.set_random_seed(42)
    model = keras.Sequential([
        L.Input((10, 3)),
        L.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu"),
        L.Reshape((10, 4, 1)),
        L.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1),
        L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", bias_initializer="ones"),
        L.SeparableConv2D(4, 3, strides=2, activation="tanh", depthwise_regularizer="l2"),
        L.Flatten(),
        L.Dense(2),
    ])
    x = np.random.default_rng(43).uniform(-1, 1, (2, 10, 3)).astype(np.float32)
    y = model.predict(x, verbose=0)
    model.save(os.path.join(OUT, "conv_layers_model.keras"))
    with open(os.path.join(OUT, "conv_layers_model.txt"), "w") as f:
        f.write(line("x", x) + "\n" + line("y", y) + "\n")


def normalization_cases():
    """RMSNormalization and UnitNormalization (Keras 3.9+): over the last axis, over two axes
    given unsorted (RMSNormalization sorts them: scale (3, 4)), UnitNormalization over a middle
    axis; and normalization_model.keras, a Sequential using both as Keras saves it, with
    normalization_model.txt (x and Keras's prediction y) for
    tests/layers/rms_unit_normalization_test.cpp. `... make_keras_layer_references.py
    normalization` writes these files only."""
    os.makedirs(OUT, exist_ok=True)
    L = keras.layers
    case("rms_normalization", L.RMSNormalization(), (3, 5), 60)
    case("rms_normalization_axes", L.RMSNormalization(axis=[2, 1], epsilon=1e-3), (2, 3, 4), 61)
    case("unit_normalization", L.UnitNormalization(), (3, 5), 62)
    case("unit_normalization_axes", L.UnitNormalization(axis=[2, 1]), (2, 3, 4), 63)
    case("unit_normalization_axis1", L.UnitNormalization(axis=1), (2, 3, 4), 64)
    keras.utils.set_random_seed(65)
    model = keras.Sequential([
        L.Input((6, 4)),
        L.Dense(8),
        L.RMSNormalization(epsilon=1e-5, name="rms"),
        L.UnitNormalization(axis=[1, 2], name="unit"),
        L.Flatten(),
        L.Dense(3),
    ])
    # A scale away from ones, so that loading it is checked.
    rms = model.get_layer("rms")
    rms.scale.assign(np.random.default_rng(66).uniform(0.5, 1.5, rms.scale.shape))
    x = np.random.default_rng(67).uniform(-1, 1, (2, 6, 4)).astype(np.float32)
    y = model.predict(x, verbose=0)
    model.save(os.path.join(OUT, "normalization_model.keras"))
    with open(os.path.join(OUT, "normalization_model.txt"), "w") as f:
        f.write(line("x", x) + "\n" + line("y", y) + "\n")


def renorm_cases():
    """BatchNormalization with renorm (batch renormalization): one training call with weights
    (gamma, beta, moving_mean, moving_variance, moving_stddev, renorm_mean, renorm_stddev) whose
    renorm statistics put r and d on both sides of the clipping bounds, and one without gamma
    (scale=False) or clipping; the file adds the updated moving_stddev, renorm_mean and
    renorm_stddev. renorm_model.keras, a Sequential with such a layer that Keras trained for a
    few steps and saved, with renorm_model.txt (x and Keras's prediction y), is for
    tests/layers/batch_normalization_test.cpp. `... make_keras_layer_references.py renorm`
    writes these files only."""
    os.makedirs(OUT, exist_ok=True)
    L = keras.layers
    case("batch_normalization_renorm",
         L.BatchNormalization(momentum=0.8, renorm=True, renorm_momentum=0.7,
                              renorm_clipping={"rmax": 0.7, "rmin": 0.6, "dmax": 0.5}),
         (4, 3, 3), 70, training=True, positive_weights=(3, 4, 6))
    case("batch_normalization_renorm_no_scale",
         L.BatchNormalization(axis=1, scale=False, renorm=True), (5, 3, 2), 71, training=True,
         positive_weights=(2, 3, 5))
    keras.utils.set_random_seed(72)
    model = keras.Sequential([
        L.Input((4, 3)),
        L.Dense(5),
        L.BatchNormalization(renorm=True, renorm_clipping={"rmax": 2.0, "dmax": 1.0},
                             momentum=0.5, renorm_momentum=0.6, name="bn"),
        L.Flatten(),
        L.Dense(2),
    ])
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(73)
    model.fit(rng.uniform(-1, 1, (16, 4, 3)), rng.uniform(-1, 1, (16, 2)), batch_size=4,
              epochs=1, verbose=0)
    x = rng.uniform(-1, 1, (2, 4, 3)).astype(np.float32)
    y = model.predict(x, verbose=0)
    model.save(os.path.join(OUT, "renorm_model.keras"))
    with open(os.path.join(OUT, "renorm_model.txt"), "w") as f:
        f.write(line("x", x) + "\n" + line("y", y) + "\n")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["normalization"]:
        normalization_cases()
    elif sys.argv[1:] == ["renorm"]:
        renorm_cases()
    else:
        main()
