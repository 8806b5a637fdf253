#!/usr/bin/python3
"""neurona's CPU attention beside PyTorch's on the CPU, in one invocation (issue 19).

Run it with Debian's /usr/bin/python3 (python3-torch, PyTorch 1.13, lives there):

    /usr/bin/python3 benchmarks/compare_attention_cpu.py --build build [--seq 512 1024 2048]

Each row is one training-shaped call of causal self-attention, float32, forward and backward
together (the output and the gradients of sum(y) with respect to q, k and v), batch 1, 4 heads of
dimension 64 by default. neurona runs build/benchmarks/bench_attention_cpu --causal (its fused,
blocked CPU kernel: nr::dot_product_attention with is_causal, which never holds the (T, T)
scores); PyTorch runs in a child process of this file, with the same number of threads, as
softmax(q k^T / sqrt(d) + causal mask) v through autograd. PyTorch 1.13 has no
scaled_dot_product_attention (2.0 added it; its CPU math backend is this composition), so this
is the attention a PyTorch 1.13 user writes. Each side: one warm-up, then the minimum (and the
median) of --repeats calls; the ratio is PyTorch's minimum over neurona's (above 1: neurona is
faster). A table, then one JSON line.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time


def torch_worker(seqs, batch, heads, head_dim, repeats, threads):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    rows = []
    for t in seqs:
        q, k, v = (torch.randn(batch, heads, t, head_dim, requires_grad=True) for _ in range(3))
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        scale = 1.0 / head_dim ** 0.5

        def step():
            s = torch.matmul(q, k.transpose(-2, -1)) * scale
            s = s.masked_fill(~causal, float("-inf"))
            y = torch.matmul(torch.softmax(s, dim=-1), v)
            grads = torch.autograd.grad(y.sum(), (q, k, v))
            return y, grads

        step()  # warm-up
        ms = []
        for _ in range(repeats):
            start = time.perf_counter()
            step()
            ms.append((time.perf_counter() - start) * 1e3)
        ms.sort()
        rows.append({"seq": t, "min_ms": ms[0], "median_ms": ms[len(ms) // 2]})
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "rows": rows}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build", help="neurona's CMake build directory")
    parser.add_argument("--seq", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_worker:
        torch_worker(args.seq, args.batch, args.heads, args.head_dim, args.repeats, args.threads)
        return 0

    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "passive")  # as scripts/env.sh, for a busy 2-core machine
    env["OMP_NUM_THREADS"] = str(args.threads)
    shape = ["--batch", str(args.batch), "--heads", str(args.heads), "--head-dim",
             str(args.head_dim), "--repeats", str(args.repeats)]
    seqs = [str(t) for t in args.seq]
    bench = os.path.join(args.build, "benchmarks", "bench_attention_cpu")
    out = subprocess.run([bench, "--causal", "--seq", *seqs, *shape], env=env, check=True,
                         capture_output=True, text=True).stdout
    neurona = {r["seq"]: r for r in
               (json.loads(line) for line in out.splitlines() if line.startswith("{"))}
    out = subprocess.run([sys.executable, __file__, "--torch-worker", "--seq", *seqs,
                          "--threads", str(args.threads), *shape], env=env, check=True,
                         capture_output=True, text=True).stdout
    torch = json.loads(out.splitlines()[-1])

    print(f"causal self-attention, float32, forward + backward; batch {args.batch}, "
          f"{args.heads} heads x {args.head_dim}; {args.threads} threads; "
          f"PyTorch {torch['torch']}; {platform.processor() or platform.machine()}")
    print(f"{'seq':>6} {'neurona ms':>16} {'torch ms':>16} {'torch / neurona':>16}")
    rows = []
    for r in torch["rows"]:
        n = neurona[r["seq"]]
        ratio = r["min_ms"] / n["min_ms"]
        print(f"{r['seq']:>6} {n['min_ms']:8.1f} ({n['median_ms']:5.1f}) "
              f"{r['min_ms']:8.1f} ({r['median_ms']:5.1f}) {ratio:16.2f}")
        rows.append({"seq": r["seq"], "neurona_ms": round(n["min_ms"], 3),
                     "torch_ms": round(r["min_ms"], 3), "ratio": round(ratio, 3)})
    print(json.dumps({"benchmark": "attention_cpu_vs_torch", "batch": args.batch,
                      "heads": args.heads, "head_dim": args.head_dim, "threads": args.threads,
                      "torch": torch["torch"], "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
