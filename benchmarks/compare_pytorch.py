#!/usr/bin/env python3
"""neurona vs PyTorch eager and torch.compile on one device, in one invocation (the "GPU speed"
issue's "How it is measured").

    python3 benchmarks/compare_pytorch.py --build build [--device cuda] [--epochs 5]

It trains `neurona train`'s models (tools/fashion_models.h) on Fashion-MNIST with batch 128 and
Adam(1e-3, epsilon 1e-7, as Keras; for the resnet decayed along a cosine, with Keras's L2 1e-4 on
the convolution kernels), the last partial batch included, each run in its own process; a model
given as `resnet:mixed_bfloat16` runs under neurona's mixed_bfloat16 policy and PyTorch's
bfloat16 autocast:
neurona through build/benchmarks/bench_train, PyTorch eager and PyTorch under
torch.compile(mode="reduce-overhead") through benchmarks/torch_fashion.py (NCHW, Keras's initial
weights; on a GPU the data set lives on the device, each epoch's shuffle is a randperm there and
batches are gathered there, as neurona's fit does). It prints per row neurona's figure, eager's,
compile's and neurona / eager and neurona / compile, then one JSON line.

What is timed: the wall time of each epoch, from the shuffle to the last optimizer step with the
device's queued work finished; the rows give the median of --epochs epochs (the upper median),
which with 3 or more epochs a slow first epoch cannot set, on every side alike: neurona's first
steps (cuDNN algorithm search, workspace sizing) as much as torch.compile's compilation and
CUDA-graph recording. The first epoch has its own row. Test accuracy is after --epochs epochs
(different random streams: neurona's and PyTorch's figures differ by seed noise). The matmul
rows come from build/benchmarks/bench_matmul (neurona vs a direct cuBLAS or OpenBLAS call), the
op rows from build/benchmarks/bench_ops_gpu where it is built. On a GPU both sides use
TensorFloat-32 for float32 matmuls and convolutions (neurona's default, as TensorFlow; PyTorch set
to match) and time cuDNN's convolution algorithms (cudnnFind in neurona, cudnn.benchmark).

Where torch.compile is missing (PyTorch before 2.0) or fails, its column says why and the script
still succeeds; it fails (exit 1) when a neurona or eager run fails.
"""
import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time

from torch_fashion import torch_worker

DATA_DIR = "/usr/share/datasets/fashion-mnist"
SIDES = ("neurona", "nograph", "eager", "compile")


def child_env(ld_library_path=None):
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "passive")  # as scripts/env.sh: see compare_cpu.py
    if ld_library_path is not None:
        env["LD_LIBRARY_PATH"] = ld_library_path
    return env


class Budget:
    """The seconds left of --time-budget (none when it is 0)."""

    def __init__(self, seconds):
        self.deadline = time.monotonic() + seconds if seconds > 0 else None

    def left(self):
        return None if self.deadline is None else self.deadline - time.monotonic()


def run_child(name, cmd, env, budget):
    """Runs cmd; returns (stdout, None) or (None, why it gave nothing). Its stderr is passed on."""
    timeout = budget.left()
    if timeout is not None and timeout < 5:
        return None, "not run: --time-budget spent"
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                text=True, start_new_session=True)
    except OSError as e:
        return None, f"failed to start: {e}"
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torch.compile's compile workers too
        out, err = proc.communicate()
        sys.stderr.write(f"[{name}] timed out after {timeout:.0f} s\n")
        return None, f"timed out after {timeout:.0f} s (--time-budget)"
    lines = [l for l in err.splitlines() if l.strip()]
    for line in lines[-40:]:
        sys.stderr.write(f"[{name}] {line}\n")
    if proc.returncode != 0:
        last = lines[-1].strip() if lines else "no message"
        return None, f"failed (exit {proc.returncode}): {last}"
    return out, None


def last_json(text, benchmark=None):
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            record = json.loads(line)
            if benchmark is None or record.get("benchmark") == benchmark:
                return record
    return None


