"""Reference values of keras.ops.dot_product_attention for tests/kernels/attention_keras_test.cpp.

Rerun from the repository root with

    KERAS_BACKEND=jax python3 tests/reference/make_keras_attention_references.py

It rewrites tests/reference/kernels/attention_<case>.txt: query, key, value (BTNH), the mask
where the case has one (0/1, broadcast shape as given to Keras), out (Keras's output) and, in
float64 through JAX, d_query, d_key, d_value: the gradients of sum(out * w) with w given as `w`.
File format as tests/reference/layers/: `name dim0 dim1 ... : v0 v1 ...`, 9 significant digits.
Cases: plain, a given scale, causal with Tq < Tk and Tq > Tk (Keras's top-left tril), a padding
mask with an entirely masked batch (Keras attends every key uniformly there), mask and causal,
and grouped-query heads (N = 4, K = 2).
"""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import keras
import numpy as np

jax.config.update("jax_enable_x64", True)
assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels")


def line(name, a):
    a = np.asarray(a, dtype=np.float64)
    dims = " ".join(str(d) for d in a.shape)
    vals = " ".join(f"{v:.9g}" for v in a.reshape(-1))
    return f"{name} {dims} : {vals}".replace("  :", " :")


def case(name, b, tq, tk, n, nk, h, mask_shape=None, is_causal=False, scale=None, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.uniform(-1.5, 1.5, (b, tq, n, h))
    k = rng.uniform(-1.5, 1.5, (b, tk, nk, h))
    v = rng.uniform(-1, 1, (b, tk, nk, h))
    w = rng.uniform(0.5, 1.5, (b, tq, n, h))
    mask = None
    if mask_shape is not None:
        mask = (rng.uniform(0, 1, mask_shape) > 0.3).astype(np.float64)
        if mask_shape[0] == b and b > 1:
            mask[1] = 0  # batch 1 sees no key at all

    def f(q, k, v):
        m = None if mask is None else mask.astype(bool)
        return keras.ops.dot_product_attention(q, k, v, mask=m, scale=scale, is_causal=is_causal)

    out = np.asarray(f(q, k, v))
    grads = jax.grad(lambda q, k, v: (f(q, k, v) * w).sum(), argnums=(0, 1, 2))(q, k, v)
    lines = [f"# keras {keras.__version__}, jax {jax.__version__}: dot_product_attention "
             f"is_causal={is_causal} scale={scale}",
             line("query", q), line("key", k), line("value", v), line("w", w)]
    if mask is not None:
        lines.append(line("mask", mask))
    lines += [line("out", out), line("d_query", grads[0]), line("d_key", grads[1]),
              line("d_value", grads[2])]
    with open(os.path.join(OUT, f"attention_{name}.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    case("plain", 2, 3, 4, 2, 2, 3, seed=1)
    case("scale", 1, 3, 5, 2, 2, 4, scale=0.3, seed=2)
    case("causal_short_query", 1, 3, 5, 2, 2, 3, is_causal=True, seed=3)
    case("causal_long_query", 1, 5, 3, 2, 2, 3, is_causal=True, seed=4)
    case("padding_mask", 2, 3, 4, 2, 2, 3, mask_shape=(2, 1, 1, 4), seed=5)
    case("mask_and_causal", 2, 4, 4, 2, 2, 3, mask_shape=(2, 2, 4, 4), is_causal=True, seed=6)
    case("grouped_heads", 1, 3, 4, 4, 2, 3, seed=7)


if __name__ == "__main__":
    main()
