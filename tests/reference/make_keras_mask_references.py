"""Reference results of Keras 3 for masks (issue 19): Embedding(mask_zero), Masking, and a mask
carried through layers into the loss and the metrics, for tests/layers/masking_test.cpp.

Runs with the Keras 3 + JAX in the PyPI-reachable python3; rerun from the repository root with

    KERAS_BACKEND=jax python3 tests/reference/make_keras_mask_references.py [CASE ...]

(CASE: a case's name, e.g. masked_batch_norm, to rewrite that one only; another JAX may change
the other files' last digits.)

It rewrites tests/reference/masks/<case>.txt (and the model cases' <case>.keras), one tensor a
line: `name dim0 dim1 ... : v0 v1 ...` (float32 values, 9 significant digits; integer tokens and
0/1 masks as floats). Inputs and weights come from numpy with a fixed seed; w0, w1, ... are the
model's weights in model.weights order.

--check DIR: loads the model files neurona wrote into DIR (NEURONA_WRITE_MASK_FIXTURES=DIR when
running `neurona_tests --gtest_filter=Masks.WriteFixturesForKerasWhenAsked`) into Keras and
checks that Keras reproduces neurona's outputs; exits non-zero on a mismatch. The stored copies
are in tests/reference/masks/from_neurona/ (2026-12-07, Keras 3.15.1, JAX 0.10.2: max difference
9.3e-9 for mask_argument_model, 1.9e-9 for attention_list_masks_model).
"""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import keras
import numpy as np
from keras import layers

assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "masks")


def line(name, a):
    a = np.asarray(a, dtype=np.float32)
    dims = " ".join(str(d) for d in a.shape)
    vals = " ".join(f"{v:.9g}" for v in a.reshape(-1))
    return f"{name} {dims} : {vals}".replace("  :", " :")


def write(name, lines):
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def tokens(rng, batch, steps, vocab):
    """Right-padded token rows: each row has 1..steps tokens in [1, vocab), then zeros."""
    t = rng.integers(1, vocab, (batch, steps))
    for b in range(batch):
        t[b, rng.integers(1, steps + 1):] = 0
    t[0, :] = rng.integers(1, vocab, steps)  # one full row
    return t.astype(np.int32)


def set_random_weights(model, rng):
    weights = [rng.uniform(-1, 1, w.shape).astype(np.float32) for w in model.weights]
    model.set_weights(weights)
    return weights


def embedding_case():
    """Embedding(7, 4, mask_zero=True): y, its mask, and the gradient of sum(y * g)."""
    rng = np.random.default_rng(1)
    x = tokens(rng, 3, 5, 7)
    layer = layers.Embedding(7, 4, mask_zero=True)
    layer.build((3, 5))
    w = rng.uniform(-1, 1, (7, 4)).astype(np.float32)
    layer.set_weights([w])
    y = layer(x)
    mask = keras.backend.get_keras_mask(y) if hasattr(keras.backend, "get_keras_mask") else y._keras_mask
    g = rng.uniform(0.5, 1.5, y.shape).astype(np.float32)
    gw = jax.grad(lambda ww: jnp.sum(layer.stateless_call([ww], [], x)[0] * g))(jnp.asarray(w))
    write("embedding", [line("x", x), line("w0", w), line("g", g), line("y", y),
                        line("mask", mask), line("grad_w0", gw)])


def masking_case():
    """Masking(0.5): steps whose features all equal 0.5 are masked and zeroed."""
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (2, 4, 3)).astype(np.float32)
    x[0, 1, :] = 0.5
    x[1, 3, :] = 0.5
    x[1, 0, 0] = 0.5  # one feature equal is not enough
    y = layers.Masking(0.5)(x)
    write("masking", [line("x", x), line("y", y), line("mask", y._keras_mask)])


def pooled_model_case():
    """Embedding(mask_zero) -> Dense(relu) -> GlobalAveragePooling1D -> Dense: the mask reaches
    the pooling through Dense, so padding does not dilute the average."""
    rng = np.random.default_rng(3)
    x = tokens(rng, 4, 6, 10)
    model = keras.Sequential([
        keras.Input((6,), dtype="int32"),
        layers.Embedding(10, 4, mask_zero=True),
        layers.Dense(3, activation="relu"),
        layers.GlobalAveragePooling1D(),
        layers.Dense(2),
    ])
    weights = set_random_weights(model, rng)
    y = model.predict(x, verbose=0)
    write("pooled_model", [line("x", x)] + [line(f"w{i}", w) for i, w in enumerate(weights)]
          + [line("y", y)])


