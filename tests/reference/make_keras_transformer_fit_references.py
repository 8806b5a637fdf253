"""A reference training run of Keras 3 on a small transformer with the AdamW + cosine decay with
warmup recipe, for tests/layers/transformer_fit_test.cpp.

Runs with the Keras 3 + JAX in the PyPI-reachable python3; rerun from the repository root with

    KERAS_BACKEND=jax python3 tests/reference/make_keras_transformer_fit_references.py

It rewrites tests/reference/attention/transformer_fit.keras (the compiled model before training:
its initial weights, and the compile config with the optimizer and its schedule) and
transformer_fit.txt: the data (tokens, positions, labels: the next token), h_loss and
h_accuracy (History, one value per epoch), lr_<step> (the schedule at each step) and final_<i>
(model.weights after fit, in order). The model: token and position Embeddings, a pre-norm
block (LayerNormalization, causal MultiHeadAttention, LayerNormalization, GELU feed-forward),
a final LayerNormalization and a Dense head. AdamW(learning_rate=CosineDecay(0, decay_steps=8,
warmup_target=3e-3, warmup_steps=4), weight_decay=0.05), SparseCategoricalCrossentropy from
logits, batch 8, shuffle=False, 3 epochs over 32 sequences (12 steps: 4 of warmup, 8 of decay).
"""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np

assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "attention")
L = keras.layers
VOCAB, STEPS, WIDTH = 11, 8, 16


def line(name, a):
    a = np.asarray(a, dtype=np.float64)
    dims = " ".join(str(d) for d in a.shape)
    vals = " ".join(f"{v:.17g}" for v in a.reshape(-1))
    return f"{name} {dims} : {vals}".replace("  :", " :")


def make_model():
    keras.utils.set_random_seed(21)
    tokens = keras.Input((STEPS,), dtype="int32", name="tokens")
    positions = keras.Input((STEPS,), dtype="int32", name="positions")
    h = L.Add()([L.Embedding(VOCAB, WIDTH)(tokens), L.Embedding(STEPS, WIDTH)(positions)])
    a = L.LayerNormalization(epsilon=1e-5)(h)
    h = L.Add()([h, L.MultiHeadAttention(2, 8)(a, a, use_causal_mask=True)])
    f = L.LayerNormalization(epsilon=1e-5)(h)
    f = L.Dense(WIDTH, name="projection")(L.Dense(4 * WIDTH, activation="gelu")(f))
    h = L.LayerNormalization(epsilon=1e-5)(L.Add()([h, f]))
    return keras.Model([tokens, positions], L.Dense(VOCAB, name="head")(h))


def main():
    model = make_model()
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=8, warmup_target=3e-3, warmup_steps=4)
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.save(os.path.join(OUT, "transformer_fit.keras"))
    # Sequences that count up from a random start (mod VOCAB): the next token is learnable.
    rng = np.random.default_rng(3)
    start = rng.integers(0, VOCAB, (32, 1))
    seq = (start + np.arange(STEPS + 1)) % VOCAB
    tokens = seq[:, :-1].astype(np.int32)
    labels = seq[:, 1:].astype(np.int32)
    positions = np.tile(np.arange(STEPS, dtype=np.int32), (32, 1))
    history = model.fit([tokens, positions], labels, batch_size=8, epochs=3, shuffle=False,
                        verbose=0)
    lines = [line("tokens", tokens), line("positions", positions), line("labels", labels)]
    lines += [line(f"h_{k}", v) for k, v in history.history.items()]
    lines += [line(f"lr_{s}", schedule(s)) for s in range(12)]
    lines += [line(f"final_{i}", w) for i, w in enumerate(model.get_weights())]
    with open(os.path.join(OUT, "transformer_fit.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("losses", history.history["loss"])


if __name__ == "__main__":
    main()
