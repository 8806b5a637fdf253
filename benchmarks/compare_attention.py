#!/usr/bin/env python3
"""neurona's fused attention against PyTorch's scaled_dot_product_attention on the same GPU and
shapes (issue 19's target: at least 90% of PyTorch's TFLOP/s, forward and forward + backward).

    python3 benchmarks/compare_attention.py --ops-from OUT/bench_ops_gpu.txt
    python3 benchmarks/compare_attention.py --build build     # runs bench_ops_gpu --filter attention

neurona's rows come from bench_ops_gpu's JSON line ("attention": case, pass, ms, tflops); PyTorch's
are timed here on the shapes each case names (bfloat16, (B, T, N, H) transposed to PyTorch's
(B, N, T, H) outside the timing, is_causal as the case says), with the backend PyTorch picks
(FlashAttention-2 or cuDNN on an H100/H200). A case with a window (keys i - window + 1 .. i)
gives PyTorch the band as a boolean attn_mask (its SDPA has no window argument; the mask sends it
to the memory-efficient or math backend), with the same FLOPs (the pairs the window shows).
Timing: median of 5 regions of 3 calls after a warm-up, synchronised around each region, as
bench_ops_gpu. Prints a table and one JSON line.
"""
import argparse
import json
import re
import subprocess
import sys
import time


def last_json(text):
    for line in reversed(text.splitlines()):
        if line.startswith("{") and '"ops_gpu"' in line:
            return json.loads(line)
    return None


def torch_seconds(torch, f, reps=5, inner=3):
    def region():
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(inner):
            f()
        torch.cuda.synchronize()
        return (time.perf_counter() - t0) / inner

    region()
    t = sorted(region() for _ in range(reps))
    return t[len(t) // 2]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ops-from", help="bench_ops_gpu's output (else it is run)")
    p.add_argument("--build", default="build")
    args = p.parse_args()
    if args.ops_from:
        with open(args.ops_from) as fh:
            text = fh.read()
    else:
        text = subprocess.run([f"{args.build}/benchmarks/bench_ops_gpu", "--filter", "attention"],
                              capture_output=True, text=True, check=True).stdout
    record = last_json(text)
    rows = (record or {}).get("attention", [])
    if not rows:
        print("compare_attention: no attention rows in bench_ops_gpu's output")
        print(json.dumps({"benchmark": "attention_vs_torch", "skipped": "no neurona rows"}))
        return 0
    import torch
    import torch.nn.functional as F

    out = []
    print(f"{'case':<48} {'pass':<8} {'neurona':>9} {'torch':>9} {'ratio':>7}  (TFLOP/s; "
          "ratio = neurona / torch, target >= 0.90)")
    shapes = {}
    for r in rows:
        shapes.setdefault(r["case"], []).append(r)
    for case, passes in shapes.items():
        m = re.match(r"attention h(\d+) t(\d+) b(\d+) n(\d+)( causal)?( window(\d+))?", case)
        h, t, b, n = (int(m.group(i)) for i in range(1, 5))
        causal = bool(m.group(5))
        window = int(m.group(7)) if m.group(7) else None
        band = None
        if window is not None:
            i = torch.arange(t, device="cuda")
            band = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < window)
        mk = lambda: torch.empty(b, n, t, h, device="cuda", dtype=torch.bfloat16).uniform_(-1, 1)
        q, k, v, dout = mk(), mk(), mk(), mk()
        q.requires_grad_(True)
        k.requires_grad_(True)
        v.requires_grad_(True)
        if band is None:
            fwd = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        else:
            fwd = lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=band)

        def both():
            y = fwd()
            y.backward(dout)

        with torch.no_grad():
            t_fwd = torch_seconds(torch, fwd)
        t_both = torch_seconds(torch, both)
        for r in passes:
            secs = t_fwd if r["pass"] == "forward" else t_both
            torch_tflops = r["flops"] / secs / 1e12
            ratio = r["tflops"] / torch_tflops
            print(f"{case:<48} {r['pass']:<8} {r['tflops']:>9.1f} {torch_tflops:>9.1f} "
                  f"{ratio:>7.3f}")
            out.append({**r, "torch_ms": 1e3 * secs, "torch_tflops": torch_tflops,
                        "ratio": ratio})
        del q, k, v, dout
        torch.cuda.empty_cache()
    print(json.dumps({"benchmark": "attention_vs_torch", "torch": torch.__version__,
                      "device": torch.cuda.get_device_name(), "rows": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