def merge_case():
    """Two masked sequences (and an unmasked one) through the merging layers, each then pooled:
    Add ORs the masks, Concatenate joins them, Multiply and Maximum take the other input's
    value at a step masked in one input, and a mask is lost when one input has none."""
    rng = np.random.default_rng(4)
    a = tokens(rng, 3, 5, 8)
    b = tokens(rng, 3, 5, 8)
    ia = keras.Input((5,), dtype="int32")
    ib = keras.Input((5,), dtype="int32")
    ea = layers.Embedding(8, 3, mask_zero=True)(ia)
    eb = layers.Embedding(8, 3, mask_zero=True)(ib)
    ec = layers.Embedding(8, 3)(ib)  # no mask
    gap = layers.GlobalAveragePooling1D
    outputs = [
        gap()(layers.Add()([ea, eb])),
        gap()(layers.Concatenate()([ea, eb])),
        gap()(layers.Multiply()([ea, eb])),
        gap()(layers.Maximum()([ea, eb])),
        gap()(layers.Minimum()([ea, ec])),
        gap()(layers.Add()([ea, ec])),
    ]
    model = keras.Model([ia, ib], outputs)
    weights = set_random_weights(model, rng)
    ys = model.predict([a, b], verbose=0)
    names = ["y_add", "y_concat", "y_multiply", "y_maximum", "y_minimum_partial", "y_add_partial"]
    write("merge", [line("a", a), line("b", b)]
          + [line(f"w{i}", w) for i, w in enumerate(weights)]
          + [line(n, y) for n, y in zip(names, ys)])


def masked_loss_case():
    """A per-step classifier on padded sequences: the mask on y_pred weighs the loss (mean over
    the real steps) and the accuracy; evaluate, then one SGD step with train_on_batch."""
    rng = np.random.default_rng(5)
    x = tokens(rng, 4, 6, 9)
    y = rng.integers(0, 5, (4, 6)).astype(np.int32)
    model = keras.Sequential([
        keras.Input((6,), dtype="int32"),
        layers.Embedding(9, 4, mask_zero=True),
        layers.Dense(5, activation="softmax"),
    ])
    weights = set_random_weights(model, rng)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    loss, acc = model.evaluate(x, y, batch_size=4, verbose=0)
    # The same loss without the mask, to show that the mask matters.
    p = model.predict(x, verbose=0)
    unmasked = float(keras.losses.SparseCategoricalCrossentropy()(y, np.asarray(p)))
    train_loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    after = model.get_weights()
    write("masked_loss", [line("x", x), line("y", y)]
          + [line(f"w{i}", w) for i, w in enumerate(weights)]
          + [line("loss", np.float32(loss)), line("accuracy", np.float32(acc)),
             line("unmasked_loss", np.float32(unmasked)),
             line("train_loss", np.float32(train_loss))]
          + [line(f"after_w{i}", w) for i, w in enumerate(after)])


def masked_batch_norm_case():
    """BatchNormalization in training on padded sequences with their mask: the batch statistics
    over the kept steps only (every step normalized), the moving statistics after, and the
    gradients of sum(y * g) with respect to the inputs, gamma and beta."""
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 2, (3, 5, 4)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], dtype=bool)
    bn = layers.BatchNormalization(momentum=0.5)
    bn.build(x.shape)
    weights = [rng.uniform(0.5, 1.5, 4), rng.uniform(-0.5, 0.5, 4), rng.uniform(-0.5, 0.5, 4),
               rng.uniform(0.5, 1.5, 4)]
    weights = [w.astype(np.float32) for w in weights]
    bn.set_weights(weights)
    g = rng.uniform(0.5, 1.5, x.shape).astype(np.float32)
    trainable = [jnp.asarray(w) for w in weights[:2]]
    moving = [jnp.asarray(w) for w in weights[2:]]

    def loss(tv, xx):
        y, _ = bn.stateless_call(tv, moving, xx, training=True, mask=mask)
        return jnp.sum(y * g)

    grad_w, grad_x = jax.grad(loss, argnums=(0, 1))(trainable, jnp.asarray(x))
    y = bn(x, training=True, mask=mask)
    write("masked_batch_norm",
          [line("x", x), line("mask", mask), line("g", g)]
          + [line(f"w{i}", w) for i, w in enumerate(weights)]
          + [line("y", y), line("moving_mean", bn.moving_mean), line("moving_variance",
                                                                     bn.moving_variance),
             line("grad_x", grad_x), line("grad_w0", grad_w[0]), line("grad_w1", grad_w[1])])