def fmt(v, digits=4):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.{digits}g}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default="build", help="neurona's CMake build folder")
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    p.add_argument("--models", default="mlp,cnn",
                   help="comma-separated: mlp, cnn, resnet, each optionally :mixed_bfloat16")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--train-samples", type=int, default=0, help="first N images (0: all 60000)")
    p.add_argument("--test-samples", type=int, default=0, help="first N test images (0: all)")
    p.add_argument("--matmul-sizes", default=None,
                   help="bench_matmul's square sizes ('' to skip; default 256,...,4096 on a GPU, "
                        "256,512,1024 on the CPU)")
    p.add_argument("--matmul-from", default=None,
                   help="read bench_matmul's output from this file instead of running it")
    p.add_argument("--ops-from", default=None,
                   help="read bench_ops_gpu's output from this file instead of running it")
    p.add_argument("--data-dir", default=os.environ.get("NEURONA_FASHION_MNIST_DIR", DATA_DIR))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--time-budget", type=float, default=0,
                   help="seconds for all runs (0: no limit); neurona and eager run first, the "
                        "torch.compile runs last, and a run the budget cuts off is reported so")
    p.add_argument("--neurona-ld-library-path", default=None,
                   help="LD_LIBRARY_PATH for neurona's executables only (gpu-check.sh: the "
                        "bundle's libraries), so that PyTorch keeps the libraries it ships with")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help=argparse.SUPPRESS)
    p.add_argument("--worker-model", help=argparse.SUPPRESS)
    p.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--dtype-policy", default="float32", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker_model:
        return torch_worker(args)

    gpu = args.device.startswith("cuda")
    if args.matmul_sizes is None:
        args.matmul_sizes = "256,512,1024,2048,4096" if gpu else "256,512,1024"
    budget = Budget(args.time_budget)
    nr_env, torch_env = child_env(args.neurona_ld_library_path), child_env()
    common = ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
              "--train-samples", str(args.train_samples), "--test-samples", str(args.test_samples),
              "--seed", str(args.seed), "--data-dir", args.data_dir]
    me = [sys.executable, os.path.abspath(__file__)]
    print(f"compare_pytorch: {platform.node()}, device {args.device}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"timed: each epoch's wall time with the device's work finished; rows give the median "
          f"of {args.epochs} epochs" + (" (a slow first epoch, with compilation, algorithm "
                                         "search or graph recording, cannot set it)"
                                         if args.epochs >= 3
                                         else " (with under 3 epochs the median is the slower, "
                                         "usually the first: warm-up included)"))
    t_start = time.monotonic()

    # A row is a model, or model:policy for a Keras dtype policy other than float32
    # ("resnet:mixed_bfloat16": neurona's mixed precision, PyTorch's bfloat16 autocast).
    kinds = [m for m in args.models.split(",") if m]

    def model_args(kind, model_flag):
        model, _, policy = kind.partition(":")
        return [model_flag, model, "--dtype-policy", policy or "float32"]

    plan = []  # (side, kind, command, environment), most needed first
    for kind in kinds:
        plan.append(("neurona", kind, [f"{args.build}/benchmarks/bench_train"] +
                     model_args(kind, "--model") + ["--device", args.device] + common, nr_env))
        plan.append(("eager", kind, me + model_args(kind, "--worker-model") +
                     ["--device", args.device, "--threads", str(args.threads)] + common,
                     torch_env))
    # neurona again with its CUDA graphs off (NEURONA_CUDA_GRAPHS=0): what replaying the
    # captured step saves. After the rows above, as the budget may cut it off.
    if gpu:
        for kind in kinds:
            plan.append(("nograph", kind, [f"{args.build}/benchmarks/bench_train"] +
                         model_args(kind, "--model") + ["--device", args.device] + common,
                         dict(nr_env, NEURONA_CUDA_GRAPHS="0")))
    compile_plan = [("compile", kind, me + model_args(kind, "--worker-model") +
                     ["--device", args.device, "--threads", str(args.threads), "--compile"] +
                     common, torch_env) for kind in kinds]

    results, failed = {}, []  # (side, kind) -> record, or a string saying why there is none

    def run_training(side, kind, cmd, env):
        out, why = run_child(f"{side} {kind}", cmd, env, budget)
        record = last_json(out, "train") if out is not None else None
        if record is None:
            why = why or "failed: no JSON line"
            if side not in ("compile", "nograph"):  # extra measurements, not the comparison
                failed.append(f"{side} {kind}: {why}")
        elif "unavailable" in record:
            why, record = f"unavailable: {record['unavailable']}", None
        results[(side, kind)] = record if record is not None else why

    for step in plan:
        run_training(*step)

    matmul, matmul_header, matmul_why = None, [], None
    def read_output(path):
        try:
            with open(path) as f:
                return f.read(), None
        except OSError as e:
            return None, f"failed: cannot read {path}: {e}"

    if args.matmul_from:
        out, matmul_why = read_output(args.matmul_from)
    elif args.matmul_sizes:
        out, matmul_why = run_child(
            "bench_matmul", [f"{args.build}/benchmarks/bench_matmul", "--device",
                             "cuda" if gpu else "cpu", "--sizes", args.matmul_sizes], nr_env,
            budget)
    if args.matmul_from or args.matmul_sizes:
        if out is not None:
            matmul = last_json(out, "matmul")
            matmul_header = [l for l in out.splitlines()
                             if l.startswith("GPU" if gpu else "CPU reference")]
            matmul_why = None if matmul else "failed: no JSON line"
        if matmul_why:
            failed.append(f"bench_matmul: {matmul_why}")

    ops_exe = f"{args.build}/benchmarks/bench_ops_gpu"
    ops, ops_lines = None, []
    if args.ops_from:
        out, ops_why = read_output(args.ops_from)
    elif not os.access(ops_exe, os.X_OK):
        ops_why = f"not built ({ops_exe})"
    elif not gpu:
        ops_why = "not run (a GPU benchmark; --device cpu)"
    else:
        out, ops_why = run_child("bench_ops_gpu", [ops_exe], nr_env, budget)
    if args.ops_from or (gpu and os.access(ops_exe, os.X_OK)):
        if out is not None:
            ops = last_json(out, "ops_gpu")
            ops_lines = [l for l in out.splitlines() if l.strip() and not l.startswith("{")]
            ops_why = None if ops else "failed: no JSON line with \"benchmark\":\"ops_gpu\""

    for step in compile_plan:
        run_training(*step)

    # ------------------------------------------------------------------ the table and the JSON
    def value(side, kind, key):
        r = results.get((side, kind))
        if isinstance(r, str):  # the cell names the reason; the lines below the table give it
            return next(w for w in ("unavailable", "timed out", "not run", "failed")
                        if r.startswith(w) or w == "failed")
        return None if r is None else r.get(key)

    def first_epoch(side, kind):
        r = results.get((side, kind))
        return r["epoch_seconds"][0] if isinstance(r, dict) else value(side, kind, "")

    rows = []  # (name, {side: value}, "ratio" | "difference" | None)
    for kind in kinds:
        get = lambda key: {s: value(s, kind, key) for s in SIDES}
        rows.append((f"{kind} epoch (s, median)", get("median_epoch_seconds"), "ratio"))
        rows.append((f"{kind} first epoch (s)", {s: first_epoch(s, kind) for s in SIDES},
                     "ratio"))
        rows.append((f"{kind} test acc after {args.epochs}", get("test_accuracy"), "difference"))
        if gpu:
            mallocs = get("cuda_mallocs_after_first_epoch")
            mallocs["neurona"] = value("neurona", kind, "raw_allocations_after_first_epoch")
            mallocs["nograph"] = value("nograph", kind, "raw_allocations_after_first_epoch")
            rows.append((f"{kind} cudaMalloc after ep. 1", mallocs, None))
        else:
            rows.append((f"{kind} raw allocs after ep. 1",
                         {"neurona": value("neurona", kind, "raw_allocations_after_first_epoch")},
                         None))

    num = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    summary = []
    print(f"\n{'row':<30} {'neurona':>11} {'no graphs':>11} {'eager':>11} {'compile':>11} "
          f"{'nr/eager':>9} {'nr/compile':>10}")
    print("(PyTorch eager and torch.compile(mode=\"reduce-overhead\"); ratios: neurona / PyTorch, "
          "below 1 where neurona\n is faster; accuracy rows: neurona minus PyTorch; cudaMalloc "
          "rows: neurona's allocator counter,\n PyTorch's caching allocator's segments; 'no "
          "graphs': neurona with NEURONA_CUDA_GRAPHS=0 (GPU only);\n '-': not measured)")
    for name, vals, kind_of in rows:
        entry = {"row": name, **vals}
        cells = []
        for ref in ("eager", "compile"):
            nr, other = vals.get("neurona"), vals.get(ref)
            if kind_of and num(nr) and num(other) and (other or kind_of == "difference"):
                x = nr / other if kind_of == "ratio" else nr - other
                entry[f"{kind_of}_{ref}"] = x
                cells.append(f"{x:.3f}" if kind_of == "ratio" else f"{x:+.4f}")
            else:
                cells.append("-")
        summary.append(entry)
        print(f"{name:<30} {fmt(vals.get('neurona')):>11} {fmt(vals.get('nograph')):>11} "
              f"{fmt(vals.get('eager')):>11} {fmt(vals.get('compile')):>11} {cells[0]:>9} "
              f"{cells[1]:>10}")
    for kind in kinds:
        for side in SIDES:
            r = results.get((side, kind))
            if isinstance(r, str):
                print(f"{side} {kind}: {r}")
        r = results.get(("compile", kind))
        if isinstance(r, dict):
            print(f"compile {kind}: {r.get('compiled_graphs')} graphs compiled (one per batch "
                  f"shape expected: full and last partial batch), {r.get('graph_breaks')} graph "
                  f"breaks; torch {r.get('torch')}")

    eager = [r for (side, _), r in results.items() if side == "eager" and isinstance(r, dict)]
    if eager:
        print(f"PyTorch {eager[0]['torch']}" + (f" on {eager[0]['gpu']}" if "gpu" in eager[0]
                                                 else f", {eager[0]['threads']} threads")
              + ("; TF32 and cudnn.benchmark on, as neurona's defaults" if gpu else ""))

    print(f"\nmatmul (bench_matmul --device {'cuda' if gpu else 'cpu'}, GFLOP/s, square n; "
          f"neurona vs a direct {'cuBLAS' if gpu else 'OpenBLAS'} call)")
    if matmul:
        for line in matmul_header:
            print(line)
        print(f"{'n':>6} {'neurona':>11} {'direct':>11} {'ratio':>8}")
        for r in matmul["rows"]:
            print(f"{r['n']:>6} {r['neurona_gflops']:>11.4g} {r['reference_gflops']:>11.4g} "
                  f"{r['ratio']:>8.3f}")
    else:
        print(matmul_why or "skipped (--matmul-sizes '')")

    print("\nops (bench_ops_gpu):")
    print("\n".join(ops_lines) if ops else ops_why)

    wall = time.monotonic() - t_start
    torch_version = eager[0]["torch"] if eager else None
    print(f"\n{wall:.0f} s wall for the runs")
    print(json.dumps({
        "benchmark": "compare_pytorch", "device": args.device, "epochs": args.epochs,
        "timed": "median epoch wall time, device work finished", "torch": torch_version,
        "wall_seconds": wall, "rows": summary,
        "train": [r if isinstance(r, dict) else {"side": s, "model": k, "error": r}
                  for (s, k), r in results.items()],
        "matmul": matmul if matmul else matmul_why,
        "ops_gpu": ops if ops else ops_why, "failures": failed}))
    if failed:
        sys.stderr.write("compare_pytorch: " + "; ".join(failed) + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
