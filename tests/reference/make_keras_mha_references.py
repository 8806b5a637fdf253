"""Reference results of Keras 3's MultiHeadAttention for tests/layers/multi_head_attention_test.cpp.

Runs with the Keras 3 + JAX in the PyPI-reachable python3; rerun from the repository root with

    KERAS_BACKEND=jax python3 tests/reference/make_keras_mha_references.py [--axes]

(--keyword-masks: only keyword_masks_model.keras with keyword_masks_model.txt, a model given
value_mask, key_mask and query_mask inputs; --axes: only the cases of inputs of rank > 3, attention_axes, and axes_model.keras with
axes_model.txt, a functional model of two such layers saved by Keras; --output-shape: only the
cases of an output_shape of several dimensions and output_shape_model.keras; another JAX may
change the other files' last digits.)

It rewrites tests/reference/attention/<case>.txt, one tensor a line: `name dim0 ... : v0 v1 ...`,
attention_mask_model.keras with attention_mask_model.txt (a model input given as the
attention_mask, with use_causal_mask), and transformer_model.keras with transformer_model.txt: a small functional transformer (token and
position Embeddings, the tokens' with mask_zero, causal self-attention, a GELU feed-forward block,
LayerNormalization, cross-attention on the masked token embeddings) saved by Keras, with padded
inputs and Keras's prediction.
Each case: query q, value v (and key k), masks (0/1 floats: query_mask, value_mask,
attention_mask), the weights w0.. in layer.weights order (query kernel, bias, key kernel,
bias, value kernel, bias, output kernel, bias), an output cotangent g, Keras's output y (and
scores), and the JAX gradients of sum(y * g) with respect to the inputs and the weights.

--check DIR: loads the files neurona wrote into DIR (NEURONA_WRITE_MHA_FIXTURES=DIR when running
`neurona_tests --gtest_filter=MultiHeadAttentionSaving.WriteFixturesForKerasWhenAsked`) into
Keras and checks that Keras reproduces neurona's outputs from the .keras file and from the
.weights.h5. Exits non-zero on a mismatch. The stored copies are in
tests/reference/attention/from_neurona/ (2026-12-05, Keras 3.15.1, JAX 0.10.2: max difference
5.4e-7; axes_model, the rank-4 model as neurona saves it, 2026-12-06: 7.2e-7;
keyword_masks_model, value_mask / key_mask / query_mask inputs, 2026-12-07: 3.6e-7). neurona's transformer also has Attention, AdditiveAttention and KerasHub's positional
layers, which the check loads from KerasHub's source (make_keras_hub_position_references.py).
"""
import argparse
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import keras
import numpy as np

assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "attention")


def line(name, a):
    a = np.asarray(a, dtype=np.float32)
    dims = " ".join(str(d) for d in a.shape)
    vals = " ".join(f"{v:.9g}" for v in a.reshape(-1))
    return f"{name} {dims} : {vals}".replace("  :", " :")


