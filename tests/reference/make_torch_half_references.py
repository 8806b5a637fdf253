"""bfloat16 and float16 results of PyTorch's CPU ops, for tests/kernels/half_reference_test.cpp.

Uses Debian's python3-torch (PyTorch 1.13, CPU), importable from /usr/bin/python3. Rerun from
the repository root:

    /usr/bin/python3 tests/reference/make_torch_half_references.py

It rewrites tests/reference/torch/half_ops.txt: lines `name dim0 dim1 ... : v0 v1 ...` (the
format of tests/support/reference_file.h), the inputs (16-bit values, from a fixed seed) and
PyTorch's outputs, each value written exactly (a 16-bit value is a double; repr round-trips).
PyTorch's CPU computes 16-bit ops in float32 and rounds the result to the 16-bit type, as
neurona does; its float16 CPU kernels cover casts and a few elementwise ops only (no matmul,
no transcendental functions in 1.13), so float16 has fewer entries. Convolutions are NCHW in
PyTorch: the inputs are written here in neurona's NHWC / (kh, kw, in, out) layouts.
"""
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'torch', 'half_ops.txt')


def line(name, t):
    t = t.detach().to(torch.float64).contiguous()
    dims = ' '.join(str(d) for d in t.shape)
    values = ' '.join(repr(float(v)) for v in t.flatten().tolist())
    return f'{name} {dims} : {values}'.replace('  :', ' :')


def main():
    torch.manual_seed(2026)
    lines = []
    # Casts: values around ties, the largest finite values and subnormals (no inf or NaN: the
    # reference format reads plain numbers; tests/core/half_test.cpp covers those).
    special = torch.tensor([1.0 + 2.0 ** -9, 1.0 + 3 * 2.0 ** -9, 3.0 + 2.0 ** -7, -2.5,
                            65504.0, 65519.0, 2.0 ** -24, 1.5 * 2.0 ** -25, 2.0 ** -133,
                            3.0e38, -1.0e-40, 0.1, 1.0 / 3.0, 1234.5678],
                           dtype=torch.float32)
    lines.append(line('cast_in', special))
    for tag, dt in (('bf16', torch.bfloat16), ('f16', torch.float16)):
        casted = special.to(dt)
        finite = torch.isfinite(casted.to(torch.float32))
        lines.append(line(f'{tag}_cast_finite', finite.to(torch.float32)))
        lines.append(line(f'{tag}_cast', torch.where(finite, casted.to(torch.float32),
                                                     torch.zeros_like(special))))

    for tag, dt in (('bf16', torch.bfloat16), ('f16', torch.float16)):
        a = (torch.randn(6, 1, 37) * 2).to(dt)
        b = (torch.randn(5, 37) * 2).to(dt)
        lines.append(line(f'{tag}_a', a))
        lines.append(line(f'{tag}_b', b))
        lines.append(line(f'{tag}_add', a + b))
        lines.append(line(f'{tag}_mul', a * b))
        lines.append(line(f'{tag}_sum0', a.sum(0)))
        if dt != torch.bfloat16:
            continue
        lines.append(line(f'{tag}_relu', torch.relu(a)))
        lines.append(line(f'{tag}_exp', torch.exp(a)))
        lines.append(line(f'{tag}_sigmoid', torch.sigmoid(a)))
        lines.append(line(f'{tag}_tanh', torch.tanh(a)))
        lines.append(line(f'{tag}_softmax', torch.softmax(a, -1)))
        lines.append(line(f'{tag}_max2', a.amax(2)))
        m1 = (torch.randn(9, 64) / 4).to(dt)
        m2 = (torch.randn(64, 12) / 4).to(dt)
        lines.append(line(f'{tag}_m1', m1))
        lines.append(line(f'{tag}_m2', m2))
        lines.append(line(f'{tag}_matmul', m1 @ m2))
        x = torch.randn(2, 3, 7, 6).to(dt)        # NCHW
        w = (torch.randn(4, 3, 3, 3) / 3).to(dt)  # (out, in, kh, kw)
        lines.append(line(f'{tag}_conv_x', x.permute(0, 2, 3, 1)))  # NHWC
        lines.append(line(f'{tag}_conv_w', w.permute(2, 3, 1, 0)))  # (kh, kw, in, out)
        y = torch.nn.functional.conv2d(x, w, padding=1)
        lines.append(line(f'{tag}_conv_y', y.permute(0, 2, 3, 1)))
        p = torch.nn.functional.max_pool2d(x, 2)
        lines.append(line(f'{tag}_pool_y', p.permute(0, 2, 3, 1)))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'wrote {OUT} ({len(lines)} entries, torch {torch.__version__})')


if __name__ == '__main__':
    main()
