#!/usr/bin/python3
"""neurona against PyTorch on the CPU, in one invocation (issue 8's "How it is measured").

Run it with Debian's /usr/bin/python3 (python3-torch and numpy live there):

    /usr/bin/python3 benchmarks/compare_cpu.py --build build [--epochs 3] [--models mlp,cnn]

It trains the same models as `neurona train` (tools/neurona.cpp's make_model) on Fashion-MNIST
with batch 128 and Adam(1e-3, epsilon 1e-7, as Keras), once in neurona (build/benchmarks/
bench_train) and once in PyTorch from Python (this file, as a child process), each in its own
process with the same threads, and prints per row neurona's time, PyTorch's and their ratio,
then one JSON line. PyTorch runs NCHW (its native layout; neurona is NHWC as Keras), with the
same Glorot-uniform kernels and zero biases as Keras. The matmul rows come from
build/benchmarks/bench_matmul (neurona vs a direct OpenBLAS call). Peak resident memory is each
child's ru_maxrss (os.wait4). OPENBLAS_* and OMP_* are left as found and reported; only
OMP_WAIT_POLICY defaults to passive for the children when unset (as scripts/env.sh), because
spinning OpenMP threads cost 10x on a busy 2-core machine.
"""
import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import time

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


# ---------------------------------------------------------------- PyTorch side (a child process)


def read_idx(path):
    import numpy as np
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def torch_model(kind):
    import torch.nn as nn
    if kind == "cnn":
        layers = [nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                  nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(),
                  nn.Linear(128, 10)]
    else:
        layers = [nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                  nn.Linear(128, 10)]
    model = nn.Sequential(*layers)
    for m in model.modules():  # Keras's defaults: glorot_uniform kernels, zero biases
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def torch_worker(args):
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train = read_idx(f"{args.data_dir}/train-images-idx3-ubyte.gz")
    y_train = read_idx(f"{args.data_dir}/train-labels-idx1-ubyte.gz")
    x_test = read_idx(f"{args.data_dir}/t10k-images-idx3-ubyte.gz")
    y_test = read_idx(f"{args.data_dir}/t10k-labels-idx1-ubyte.gz")
    if args.train_samples > 0:
        x_train, y_train = x_train[:args.train_samples], y_train[:args.train_samples]
    if args.test_samples > 0:
        x_test, y_test = x_test[:args.test_samples], y_test[:args.test_samples]
    to_x = lambda a: torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1)  # NCHW
    xt, yt = to_x(x_train), torch.from_numpy(y_train.astype(np.int64))
    xe, ye = to_x(x_test), torch.from_numpy(y_test.astype(np.int64))
    model = torch_model(args.worker_model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()  # softmax + sparse categorical cross-entropy
    n, bs = xt.shape[0], args.batch_size
    seconds = []
    for _ in range(args.epochs):
        t0 = time.monotonic()
        model.train()
        perm = torch.randperm(n)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        seconds.append(time.monotonic() - t0)
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(xe[i:i + 256]).argmax(1) == ye[i:i + 256]).sum())
                      for i in range(0, xe.shape[0], 256))
    print(json.dumps({"benchmark": "train", "framework": "pytorch", "model": args.worker_model,
                      "epochs": args.epochs, "train_samples": n, "batch_size": bs,
                      "epoch_seconds": seconds,
                      "median_epoch_seconds": sorted(seconds)[len(seconds) // 2],
                      "test_accuracy": correct / xe.shape[0], "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


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

    rows, records = [], []
    for kind in [m for m in args.models.split(",") if m]:
        nr_out, nr_rss, nr_user = run_child([f"{args.build}/benchmarks/bench_train", "--model", kind]
                                      + common)
        nr = last_json(nr_out)
        pt_out, pt_rss, pt_user = run_child([sys.executable, os.path.abspath(__file__), "--worker-model",
                                       kind, "--threads", str(args.threads),
                                       "--data-dir", args.data_dir] + common)
        pt = last_json(pt_out)
        nr["max_rss_kib"], pt["max_rss_kib"] = nr_rss, pt_rss
        nr["process_user_seconds"], pt["process_user_seconds"] = nr_user, pt_user
        records += [nr, pt]
        t_nr, t_pt = nr["median_epoch_seconds"], pt["median_epoch_seconds"]
        rows.append((f"{kind} epoch (s)", t_nr, t_pt, t_nr / t_pt))
        rows.append((f"{kind} test acc after {args.epochs}", nr["test_accuracy"],
                     pt["test_accuracy"], nr["test_accuracy"] - pt["test_accuracy"]))
        rows.append((f"{kind} peak RSS (MiB)", nr_rss / 1024, pt_rss / 1024, nr_rss / pt_rss))
        rows.append((f"{kind} process user CPU (s)", nr_user, pt_user, nr_user / pt_user))

    matmul = None
    if args.matmul_sizes:
        mm_out, _, _ = run_child([f"{args.build}/benchmarks/bench_matmul", "--device", "cpu",
                                  "--sizes", args.matmul_sizes])
        matmul = last_json(mm_out)
        print(next(l for l in mm_out.splitlines() if l.startswith("CPU reference")))
        for r in matmul["rows"]:
            rows.append((f"matmul {r['n']} (GFLOP/s)", r["neurona_gflops"], r["reference_gflops"],
                         r["ratio"]))

    print(f"\n{'row':<28} {'neurona':>10} {'reference':>10} {'ratio':>8}")
    print("(reference: PyTorch from Python for training rows, direct OpenBLAS for matmul; "
          "ratio: neurona/reference, accuracy rows: difference)")
    for name, a, b, r in rows:
        print(f"{name:<28} {a:>10.4g} {b:>10.4g} {r:>8.3f}")
    print(json.dumps({"benchmark": "compare_cpu", "threads": args.threads,
                      "loadavg": os.getloadavg(), "train": records, "matmul": matmul}))


if __name__ == "__main__":
    main()