def mask_argument_model_case():
    """Layers given Keras's mask=m keyword argument, a model input (0/1 ints), in a .keras file:
    an LSTM over the unmasked features' steps that m keeps, and a GlobalAveragePooling1D given m
    in place of the mask its input carries (the OR of the LSTM's output mask, m, and the
    Embedding's, the tokens' non-zeros), so that m alone decides which steps are averaged."""
    rng = np.random.default_rng(7)
    features = keras.Input((5, 3), name="features")
    tokens_in = keras.Input((5,), dtype="int32", name="tokens")
    step_mask = keras.Input((5,), dtype="int32", name="step_mask")
    h = layers.LSTM(4, return_sequences=True, name="lstm")(features, mask=step_mask)
    e = layers.Embedding(10, 4, mask_zero=True, name="embedding")(tokens_in)
    pooled = layers.GlobalAveragePooling1D(name="pool")(layers.Add(name="add")([h, e]),
                                                        mask=step_mask)
    model = keras.Model([features, tokens_in, step_mask], layers.Dense(2, name="head")(pooled))
    set_random_weights(model, rng)
    model.save(os.path.join(OUT, "mask_argument_model.keras"))
    x = rng.uniform(-1, 1, (3, 5, 3)).astype(np.float32)
    t = tokens(rng, 3, 5, 10)
    m = np.array([[1, 1, 1, 1, 1], [1, 0, 1, 1, 0], [0, 1, 1, 0, 0]], np.int32)
    y = model.predict([x, t, m], verbose=0)
    write("mask_argument_model", [line("features", x), line("tokens", t), line("step_mask", m),
                                  line("y", y)])


def attention_list_masks_model_case():
    """Keras's list call given a list of masks, Attention()([q, v], mask=[qm, vm]), in a .keras
    file: an Attention given model inputs qm and vm (vm in place of the mask the value carries,
    an Embedding's), and an AdditiveAttention given mask=[None, vm] over a query that carries a
    mask (None: the output is not zeroed at its padded steps)."""
    rng = np.random.default_rng(11)
    query = keras.Input((4, 6), name="query")
    query_tokens = keras.Input((4,), dtype="int32", name="query_tokens")
    value_tokens = keras.Input((5,), dtype="int32", name="value_tokens")
    query_mask = keras.Input((4,), dtype="int32", name="query_mask")
    value_mask = keras.Input((5,), dtype="int32", name="value_mask")
    value = layers.Embedding(10, 6, mask_zero=True, name="value_embedding")(value_tokens)
    a = layers.Attention(use_scale=True, name="attention")([query, value],
                                                          mask=[query_mask, value_mask])
    q2 = layers.Embedding(10, 6, mask_zero=True, name="query_embedding")(query_tokens)
    b = layers.AdditiveAttention(name="additive")([q2, value, value], mask=[None, value_mask])
    model = keras.Model([query, query_tokens, value_tokens, query_mask, value_mask],
                        layers.Concatenate(name="concat")([a, b]))
    set_random_weights(model, rng)
    model.save(os.path.join(OUT, "attention_list_masks_model.keras"))
    q = rng.uniform(-1, 1, (3, 4, 6)).astype(np.float32)
    tq = tokens(rng, 3, 4, 10)
    tv = tokens(rng, 3, 5, 10)
    qm = np.array([[1, 1, 1, 1], [1, 0, 1, 0], [0, 1, 1, 0]], np.int32)
    vm = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 1, 1], [0, 0, 1, 1, 0]], np.int32)
    y = model.predict([q, tq, tv, qm, vm], verbose=0)
    write("attention_list_masks_model", [line("query", q), line("query_tokens", tq),
                                         line("value_tokens", tv), line("query_mask", qm),
                                         line("value_mask", vm), line("y", y)])


CASES = {
    "embedding": embedding_case,
    "masking": masking_case,
    "pooled_model": pooled_model_case,
    "merge": merge_case,
    "masked_loss": masked_loss_case,
    "masked_batch_norm": masked_batch_norm_case,
    "mask_argument_model": mask_argument_model_case,
    "attention_list_masks_model": attention_list_masks_model_case,
}

def read_io(path):
    """A .txt of `name dims : values` lines, as neurona's tests write them."""
    out = {}
    with open(path) as f:
        for raw in f:
            if not raw.strip():
                continue
            head, body = raw.split(":", 1)
            parts = head.split()
            shape = tuple(int(d) for d in parts[1:])
            out[parts[0]] = np.array([float(v) for v in body.split()], np.float32).reshape(shape)
    return out


def check(directory):
    """Loads the model files neurona wrote into `directory` into Keras and compares Keras's
    predictions with neurona's (the .txt beside each). Returns the number of mismatches."""
    failures = 0
    for name in ("mask_argument_model", "attention_list_masks_model"):
        base = os.path.join(directory, name)
        model = keras.saving.load_model(base + ".keras")
        io = read_io(base + ".txt")
        inputs = [io[t.name].astype(t.dtype) for t in model.inputs]
        y = model.predict(inputs, verbose=0)
        err = float(np.max(np.abs(y - io["y"])))
        ok = np.allclose(y, io["y"], rtol=1e-5, atol=1e-5)
        print(f"{name} .keras y: max |keras - neurona| = {err:.3g} {'ok' if ok else 'MISMATCH'}")
        failures += not ok
    return failures


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--check"]:
        sys.exit(1 if check(sys.argv[2]) else 0)
    os.makedirs(OUT, exist_ok=True)
    for name in sys.argv[1:] or CASES:
        CASES[name]()
    print("wrote", sorted(os.listdir(OUT)))
