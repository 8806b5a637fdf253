"""Reference results of KerasHub's PositionEmbedding and SinePositionEncoding for
tests/layers/position_embedding_test.cpp.

Runs with the Keras 3 + JAX in the PyPI-reachable python3 and KerasHub's source
(`pip install --no-deps keras-hub`); rerun from the repository root with

    KERAS_BACKEND=jax python3 tests/reference/make_keras_hub_position_references.py

KerasHub's package imports TensorFlow on import, so the two layers' own files are loaded on their
own, with KerasHub's export decorator replaced by what it does under Keras 3: registering the
class as serializable under the package "keras_hub".

It rewrites tests/reference/attention/:
- sine_position_encoding.txt: x (zeros, batch 2, 7 steps, 6 features) and y, the encoding of
  positions 0..6 with max_wavelength 10000, then y_start (start_index 3) and y_wavelength
  (max_wavelength 100);
- position_model.keras and position_model.txt: a functional model tokens -> Embedding ->
  + PositionEmbedding(8) -> + SinePositionEncoding -> Dense, saved by Keras, with an input and
  Keras's prediction.
"""
import importlib.util
import os
import sys
import types

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np

assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "attention")


def load_keras_hub_layers():
    def stub(name, **attrs):
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module

    def keras_hub_export(path):
        return keras.saving.register_keras_serializable(package="keras_hub")

    stub("keras_hub.src.api_export", keras_hub_export=keras_hub_export)
    stub("keras_hub.src.vllm.context", get_vllm_context=lambda: None)
    spec = importlib.util.find_spec("keras_hub")
    base = os.path.join(os.path.dirname(spec.origin), "src", "layers", "modeling")
    out = {}
    for name, cls in (("position_embedding", "PositionEmbedding"),
                      ("sine_position_encoding", "SinePositionEncoding")):
        full = "keras_hub.src.layers.modeling." + name
        s = importlib.util.spec_from_file_location(full, os.path.join(base, name + ".py"))
        module = importlib.util.module_from_spec(s)
        sys.modules[full] = module
        s.loader.exec_module(module)
        out[cls] = getattr(module, cls)
    return out


def line(name, a):
    a = np.asarray(a, dtype=np.float32)
    dims = " ".join(str(d) for d in a.shape)
    vals = " ".join(f"{v:.9g}" for v in a.reshape(-1))
    return f"{name} {dims} : {vals}".replace("  :", " :")


def main():
    hub = load_keras_hub_layers()
    x = np.zeros((2, 7, 6), np.float32)
    sine = hub["SinePositionEncoding"]()
    lines = [line("x", x), line("y", sine(x)), line("y_start", sine(x, start_index=3)),
             line("y_wavelength", hub["SinePositionEncoding"](max_wavelength=100)(x))]
    with open(os.path.join(OUT, "sine_position_encoding.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")

    keras.utils.set_random_seed(5)
    L = keras.layers
    tokens = keras.Input((8,), dtype="int32", name="tokens")
    e = L.Embedding(12, 6, name="token_embedding")(tokens)
    h = L.Add()([e, hub["PositionEmbedding"](8, name="position_embedding")(e)])
    h = L.Add()([h, hub["SinePositionEncoding"](name="sine_position_encoding")(h)])
    model = keras.Model(tokens, L.Dense(3, name="logits")(h))
    model.save(os.path.join(OUT, "position_model.keras"))
    t = np.array([[1, 2, 3, 4, 5, 6, 7, 8], [11, 0, 3, 9, 9, 2, 1, 0]], np.int32)
    y = model.predict(t, verbose=0)
    with open(os.path.join(OUT, "position_model.txt"), "w") as f:
        f.write(line("tokens", t) + "\n" + line("y", y) + "\n")
    print("wrote sine_position_encoding.txt, position_model.keras, position_model.txt")


if __name__ == "__main__":
    main()
