#!/usr/bin/python3
"""neurona vs PyTorch and LibTorch on the CPU, in one invocation (issue 8's "How it is measured").

Run it with Debian's /usr/bin/python3 (python3-torch and numpy live there):

    /usr/bin/python3 benchmarks/compare_cpu.py --build build [--epochs 3] [--models mlp,cnn]

It trains the same models as `neurona train` (tools/fashion_models.h) on Fashion-MNIST
with batch 128 and Adam(1e-3, epsilon 1e-7, as Keras), once in neurona (build/benchmarks/
bench_train), once in PyTorch from Python (this file, as a child process) and once in LibTorch
from C++ (build/benchmarks/bench_libtorch, the same steps as the Python worker
(benchmarks/torch_fashion.py, shared with compare_pytorch.py) through
LibTorch's C++ frontend; built only where CMake found LibTorch, Debian's libtorch-dev: without
it the LibTorch column says so), each in its own process with the same threads, and prints per
row neurona's figure, each reference's and the ratio of neurona to the better reference (the
faster, the smaller; for accuracy, the difference to the more accurate), then one JSON line.
PyTorch and LibTorch run NCHW (their native layout; neurona is NHWC as Keras), with the same
Glorot-uniform kernels and zero biases as Keras. The matmul rows come from
build/benchmarks/bench_matmul (neurona vs a direct OpenBLAS call). Peak resident memory and user
CPU time are each child's ru_maxrss and ru_utime (os.wait4). OPENBLAS_* and OMP_* are left as
found and reported; only OMP_WAIT_POLICY defaults to passive for the children when unset (as
scripts/env.sh), because spinning OpenMP threads cost 10x on a busy 2-core machine.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

from torch_fashion import torch_worker  # the PyTorch side, run as a child process

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def threads():
    n = os.environ.get("OMP_NUM_THREADS")
    return int(n) if n else os.cpu_count()


def child_env():
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "passive")
    return env


def run_child(cmd):
    """Runs cmd, returns (stdout, peak RSS in KiB, user CPU seconds); raises on failure."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=child_env(), text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(out)
        raise SystemExit(f"compare_cpu: {' '.join(cmd)} failed with {proc.returncode}")
    return out, usage.ru_maxrss, usage.ru_utime


def last_json(text):
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit("compare_cpu: no JSON line in:\n" + text)


def openblas_core():
    import ctypes
    for name in ("libopenblas.so.0", "libopenblas.so", "libblas.so.3"):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            return f"{lib.openblas_get_config().decode()} core {lib.openblas_get_corename().decode()}"
        except (OSError, AttributeError):
            continue
    return "unknown"


