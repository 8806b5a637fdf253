"""Reference outputs and gradients of Keras 3's recurrent layers for tests/layers/rnn_test.cpp.

Rerun from the repository root with Keras 3 and JAX installed:

    KERAS_BACKEND=jax python3 tests/reference/make_keras_rnn_references.py

It rewrites tests/reference/rnn/<case>.txt, and lstm_model.keras with lstm_model.txt (a small
functional model with an LSTM, a Bidirectional GRU and a TimeDistributed Dense, saved by Keras,
with an input and Keras's prediction). For each case, inputs, initial states, weights and the
output cotangents come from numpy with a fixed seed; Keras computes the outputs through
stateless_call (with the `initial_state` and `mask` call arguments where the case has them) and
JAX the gradients of sum_i sum(y_i * g_i) with respect to x, the initial states and the trainable
weights.

File format (tests/support/reference_file.h), one tensor a line: `name dim0 dim1 ... : v0 v1
...`. Names: x; s0, s1, ... (initial states); mask (0/1, batch x timesteps); w0, w1, ... (the
weights in layer.weights order); y0, y1, ... (the outputs in Keras's order); g0, g1, ... (their
cotangents); grad_x, grad_s0, ..., grad_w0, ...

--check DIR: loads the files neurona wrote into DIR (NEURONA_WRITE_RNN_FIXTURES=DIR when running
`neurona_tests --gtest_filter=RNNSaving.WriteFixturesForKerasWhenAsked`) into Keras and checks
that Keras reproduces neurona's outputs from the .keras file and from the .weights.h5 (loaded
into the model Keras rebuilt). Exits non-zero on a mismatch. The stored copies are in
tests/reference/rnn/from_neurona/ (2026-12-05, Keras 3.15.1: max difference 3.7e-8).
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

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rnn")
L = keras.layers


def line(name, a):
    a = np.asarray(a, dtype=np.float32)
    dims = " ".join(str(d) for d in a.shape)
    vals = " ".join(f"{v:.9g}" for v in a.reshape(-1))
    return f"{name} {dims} : {vals}".replace("  :", " :")


def case(name, layer, x_shape, seed, states=(), mask=None):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, x_shape).astype(np.float32)
    s = [rng.uniform(-1, 1, shape).astype(np.float32) for shape in states]
    layer.build(x_shape)
    weights = [rng.uniform(-0.8, 0.8, w.shape).astype(np.float32) for w in layer.weights]
    layer.set_weights(weights)
    n_train = len(layer.trainable_weights)
    train0 = [jnp.asarray(w) for w in weights[:n_train]]
    # The seed generators' states are non-trainable variables too (not weights).
    non_train = [jnp.asarray(v.value) for v in layer.non_trainable_variables]
    m = None if mask is None else np.asarray(mask, dtype=bool)

    def run(xx, ss, train):
        kwargs = {}
        if ss:
            kwargs["initial_state"] = list(ss)
        if m is not None:
            kwargs["mask"] = jnp.asarray(m)
        y, _ = layer.stateless_call(train, non_train, xx, **kwargs)
        return list(y) if isinstance(y, (list, tuple)) else [y]

    ys = run(jnp.asarray(x), [jnp.asarray(v) for v in s], train0)
    gs = [rng.uniform(0.5, 1.5, y.shape).astype(np.float32) for y in ys]

    def loss(xx, ss, train):
        return sum(jnp.sum(y * g) for y, g in zip(run(xx, ss, train), gs))

    gx, gsx, gw = jax.grad(loss, argnums=(0, 1, 2))(
        jnp.asarray(x), [jnp.asarray(v) for v in s], train0
    )
    lines = [line("x", x)]
    lines += [line(f"s{i}", v) for i, v in enumerate(s)]
    if m is not None:
        lines.append(line("mask", m.astype(np.float32)))
    lines += [line(f"w{i}", w) for i, w in enumerate(weights)]
    lines += [line(f"y{i}", y) for i, y in enumerate(ys)]
    lines += [line(f"g{i}", g) for i, g in enumerate(gs)]
    lines.append(line("grad_x", gx))
    lines += [line(f"grad_s{i}", v) for i, v in enumerate(gsx)]
    lines += [line(f"grad_w{i}", w) for i, w in enumerate(gw)]
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def lstm_model():
    keras.utils.set_random_seed(7)
    inp = keras.Input((6, 3), name="tokens")
    x = L.LSTM(5, return_sequences=True, name="lstm")(inp)
    x = L.Bidirectional(L.GRU(4, return_sequences=True), merge_mode="sum")(x)
    x = L.TimeDistributed(L.Dense(2))(x)
    x = L.SimpleRNN(3)(x)
    out = L.Dense(1)(x)
    return keras.Model(inp, out)


def main():
    os.makedirs(OUT, exist_ok=True)
    right = [[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]]
    holes = [[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 1, 1]]
    case("simple_rnn", L.SimpleRNN(3), (2, 4, 5), 1)
    case("simple_rnn_relu_sequences_backwards",
         L.SimpleRNN(3, activation="relu", return_sequences=True, go_backwards=True), (2, 4, 5), 2)
    case("simple_rnn_state", L.SimpleRNN(3, return_state=True, use_bias=False), (2, 4, 5), 3,
         states=[(2, 3)])
    case("lstm", L.LSTM(3, return_sequences=True), (2, 4, 5), 4)
    case("lstm_state", L.LSTM(3, return_state=True), (2, 4, 5), 5, states=[(2, 3), (2, 3)])
    case("lstm_sequences_state_backwards",
         L.LSTM(3, return_sequences=True, return_state=True, go_backwards=True), (2, 4, 5), 6)
    case("lstm_hard_sigmoid_no_bias",
         L.LSTM(3, recurrent_activation="hard_sigmoid", activation="relu", use_bias=False,
                return_sequences=True), (2, 4, 5), 7)
    case("gru", L.GRU(3, return_sequences=True), (2, 4, 5), 8)
    case("gru_reset_before", L.GRU(3, reset_after=False, return_sequences=True), (2, 4, 5), 9)
    case("gru_state", L.GRU(3, return_state=True), (2, 4, 5), 10, states=[(2, 3)])
    case("gru_reset_before_state_backwards",
         L.GRU(3, reset_after=False, return_state=True, go_backwards=True), (2, 4, 5), 11,
         states=[(2, 3)])
    case("lstm_masked", L.LSTM(3, return_sequences=True, return_state=True), (3, 4, 2), 12,
         mask=holes)
    case("gru_masked", L.GRU(3, return_sequences=True), (3, 4, 2), 13, mask=right)
    case("simple_rnn_masked_backwards", L.SimpleRNN(3, go_backwards=True), (3, 4, 2), 14,
         mask=holes)
    case("bidirectional_lstm_concat", L.Bidirectional(L.LSTM(3, return_sequences=True)),
         (2, 4, 5), 15)
    case("bidirectional_gru_sum", L.Bidirectional(L.GRU(3), merge_mode="sum"), (2, 4, 5), 16)
    case("bidirectional_simple_rnn_ave",
         L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode="ave"), (2, 4, 5), 17)
    case("bidirectional_lstm_mul_state",
         L.Bidirectional(L.LSTM(3, return_state=True), merge_mode="mul"), (2, 4, 5), 18,
         states=[(2, 3)] * 4)
    case("bidirectional_gru_none",
         L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode=None), (2, 4, 5), 19)
    case("bidirectional_lstm_masked", L.Bidirectional(L.LSTM(3, return_sequences=True)),
         (3, 4, 2), 20, mask=holes)
    case("bidirectional_backward_layer",
         L.Bidirectional(L.LSTM(3), backward_layer=L.GRU(3, go_backwards=True)), (2, 4, 5), 21)
    case("time_distributed_dense", L.TimeDistributed(L.Dense(3, activation="tanh")), (2, 4, 5),
         22)

    model = lstm_model()
    model.save(os.path.join(OUT, "lstm_model.keras"))
    x = np.random.default_rng(23).uniform(-1, 1, (2, 6, 3)).astype(np.float32)
    y = model.predict(x, verbose=0)
    with open(os.path.join(OUT, "lstm_model.txt"), "w") as f:
        f.write(line("x", x) + "\n" + line("y", y) + "\n")


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
    base = os.path.join(directory, "rnn_functional")
    io = read_io(base + ".txt")
    model = keras.saving.load_model(base + ".keras")
    failures = 0
    for what, m in (("keras", model), ("weights.h5", None)):
        if m is None:
            m = keras.saving.load_model(base + ".keras")
            for w in m.weights:
                w.assign(np.zeros(w.shape, np.float32))
            m.load_weights(base + ".weights.h5")
        ys = m.predict([io["x"], io["h"], io["c"]], verbose=0)
        for i, y in enumerate(ys):
            ok = np.allclose(y, io[f"y{i}"], rtol=1e-5, atol=1e-6)
            err = float(np.max(np.abs(y - io[f"y{i}"])))
            print(f"rnn_functional .{what} output {i}: max |keras - neurona| = {err:.3g} "
                  f"{'ok' if ok else 'MISMATCH'}")
            failures += not ok
    return failures


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", metavar="DIR", help="check the files neurona wrote in DIR")
    args = parser.parse_args()
    if args.check:
        sys.exit(1 if check(args.check) else 0)
    main()
