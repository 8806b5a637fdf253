#!/usr/bin/env python3
"""neurona vs PyTorch eager and torch.compile on ResNet-50 and GPT-2 small, in one invocation.

    python3 benchmarks/compare_large.py --build build --device cuda [--runs gpt2:mixed_bfloat16]
    python3 benchmarks/compare_large.py --build build --device cpu --reduced   # a check, on a CPU

Each run trains one model under one precision in its own process: neurona through `neurona bench
--model resnet50|gpt2` (tools/model_benchmark.h), PyTorch eager and under torch.compile through
benchmarks/torch_large.py (its docstring says how the PyTorch models are written). Both sides
draw one synthetic batch on the device and feed it every step (ResNet-50: 256 images of
224x224x3, 1000 classes; GPT-2 small: 16 sequences of 1024 tokens), run --epochs epochs of
--steps steps and report the median epoch after the first (the warm-up: cuDNN's algorithm search,
neurona's graph capture, torch.compile's compilation). --reduced uses the sizes the issue names
for a machine without a GPU (ResNet-50 on 32x32 images and 10 classes, GPT-2 with 2 layers and
context 64) and a small batch.

It prints one row per run (neurona's figure, eager's, compile's, neurona / eager and neurona /
compile; GPT-2's MFU by llm.c's formula against the device's dense peak; peak device memory of
each side), then one JSON line. Where torch.compile is missing or fails, its column says why and
the script still succeeds; it fails (exit 1) when a neurona or eager run fails.
"""
import argparse
import json
import os
import platform
import sys

from compare_pytorch import Budget, child_env, fmt, last_json, run_child

HERE = os.path.dirname(os.path.abspath(__file__))
SIDES = ("neurona", "eager", "compile")
REDUCED = {
    "resnet50": ["--image-size", "32", "--classes", "10", "--batch-size", "8"],
    "gpt2": ["--layers", "2", "--context", "64", "--batch-size", "4"],
}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default="build", help="neurona's CMake build folder")
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    p.add_argument("--runs", default="resnet50:mixed_bfloat16,gpt2:mixed_bfloat16,"
                                     "resnet50:float32,gpt2:float32",
                   help="comma-separated model:precision (resnet50 or gpt2; float32 or "
                        "mixed_bfloat16), in the order to run them")
    p.add_argument("--steps", type=int, default=10, help="steps per epoch")
    p.add_argument("--epochs", type=int, default=3, help="epochs; the first is the warm-up")
    p.add_argument("--reduced", action="store_true", help="the CPU sizes (see above)")
    p.add_argument("--time-budget", type=float, default=0,
                   help="seconds for all runs (0: no limit); a run the budget cuts off is "
                        "reported so")
    p.add_argument("--neurona-ld-library-path", default=None,
                   help="LD_LIBRARY_PATH for neurona only (gpu-check.sh: the bundle's libraries)")
    args = p.parse_args()

    runs = []
    for item in args.runs.split(","):
        model, _, precision = item.strip().partition(":")
        precision = precision or "float32"
        if model not in REDUCED or precision not in ("float32", "mixed_bfloat16"):
            p.error(f"--runs: '{item}' is not model:precision with model resnet50 or gpt2 and "
                    "precision float32 or mixed_bfloat16")
        runs.append((model, precision))
    budget = Budget(args.time_budget)
    nr_env, torch_env = child_env(args.neurona_ld_library_path), child_env()
    neurona = os.path.join(args.build, "tools", "neurona")
    torch_worker = [sys.executable, os.path.join(HERE, "torch_large.py")]
    print(f"compare_large: {platform.node()}, device {args.device}, {args.epochs} epochs of "
          f"{args.steps} steps{', reduced sizes' if args.reduced else ''}", flush=True)

    results = {}  # (model, precision, side) -> record, or a string saying why there is none
    # neurona and eager for every run first, then the compile runs (the slowest to start), so
    # that a budget cut takes compile's figures before the others.
    order = [(m, pr, s) for m, pr in runs for s in ("neurona", "eager")]
    order += [(m, pr, "compile") for m, pr in runs]
    for model, precision, side in order:
        common = ["--model", model, "--steps", str(args.steps), "--epochs", str(args.epochs)]
        if args.reduced:
            common += REDUCED[model]
        if side == "neurona":
            cmd = [neurona, "bench", "--device", args.device, "--dtype-policy", precision]
            cmd += common
            env = nr_env
        else:
            cmd = torch_worker + ["--mode", side, "--device", args.device, "--precision",
                                  precision] + common
            env = torch_env
        out, why = run_child(f"{side} {model} {precision}", cmd, env, budget)
        record = last_json(out, "model") if out is not None else None
        results[(model, precision, side)] = record if record is not None else (
            why or "printed no JSON line")

    def value(model, precision, side, key):
        r = results.get((model, precision, side))
        return r.get(key) if isinstance(r, dict) else None

    def ratio(a, b):
        return a / b if a is not None and b else None

    header = (f"{'model':<10} {'precision':<15} {'unit/s':<7} {'neurona':>10} {'eager':>10} "
              f"{'compile':>10} {'nr/eager':>9} {'nr/compile':>10} {'nr MFU':>7} "
              f"{'peak GiB nr/eager/compile':>26}")
    print(header)
    rows = []
    for model, precision in runs:
        figures = {s: value(model, precision, s, "items_per_second") for s in SIDES}
        gib = [value(model, precision, s, "peak_device_bytes") for s in SIDES]
        gib_text = "/".join(fmt(g / 2**30, 3) if g else "-" for g in gib)
        mfu = value(model, precision, "neurona", "mfu")
        unit = "img" if model == "resnet50" else "tok"
        print(f"{model:<10} {precision:<15} {unit:<7} {fmt(figures['neurona']):>10} "
              f"{fmt(figures['eager']):>10} {fmt(figures['compile']):>10} "
              f"{fmt(ratio(figures['neurona'], figures['eager']), 3):>9} "
              f"{fmt(ratio(figures['neurona'], figures['compile']), 3):>10} "
              f"{fmt(100 * mfu, 3) + '%' if mfu is not None else '-':>7} {gib_text:>26}")
        for side in SIDES:
            r = results.get((model, precision, side))
            if not isinstance(r, dict):
                print(f"    {side}: {r}")
        rows.append({"model": model, "precision": precision,
                     "items_per_second": figures,
                     "neurona_over_eager": ratio(figures["neurona"], figures["eager"]),
                     "neurona_over_compile": ratio(figures["neurona"], figures["compile"]),
                     "neurona_mfu": mfu,
                     "peak_device_bytes": dict(zip(SIDES, gib))})
    device_name = next((value(m, pr, "neurona", "device_name") for m, pr in runs
                        if value(m, pr, "neurona", "device_name")), None)
    print(json.dumps({"benchmark": "compare_large", "device": args.device,
                      "device_name": device_name, "reduced": args.reduced,
                      "steps": args.steps, "epochs": args.epochs, "rows": rows,
                      "runs": {f"{m}:{pr}:{s}": r for (m, pr, s), r in results.items()}}))
    failed = [f"{m}:{pr}:{s}" for (m, pr, s), r in results.items()
              if s != "compile" and not isinstance(r, dict)]
    if failed:
        print(f"compare_large: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