# ---------------------------------------------------------------- the comparison


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default="build", help="neurona's CMake build folder")
    p.add_argument("--models", default="mlp,cnn")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--train-samples", type=int, default=0, help="first N images (0: all 60000)")
    p.add_argument("--test-samples", type=int, default=0, help="first N test images (0: all)")
    p.add_argument("--matmul-sizes", default="256,512,1024,2048", help="'' to skip")
    p.add_argument("--data-dir", default=DATA_DIR)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=threads(), help=argparse.SUPPRESS)
    p.add_argument("--worker-model", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker_model:
        return torch_worker(args)

    common = ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
              "--train-samples", str(args.train_samples), "--test-samples", str(args.test_samples),
              "--seed", str(args.seed)]
    env_names = ["OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS",
                 "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_VERBOSE", "GOMP_CPU_AFFINITY"]
    print(f"compare_cpu: {platform.node()} {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} "
          f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}, {time.strftime('%Y-%m-%d %H:%M')}")
    print("environment: " + ", ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in env_names)
          + f"; children get OMP_WAIT_POLICY={child_env()['OMP_WAIT_POLICY']}")
    print(f"OpenBLAS: {openblas_core()}; threads per side: {args.threads}")

    libtorch = f"{args.build}/benchmarks/bench_libtorch"
    if not os.access(libtorch, os.X_OK):
        print(f"LibTorch: {libtorch} not built (CMake found no LibTorch; Debian: libtorch-dev): "
              "its column says 'not built'")
        libtorch = None
    else:
        print(f"LibTorch: {libtorch}")
    t_start, load_start = time.monotonic(), os.getloadavg()

    # Each row: (name, neurona, PyTorch, LibTorch or None, lower is better?)
    rows, records = [], []
    for kind in [m for m in args.models.split(",") if m]:
        runs = {"neurona": [f"{args.build}/benchmarks/bench_train", "--model", kind] + common,
                "pytorch": [sys.executable, os.path.abspath(__file__), "--worker-model", kind,
                            "--threads", str(args.threads), "--data-dir", args.data_dir] + common}
        if libtorch:
            runs["libtorch"] = [libtorch, "--model", kind, "--threads", str(args.threads),
                                "--data-dir", args.data_dir] + common
        res = {}
        for side, cmd in runs.items():
            out, rss, user = run_child(cmd)
            res[side] = last_json(out)
            res[side]["max_rss_kib"], res[side]["process_user_seconds"] = rss, user
            records.append(res[side])
        get = lambda key, scale=1: tuple(res[s][key] / scale if s in res else None
                                         for s in ("neurona", "pytorch", "libtorch"))
        rows.append((f"{kind} epoch (s)", *get("median_epoch_seconds"), True))
        rows.append((f"{kind} test acc after {args.epochs}", *get("test_accuracy"), False))
        rows.append((f"{kind} peak RSS (MiB)", *get("max_rss_kib", 1024), True))
        rows.append((f"{kind} process user CPU (s)", *get("process_user_seconds"), True))

    matmul = None
    if args.matmul_sizes:
        mm_out, _, _ = run_child([f"{args.build}/benchmarks/bench_matmul", "--device", "cpu",
                                  "--sizes", args.matmul_sizes])
        matmul = last_json(mm_out)
        print(next(l for l in mm_out.splitlines() if l.startswith("CPU reference")))

    fmt = lambda v: "not built" if v is None else f"{v:.4g}"
    summary = []
    print(f"\n{'row':<28} {'neurona':>10} {'PyTorch':>10} {'LibTorch':>10} {'ratio':>8}  vs")
    print("(PyTorch from Python, LibTorch from C++; ratio: neurona / the better reference, named\n"
          " in the last column: the faster or smaller one; accuracy rows: neurona minus the more\n"
          " accurate one)")
    for name, nr, pt, lt, lower in rows:
        refs = [(v, n) for v, n in ((pt, "PyTorch"), (lt, "LibTorch")) if v is not None]
        ref, ref_name = (min if lower else max)(refs)
        ratio = nr / ref if lower else nr - ref
        summary.append({"row": name, "neurona": nr, "pytorch": pt, "libtorch": lt,
                        "reference": ref_name.lower(), "ratio" if lower else "difference": ratio})
        print(f"{name:<28} {fmt(nr):>10} {fmt(pt):>10} {fmt(lt):>10} {ratio:>8.3f}  {ref_name}")
    if matmul:
        print(f"\n{'row':<28} {'neurona':>10} {'OpenBLAS':>10} {'ratio':>8}")
        print("(GFLOP/s; OpenBLAS: a direct cblas_sgemm call; ratio: neurona / OpenBLAS)")
        for r in matmul["rows"]:
            print(f"{'matmul ' + str(r['n']) + ' (GFLOP/s)':<28} {r['neurona_gflops']:>10.4g} "
                  f"{r['reference_gflops']:>10.4g} {r['ratio']:>8.3f}")
    wall = time.monotonic() - t_start
    print(f"\nload average {load_start[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; "
          f"{wall:.0f} s wall for the runs")
    print(json.dumps({"benchmark": "compare_cpu", "threads": args.threads,
                      "loadavg_start": load_start, "loadavg": os.getloadavg(),
                      "wall_seconds": wall, "libtorch": libtorch, "rows": summary,
                      "train": records, "matmul": matmul}))

if __name__ == "__main__":
    main()
