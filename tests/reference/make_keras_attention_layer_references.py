"""Reference results of Keras 3's Attention and AdditiveAttention layers for
tests/layers/attention_layers_test.cpp.

Runs with the Keras 3 + JAX in the PyPI-reachable python3; rerun from the repository root with

    KERAS_BACKEND=jax python3 tests/reference/make_keras_attention_layer_references.py

It rewrites tests/reference/attention/<case>.txt, one tensor a line: `name dim0 ... : v0 v1 ...`.
Each case: query q, value v (and key k), the masks Keras receives as call(mask=[query_mask,
value_mask]) (0/1), the weights w0.. in layer.weights order, an output cotangent g, Keras's output
y (and scores), and the JAX gradients of sum(y * g) with respect to the inputs and the weights.
"""
import os

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


def case(name, layer, q_shape, v_shape, k_shape=None, masks=False, causal=False, scores=False,
         seed=0):
    rng = np.random.default_rng(seed)
    q = rng.uniform(-1, 1, q_shape).astype(np.float32)
    v = rng.uniform(-1, 1, v_shape).astype(np.float32)
    k = rng.uniform(-1, 1, k_shape).astype(np.float32) if k_shape else None
    shapes = [q_shape, v_shape] + ([k_shape] if k_shape else [])
    layer.build(shapes)
    weights = [rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in layer.weights]
    layer.set_weights(weights)
    lines = [line("q", q), line("v", v)] + ([line("k", k)] if k is not None else [])
    kw = {"use_causal_mask": causal, "return_attention_scores": scores}
    if masks:
        qm = rng.uniform(0, 1, q_shape[:2]) > 0.3
        vm = rng.uniform(0, 1, v_shape[:2]) > 0.3
        vm[:, 0] = True
        lines += [line("query_mask", qm), line("value_mask", vm)]
        kw["mask"] = [jnp.asarray(qm), jnp.asarray(vm)]

    def run(qq, vv, kk, ws):
        inputs = [qq, vv] + ([kk] if kk is not None else [])
        out, _ = layer.stateless_call(ws, [], inputs, **kw)
        return out

    args = (jnp.asarray(q), jnp.asarray(v), None if k is None else jnp.asarray(k),
            [jnp.asarray(w) for w in weights])
    out = run(*args)
    y = out[0] if scores else out
    g = rng.uniform(0.5, 1.5, y.shape).astype(np.float32)

    def loss(qq, vv, kk, ws):
        o = run(qq, vv, kk, ws)
        return jnp.sum((o[0] if scores else o) * g)

    argnums = (0, 1, 2, 3) if k is not None else (0, 1, 3)
    grads = jax.grad(loss, argnums=argnums)(*args)
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


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    L = keras.layers
    case("attention_dot", L.Attention(), (2, 3, 4), (2, 5, 4), seed=1)
    case("attention_scale_key_causal_scores", L.Attention(use_scale=True), (2, 4, 4), (2, 4, 3),
         (2, 4, 4), causal=True, scores=True, seed=2)
    case("attention_concat_masks_scores", L.Attention(use_scale=True, score_mode="concat"),
         (3, 4, 5), (3, 6, 5), masks=True, scores=True, seed=3)
    case("additive_attention", L.AdditiveAttention(), (2, 3, 4), (2, 5, 4), seed=4)
    case("additive_attention_no_scale_masks_causal", L.AdditiveAttention(use_scale=False),
         (3, 5, 4), (3, 5, 2), (3, 5, 4), masks=True, causal=True, scores=True, seed=5)
    print("wrote", sorted(f for f in os.listdir(OUT) if "attention_" in f))