def case(name, layer_kwargs, q_shape, v_shape, k_shape=None, query_mask=False, value_mask=False,
         attention_mask=False, causal=False, scores=False, seed=0, mask_shape=None):
    """mask_shape: an attention_mask of that shape (for inputs of rank > 3: (batch, the other
    axes..., query attention axes..., key attention axes...)), each query seeing its first key."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(-1, 1, q_shape).astype(np.float32)
    v = rng.uniform(-1, 1, v_shape).astype(np.float32)
    k = rng.uniform(-1, 1, k_shape).astype(np.float32) if k_shape else None
    layer = keras.layers.MultiHeadAttention(**layer_kwargs)
    layer.build(q_shape, v_shape, k_shape)
    weights = [rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in layer.weights]
    layer.set_weights(weights)
    lines = [line("q", q), line("v", v)] + ([line("k", k)] if k is not None else [])
    kw = {"use_causal_mask": causal, "return_attention_scores": scores}
    qm = vm = am = None
    if query_mask:
        # Keras's call reads the query's mask from the tensor (get_keras_mask), ignoring a
        # query_mask keyword; an attached mask is ANDed in as [B, T, 1], which is what the
        # attention_mask below carries (set_keras_mask cannot mark a JAX tracer).
        qm = rng.uniform(0, 1, q_shape[:2]) > 0.3
        qm[:, 0] = True
        lines.append(line("query_mask", qm))
    if value_mask:
        vm = rng.uniform(0, 1, v_shape[:2]) > 0.3
        vm[:, 0] = True
        lines.append(line("value_mask", vm))
        kw["value_mask"] = jnp.asarray(vm)
    if attention_mask:
        am = rng.uniform(0, 1, (q_shape[0], q_shape[1], v_shape[1])) > 0.3
        lines.append(line("attention_mask", am))
    if mask_shape is not None:
        am = rng.uniform(0, 1, mask_shape) > 0.3
        key_axes = len(layer_kwargs["attention_axes"]) if "attention_axes" in layer_kwargs \
            else len(q_shape) - 2
        am[(Ellipsis,) + (0,) * key_axes] = True
        lines.append(line("attention_mask", am))
        kw["attention_mask"] = jnp.asarray(am)
    elif attention_mask or query_mask:
        full = am if am is not None else np.ones((q_shape[0], q_shape[1], v_shape[1]), bool)
        if qm is not None:
            full = full & qm[:, :, None]
        kw["attention_mask"] = jnp.asarray(full)

    def run(qq, vv, kk, ws):
        out, _ = layer.stateless_call(ws, [], qq, vv, kk, **kw)
        return out

    out = run(jnp.asarray(q), jnp.asarray(v), None if k is None else jnp.asarray(k),
              [jnp.asarray(w) for w in weights])
    y = out[0] if scores else out
    g = rng.uniform(0.5, 1.5, y.shape).astype(np.float32)

    def loss(qq, vv, kk, ws):
        o = run(qq, vv, kk, ws)
        return jnp.sum((o[0] if scores else o) * g)

    argnums = (0, 1, 2, 3) if k is not None else (0, 1, 3)
    grads = jax.grad(loss, argnums=argnums)(
        jnp.asarray(q), jnp.asarray(v), None if k is None else jnp.asarray(k),
        [jnp.asarray(w) for w in weights])
    lines += [line(f"w{i}", w) for i, w in enumerate(weights)]
    lines += [line("g", g), line("y", y)]
    if scores:
        lines.append(line("scores", out[1]))
    lines += [line("grad_q", grads[0]), line("grad_v", grads[1])]
    if k is not None:
        lines.append(line("grad_k", grads[2]))
    lines += [line(f"grad_w{i}", w) for i, w in enumerate(grads[-1])]
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def transformer_model():
    L = keras.layers
    keras.utils.set_random_seed(11)
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    positions = keras.Input((6,), dtype="int32", name="positions")
    e = L.Embedding(20, 16, mask_zero=True, name="token_embedding")(tokens)
    p = L.Embedding(6, 16, name="position_embedding")(positions)
    h = L.Add()([e, p])  # carries no mask: p has none
    a = L.MultiHeadAttention(2, 8, name="self_attention")(h, h, use_causal_mask=True)
    h = L.LayerNormalization(epsilon=1e-5)(L.Add()([h, a]))
    f = L.Dense(32, activation="gelu")(h)
    f = L.Dropout(0.1)(L.Dense(16)(f))
    h = L.LayerNormalization(epsilon=1e-5)(L.Add()([h, f]))
    # The value carries the tokens' mask: padded tokens take no part.
    c = L.MultiHeadAttention(2, 4, name="cross_attention")(h, e)
    y = L.Dense(20, name="logits")(L.Add()([h, c]))
    return keras.Model([tokens, positions], y)


def attention_mask_model():
    """MultiHeadAttention given a model input as its attention_mask (a float 0/1 input)."""
    L = keras.layers
    keras.utils.set_random_seed(12)
    tokens = keras.Input((5,), dtype="int32", name="tokens")
    mask = keras.Input((5, 5), name="attention_mask")
    e = L.Embedding(20, 8)(tokens)
    a = L.MultiHeadAttention(2, 4, name="masked_attention")(e, e, attention_mask=mask,
                                                              use_causal_mask=True)
    return keras.Model([tokens, mask], L.Dense(3, name="logits")(a))


def keyword_masks_model():
    """MultiHeadAttention given model inputs as its value_mask, key_mask and query_mask keyword
    arguments. The value and the key carry masks of their own (Embedding(mask_zero), passed on
    by Dense), which the given ones replace (Keras's Layer.__call__ fills a `<arg>_mask` from the
    tensor only when it is None); Keras's call ignores a given query_mask and reads the query's
    own mask. A second layer, self-attention without a key, takes a key_mask alone (Keras's
    _compute_attention_mask applies a given key_mask whether or not a key is)."""
    L = keras.layers
    keras.utils.set_random_seed(16)
    tokens = keras.Input((5,), dtype="int32", name="tokens")
    context = keras.Input((6,), dtype="int32", name="context")
    value_mask = keras.Input((6,), dtype="int32", name="value_mask")
    key_mask = keras.Input((6,), name="key_mask")
    query_mask = keras.Input((5,), name="query_mask")
    self_key_mask = keras.Input((5,), dtype="int32", name="self_key_mask")
    wide = keras.initializers.RandomNormal(stddev=1.0)
    q = L.Embedding(20, 8, embeddings_initializer=wide, mask_zero=True,
                    name="query_embedding")(tokens)
    c = L.Embedding(20, 8, embeddings_initializer=wide, mask_zero=True,
                    name="context_embedding")(context)
    k = L.Dense(8, name="key_projection")(c)
    a = L.MultiHeadAttention(2, 4, name="cross_attention")(
        q, c, k, query_mask=query_mask, value_mask=value_mask, key_mask=key_mask)
    b = L.MultiHeadAttention(2, 3, name="self_attention")(a, a, key_mask=self_key_mask)
    return keras.Model([tokens, context, value_mask, key_mask, query_mask, self_key_mask],
                       L.Dense(3, name="logits")(L.Add()([a, b])))


def write_keyword_masks_model():
    model = keyword_masks_model()
    model.save(os.path.join(OUT, "keyword_masks_model.keras"))
    tokens = np.array([[3, 7, 1, 0, 0], [5, 2, 9, 4, 8]], np.int32)
    context = np.array([[4, 0, 6, 2, 0, 0], [1, 3, 5, 7, 9, 11]], np.int32)
    value_mask = np.array([[1, 1, 1, 0, 1, 0], [0, 1, 1, 1, 1, 0]], np.int32)
    key_mask = np.array([[1, 0, 1, 1, 1, 1], [1, 1, 0, 1, 1, 1]], np.float32)
    query_mask = np.array([[0, 1, 0, 1, 0], [1, 0, 0, 0, 1]], np.float32)
    self_key_mask = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 0, 1]], np.int32)
    inputs = [tokens, context, value_mask, key_mask, query_mask, self_key_mask]
    y = model.predict(inputs, verbose=0)
    names = ["tokens", "context", "value_mask", "key_mask", "query_mask", "self_key_mask"]
    with open(os.path.join(OUT, "keyword_masks_model.txt"), "w") as f:
        f.write("\n".join([line(n, x) for n, x in zip(names, inputs)] + [line("y", y)]) + "\n")


def axes_model():
    """Attention over the axes of a grid (rank-4 inputs): over each row's 4 steps (attention_axes
    (2,), the rows batch-like), then over all 3 x 4 positions (Keras's default axes)."""
    L = keras.layers
    keras.utils.set_random_seed(14)
    x = keras.Input((3, 4, 8), name="grid")
    a = L.MultiHeadAttention(2, 4, attention_axes=(2,), name="row_attention")(x, x)
    h = L.LayerNormalization(epsilon=1e-5)(L.Add()([x, a]))
    b = L.MultiHeadAttention(2, 3, value_dim=5, output_shape=8, name="grid_attention")(h, h)
    return keras.Model(x, L.Dense(3, name="head")(L.Add()([h, b])))


def write_axes_model():
    model = axes_model()
    model.save(os.path.join(OUT, "axes_model.keras"))
    x = np.random.default_rng(15).normal(size=(2, 3, 4, 8)).astype(np.float32)
    y = model.predict(x, verbose=0)
    with open(os.path.join(OUT, "axes_model.txt"), "w") as f:
        f.write("\n".join([line("x", x), line("y", y)]) + "\n")


def transformer_inputs():
    tokens = np.array([[5, 3, 9, 1, 0, 0], [2, 7, 7, 4, 8, 6], [11, 0, 0, 0, 0, 0]], np.int32)
    positions = np.tile(np.arange(6, dtype=np.int32), (3, 1))
    return tokens, positions


def read_io(path):
    out = {}
    with open(path) as f:
        for text in f:
            head, body = text.split(" : ")
            parts = head.split()
            shape = tuple(int(d) for d in parts[1:])
            out[parts[0]] = np.array([float(v) for v in body.split()], np.float32).reshape(shape)
    return out


def check(directory):
    # neurona's transformer also has KerasHub's positional layers, and an attention_mask input.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from make_keras_hub_position_references import load_keras_hub_layers
    load_keras_hub_layers()
    base = os.path.join(directory, "transformer")
    io = read_io(base + ".txt")
    inputs = [io["tokens"].astype(np.int32), io["positions"].astype(np.int32),
              io["attention_mask"]]
    failures = 0
    # The rank-4 model (axes_model) as neurona saved it, if it wrote one.
    axes = os.path.join(directory, "axes_model")
    if os.path.exists(axes + ".keras"):
        io_axes = read_io(axes + ".txt")
        y = keras.saving.load_model(axes + ".keras").predict(io_axes["x"], verbose=0)
        ok = np.allclose(y, io_axes["y"], rtol=1e-5, atol=1e-5)
        print(f"axes_model .keras y: max |keras - neurona| = "
              f"{float(np.max(np.abs(y - io_axes['y']))):.3g} {'ok' if ok else 'MISMATCH'}")
        failures += not ok
    # The keyword-mask model (value_mask, key_mask and query_mask inputs) as neurona saved it.
    km = os.path.join(directory, "keyword_masks_model")
    if os.path.exists(km + ".keras"):
        io_km = read_io(km + ".txt")
        names = ["tokens", "context", "value_mask", "key_mask", "query_mask", "self_key_mask"]
        ints = {"tokens", "context", "value_mask", "self_key_mask"}
        km_inputs = [io_km[n].astype(np.int32) if n in ints else io_km[n] for n in names]
        y = keras.saving.load_model(km + ".keras").predict(km_inputs, verbose=0)
        ok = np.allclose(y, io_km["y"], rtol=1e-5, atol=1e-5)
        print(f"keyword_masks_model .keras y: max |keras - neurona| = "
              f"{float(np.max(np.abs(y - io_km['y']))):.3g} {'ok' if ok else 'MISMATCH'}")
        failures += not ok
    for what in ("keras", "weights.h5"):
        m = keras.saving.load_model(base + ".keras")
        if what == "weights.h5":
            for w in m.weights:
                w.assign(np.zeros(w.shape, np.float32))
            m.load_weights(base + ".weights.h5")
        ys = m.predict(inputs, verbose=0)
        for key, y in zip(("y", "scores"), ys):
            ok = np.allclose(y, io[key], rtol=1e-5, atol=1e-5)
            err = float(np.max(np.abs(y - io[key])))
            print(f"transformer .{what} {key}: max |keras - neurona| = {err:.3g} "
                  f"{'ok' if ok else 'MISMATCH'}")
            failures += not ok
    return failures


def axes_cases():
    """Inputs of rank > 3: attention over several axes jointly, or over some axes with the
    others batch-like (Keras's attention_axes), with scores and an attention_mask."""
    # Rank 4, Keras's default axes (1, 2): every one of the 3 x 4 positions attends every other.
    case("mha_rank4_default_scores", {"num_heads": 2, "key_dim": 3}, (2, 3, 4, 5), (2, 3, 4, 5),
         scores=True, seed=7)
    # attention_axes (2,): axis 1 is batch-like; cross-attention over 4 query and 6 key steps,
    # with an attention_mask (batch, 3, 4, 6).
    case("mha_axes2_cross_mask_scores", {"num_heads": 2, "key_dim": 3, "attention_axes": (2,)},
         (2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7), scores=True, seed=8, mask_shape=(2, 3, 4, 6))
    # attention_axes 1 on rank 4 (axis 2 batch-like), no scores: Keras's einsum path.
    case("mha_axes1_rank4", {"num_heads": 3, "key_dim": 2, "attention_axes": 1, "value_dim": 4,
                             "output_shape": 6}, (2, 4, 3, 5), (2, 5, 3, 5), seed=9)
    # Rank 5, attention_axes (1, 3) (not adjacent): axis 2 batch-like, 3 x 4 positions attend.
    case("mha_rank5_axes13_scores", {"num_heads": 2, "key_dim": 2, "attention_axes": (1, 3)},
         (2, 3, 2, 4, 5), (2, 3, 2, 4, 5), scores=True, seed=10)
    write_axes_model()


def gate_window_cases():
    """Keras 3.15's gated attention (use_gate) and sliding_window, alone, with the causal mask,
    and together with a value mask and the scores (Keras's explicit path)."""
    case("mha_gate", {"num_heads": 2, "key_dim": 3, "use_gate": True}, (2, 4, 5), (2, 6, 5),
         seed=7)
    case("mha_sliding_window_causal", {"num_heads": 2, "key_dim": 3, "sliding_window": 2},
         (2, 6, 4), (2, 6, 4), causal=True, seed=8)
    case("mha_sliding_window_gate_masks_scores",
         {"num_heads": 2, "key_dim": 2, "value_dim": 3, "sliding_window": 3, "use_gate": True},
         (2, 5, 4), (2, 7, 4), value_mask=True, scores=True, seed=9)


def output_shape_cases():
    """output_shape of several dimensions (Keras takes a tuple): the output projection's kernel
    is (heads, value_dim, *output_shape) and the output (batch, steps..., *output_shape); on
    rank-3 inputs, on rank-4 ones over attention_axes (2,), and in a functional model saved by
    Keras (output_shape_model.keras)."""
    case("mha_output_shape_2d", {"num_heads": 2, "key_dim": 3, "output_shape": (2, 4)},
         (2, 4, 5), (2, 6, 5), seed=11)
    case("mha_axes_output_shape_2d",
         {"num_heads": 2, "key_dim": 2, "attention_axes": (2,), "output_shape": (3, 2)},
         (2, 3, 4, 5), (2, 3, 4, 5), scores=True, seed=12)
    L = keras.layers
    keras.utils.set_random_seed(16)
    x = keras.Input((5, 6), name="x")
    a = L.MultiHeadAttention(2, 3, output_shape=(2, 4), bias_initializer="random_normal",
                             name="attention")(x, x, use_causal_mask=True)
    model = keras.Model(x, L.Dense(3, name="head")(L.Reshape((5, 8))(a)))
    model.save(os.path.join(OUT, "output_shape_model.keras"))
    d = np.random.default_rng(16).uniform(-1, 1, (2, 5, 6)).astype(np.float32)
    with open(os.path.join(OUT, "output_shape_model.txt"), "w") as f:
        f.write("\n".join([line("x", d), line("y", model.predict(d, verbose=0))]) + "\n")


def write_gate_window_model():
    """gate_window_model.keras: causal self-attention with use_gate and sliding_window, as
    Keras saves it (its gate's weights under _gate_dense), with x and Keras's predict(x)."""
    keras.utils.set_random_seed(14)
    x = keras.Input((6, 4))
    y = keras.layers.MultiHeadAttention(2, 3, use_gate=True, sliding_window=3,
                                        bias_initializer="random_normal")(
        x, x, use_causal_mask=True)
    model = keras.Model(x, y)
    model.save(os.path.join(OUT, "gate_window_model.keras"))
    d = np.random.default_rng(14).uniform(-1, 1, (2, 6, 4)).astype(np.float32)
    with open(os.path.join(OUT, "gate_window_model.txt"), "w") as f:
        f.write("\n".join([line("x", d), line("y", model.predict(d, verbose=0))]) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    axes_cases()
    gate_window_cases()
    write_gate_window_model()
    write_keyword_masks_model()
    output_shape_cases()
    case("mha_self", {"num_heads": 2, "key_dim": 3}, (2, 4, 5), (2, 4, 5), seed=1)
    case("mha_cross_output_shape", {"num_heads": 3, "key_dim": 2, "output_shape": 6},
         (2, 3, 5), (2, 6, 4), (2, 6, 7), seed=2)
    # value_dim != key_dim: Keras's JAX dot_product_attention refuses it, so Keras takes its
    # explicit path here (scores asked for).
    case("mha_value_dim_scores", {"num_heads": 3, "key_dim": 2, "value_dim": 4},
         (2, 3, 5), (2, 6, 4), (2, 6, 7), scores=True, seed=6)
    case("mha_causal", {"num_heads": 2, "key_dim": 4}, (2, 5, 6), (2, 5, 6), causal=True, seed=3)
    case("mha_masks", {"num_heads": 2, "key_dim": 3}, (3, 4, 5), (3, 6, 5), query_mask=True,
         value_mask=True, attention_mask=True, seed=4)
    case("mha_masks_causal_scores", {"num_heads": 2, "key_dim": 3, "use_bias": False},
         (2, 5, 4), (2, 5, 4), query_mask=True, causal=True, scores=True, seed=5)
    model = transformer_model()
    model.save(os.path.join(OUT, "transformer_model.keras"))
    tokens, positions = transformer_inputs()
    y = model.predict([tokens, positions], verbose=0)
    with open(os.path.join(OUT, "transformer_model.txt"), "w") as f:
        f.write("\n".join([line("tokens", tokens), line("positions", positions), line("y", y)]))
        f.write("\n")
    model = attention_mask_model()
    model.save(os.path.join(OUT, "attention_mask_model.keras"))
    rng = np.random.default_rng(13)
    tokens = rng.integers(1, 20, (2, 5)).astype(np.int32)
    mask = (rng.uniform(0, 1, (2, 5, 5)) > 0.4).astype(np.float32)
    mask[:, :, 0] = 1  # every query sees its first key
    y = model.predict([tokens, mask], verbose=0)
    with open(os.path.join(OUT, "attention_mask_model.txt"), "w") as f:
        f.write("\n".join([line("tokens", tokens), line("attention_mask", mask), line("y", y)]))
        f.write("\n")
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", metavar="DIR", help="check the files neurona wrote in DIR")
    parser.add_argument("--axes", action="store_true",
                        help="write only the cases of inputs of rank > 3 (attention_axes)")
    parser.add_argument("--keyword-masks", action="store_true",
                        help="write only keyword_masks_model.keras and its .txt")
    parser.add_argument("--output-shape", action="store_true",
                        help="write only the cases of an output_shape of several dimensions")
    args = parser.parse_args()
    if args.axes:
        os.makedirs(OUT, exist_ok=True)
        axes_cases()
        sys.exit(0)
    if args.keyword_masks:
        os.makedirs(OUT, exist_ok=True)
        write_keyword_masks_model()
        sys.exit(0)
    if args.output_shape:
        os.makedirs(OUT, exist_ok=True)
        output_shape_cases()
        sys.exit(0)
    if args.check:
        sys.exit(1 if check(args.check) else 0)
    main()
