#!/usr/bin/env python3
"""PyTorch's side of benchmarks/compare_large.py: one training throughput run in this process.

    python3 benchmarks/torch_large.py --model gpt2 --mode compile --precision mixed_bfloat16

The models `neurona bench --model resnet50|gpt2` trains (tools/model_benchmark.h), written as
a PyTorch user writes them:
  - resnet50: torchvision's resnet50 (v1.5: the stride on the 3x3 convolution, no convolution
    biases; Keras's ResNet50 is v1, about 5% fewer FLOPs), channels_last, SGD(0.01, momentum
    0.9), cross-entropy.
  - gpt2: GPT-2 small as nanoGPT writes it (one c_attn Linear, scaled_dot_product_attention with
    is_causal, tanh gelu, the token embedding tied to the output, GPT-2's initialisation), AdamW(6e-4, betas 0.9 / 0.95,
    eps 1e-8, weight decay 0.1 on every parameter as Keras's AdamW, fused where PyTorch has it),
    global gradient norm clipped to 1.0.
float32 runs use TensorFloat-32 for matmuls and convolutions (neurona's default);
mixed_bfloat16 runs under torch.autocast(bfloat16) with float32 weights, as Keras's policy. One
batch is drawn on the device once and fed every step; --epochs epochs of --steps steps, the first
a warm-up (cuDNN's benchmark, torch.compile's compilation), the median of the others reported.
Prints one JSON line.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width)
        self.c_attn = nn.Linear(width, 3 * width)
        self.c_proj = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.c_fc = nn.Linear(width, 4 * width)
        self.mlp_proj = nn.Linear(4 * width, width)

    def attention(self, q, k, v):
        if hasattr(F, "scaled_dot_product_attention"):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        # PyTorch before 2.0 (Debian's 1.13): the same product, materialised.
        t = q.shape[-2]
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        mask = torch.ones(t, t, dtype=torch.bool, device=q.device).tril()
        return scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = self.attention(q, k, v).transpose(1, 2).contiguous().view(b, t, c)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, context, layers, heads, width):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        # GPT-2's initialisation (nanoGPT's): normal(0, 0.02) weights, zero biases, the residual
        # projections scaled by 1 / sqrt(2 * layers). PyTorch's N(0, 1) embedding would make the
        # tied logits hundreds wide.
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, mean=0.0, std=std)

    def forward(self, tokens):
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.wte(tokens) + self.wpe(positions)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.t()  # tied


def build(args, device):
    if args.model == "resnet50":
        import torchvision

        model = torchvision.models.resnet50(weights=None, num_classes=args.classes)
        model = model.to(device).to(memory_format=torch.channels_last)
        x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
        x = x.contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, args.classes, (args.batch_size,), device=device)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        return model, x, y, opt, None, args.batch_size
    model = GPT(args.vocab_size, args.context, args.layers, args.heads, args.width).to(device)
    x = torch.randint(0, args.vocab_size, (args.batch_size, args.context), device=device)
    y = torch.randint(0, args.vocab_size, (args.batch_size, args.context), device=device)
    kwargs = dict(lr=6e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    try:
        opt = torch.optim.AdamW(model.parameters(), fused=device.type == "cuda", **kwargs)
    except (TypeError, RuntimeError):  # no fused AdamW in this PyTorch
        opt = torch.optim.AdamW(model.parameters(), **kwargs)
    return model, x, y, opt, 1.0, args.batch_size * args.context


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=("resnet50", "gpt2"), required=True)
    p.add_argument("--mode", choices=("eager", "compile"), default="eager")
    p.add_argument("--precision", choices=("float32", "mixed_bfloat16"), default="float32")
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch-size", type=int, default=0, help="0: 256 images / 16 sequences")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--context", type=int, default=1024)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--width", type=int, default=768)
    p.add_argument("--vocab-size", type=int, default=50257)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if args.batch_size <= 0:
        args.batch_size = 256 if args.model == "resnet50" else 16
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    model, x, y, opt, clip, items = build(args, device)
    parameters = sum(q.numel() for q in model.parameters())
    forward = model
    if args.mode == "compile":
        if not hasattr(torch, "compile"):
            raise SystemExit(f"torch.compile is missing in PyTorch {torch.__version__}")
        forward = torch.compile(model)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16,
                              enabled=args.precision == "mixed_bfloat16")

    def step():
        with autocast:
            out = forward(x)
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]).float(), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return loss

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    epoch_seconds, epoch_loss = [], []
    for _ in range(args.epochs):
        sync()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            loss = step()
        epoch_loss.append(float(loss.item()))  # waits for the device
        sync()
        epoch_seconds.append(time.perf_counter() - t0)
    timed = sorted(epoch_seconds[1:])
    per_step = timed[len(timed) // 2] / args.steps
    record = {
        "benchmark": "model",
        "framework": "pytorch",
        "mode": args.mode,
        "torch": torch.__version__,
        "model": args.model,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype_policy": args.precision,
        "parameters": parameters,
        "batch_size": args.batch_size,
        "epoch_seconds": epoch_seconds,
        "seconds_per_step": per_step,
        "unit": "images" if args.model == "resnet50" else "tokens",
        "items_per_second": items / per_step,
        "peak_device_bytes": torch.cuda.max_memory_allocated(device)
        if device.type == "cuda" else None,
        "epoch_loss": epoch_loss,
    }
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
