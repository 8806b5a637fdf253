"""PyTorch's side of benchmarks/compare_cpu.py and compare_pytorch.py: `neurona train`'s models
(tools/fashion_models.h: cnn, mlp, resnet) in PyTorch, and the training worker each script runs
as a child process.

The models are NCHW (PyTorch's native layout; neurona is NHWC as Keras) with Keras's initial
weights (Glorot-uniform kernels, zero biases), trained with batch `--batch-size`, Adam(1e-3,
epsilon 1e-7 as Keras) and softmax cross-entropy, the last partial batch included, as fit does.
On a GPU the whole data set is moved to the device once and each epoch's shuffle is a randperm
there with the batches gathered there, as neurona's fit does. The worker prints one JSON line.
"""
import contextlib
import gzip
import json
import time


def read_idx(path):
    """An IDX file (gzip-compressed, as Fashion-MNIST ships) as a numpy array."""
    import numpy as np
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def resnet20():
    """ResNet-20 as nr::applications::ResNet20 builds it on the 28x28 images padded to 32x32:
    3x3 convolutions without bias before batch normalization (Keras's momentum 0.99 and epsilon
    1e-3: PyTorch's momentum 0.01), he_normal kernels, strided 1x1 projection shortcuts with
    bias, global average pooling, Dense(10) (Glorot, zero bias); 272,090 parameters and the
    moving statistics (Keras counts those too: 273,466)."""
    import torch.nn as nn

    def conv_bn(cin, cout, stride, relu=True):
        layers = [nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                  nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)]
        return nn.Sequential(*(layers + [nn.ReLU()] if relu else layers))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(conv_bn(cin, cout, stride), conv_bn(cout, cout, 1, False))
            self.shortcut = nn.Conv2d(cin, cout, 1, stride) if stride != 1 else nn.Identity()
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.shortcut(x) + self.body(x))

    blocks, cin = [], 16
    for stage in range(3):
        cout = 16 << stage
        for b in range(3):
            blocks.append(Block(cin, cout, 2 if stage > 0 and b == 0 else 1))
            cin = cout
    model = nn.Sequential(nn.ZeroPad2d(2), conv_bn(1, 16, 1), *blocks,
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    for m in model.modules():
        if isinstance(m, nn.Conv2d):  # he_normal (Keras truncates at 2 stddev; PyTorch not)
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def torch_model(kind):
    """`cnn`, `mlp` or `resnet` as tools/fashion_models.h builds them, the softmax left to the
    loss."""
    import torch.nn as nn
    if kind == "resnet":
        return resnet20()
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


def load_fashion(data_dir, train_samples, test_samples):
    """(x_train, y_train, x_test, y_test) as numpy uint8 arrays, cut to the first N if N > 0."""
    x_train = read_idx(f"{data_dir}/train-images-idx3-ubyte.gz")
    y_train = read_idx(f"{data_dir}/train-labels-idx1-ubyte.gz")
    x_test = read_idx(f"{data_dir}/t10k-images-idx3-ubyte.gz")
    y_test = read_idx(f"{data_dir}/t10k-labels-idx1-ubyte.gz")
    if train_samples > 0:
        x_train, y_train = x_train[:train_samples], y_train[:train_samples]
    if test_samples > 0:
        x_test, y_test = x_test[:test_samples], y_test[:test_samples]
    return x_train, y_train, x_test, y_test


def compile_unavailable(torch):
    """Why torch.compile cannot run here, or None when it may."""
    if not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile (PyTorch 2.0 or newer has)"
    return None


def torch_worker(args):
    """Trains args.worker_model and prints one JSON line.

    Reads args.threads, seed, data_dir, train_samples, test_samples, epochs, batch_size, and where
    present args.device ("cpu" when absent) and args.compile (torch.compile(mode=
    "reduce-overhead", dynamic=False) around the model; evaluation uses the same weights eagerly).
    """
    import numpy as np
    import torch
    device = torch.device(getattr(args, "device", "cpu"))
    use_compile = getattr(args, "compile", False)
    policy = getattr(args, "dtype_policy", "float32")
    framework = "pytorch-compile" if use_compile else "pytorch"
    record = {"benchmark": "train", "framework": framework, "model": args.worker_model,
              "torch": torch.__version__, "dtype_policy": policy}
    if policy not in ("float32", "mixed_bfloat16"):
        record["unavailable"] = f"dtype policy {policy} (float32 or mixed_bfloat16 here)"
        print(json.dumps(record))
        return
    if use_compile and compile_unavailable(torch):
        record["unavailable"] = compile_unavailable(torch)
        print(json.dumps(record))
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cuda = device.type == "cuda"
    if cuda:
        if not torch.cuda.is_available():
            raise SystemExit(f"torch_fashion: --device {device} asked, but torch "
                             f"{torch.__version__} sees no CUDA GPU")
        device = torch.device("cuda", device.index or 0)  # "cuda" is GPU 0, as in neurona
        torch.cuda.set_device(device)
        record["gpu"] = torch.cuda.get_device_name(device)
        # As neurona's defaults: TensorFloat-32 for float32 matmuls and convolutions (as
        # TensorFlow), and cuDNN convolution algorithms picked by timing them (cudnnFind*).
        # Convolutions use TF32 by default in PyTorch; matmuls through the one setter that
        # PyTorch 1.12 to 2.11 all have (PyTorch 2.9+ refuses a mix of its old per-flag and new
        # fp32_precision settings, so neither is written here).
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.benchmark = True
        record["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    x_train, y_train, x_test, y_test = load_fashion(args.data_dir, args.train_samples,
                                                    args.test_samples)
    to_x = lambda a: torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1)  # NCHW
    xt, yt = to_x(x_train).to(device), torch.from_numpy(y_train.astype(np.int64)).to(device)
    xe, ye = to_x(x_test).to(device), torch.from_numpy(y_test.astype(np.int64)).to(device)
    model = torch_model(args.worker_model).to(device)
    step_model = model
    mark_step = None
    if use_compile:
        # dynamic=False: one static graph per batch shape (the full batches and the last
        # partial one), each captured as a CUDA graph, rather than a dynamic-shape recompile.
        step_model = torch.compile(model, mode="reduce-overhead", dynamic=False)
        mark_step = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)
    n, bs = xt.shape[0], args.batch_size
    scheduler = None
    if args.worker_model == "resnet":
        # Keras's L2(1e-4) on the kernels adds 2e-4 * w to their gradients: Adam's weight_decay
        # on the convolution kernels only; the learning rate decays along a cosine to 0 over the
        # run (Keras's CosineDecay, stepped per batch).
        kernels = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        ids = {id(p) for p in kernels}
        others = [p for p in model.parameters() if id(p) not in ids]
        opt = torch.optim.Adam([{"params": kernels, "weight_decay": 2e-4},
                                {"params": others, "weight_decay": 0.0}], lr=1e-3, eps=1e-7)
        steps = args.epochs * ((n + bs - 1) // bs)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.0)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()  # softmax + sparse categorical cross-entropy
    # mixed_bfloat16: the forward pass and the loss under bfloat16 autocast, float32 weights.
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) \
        if policy == "mixed_bfloat16" else contextlib.nullcontext
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    segments = lambda: torch.cuda.memory_stats(device).get("segment.all.allocated", 0)
    seconds, segments_after_first = [], None
    for epoch in range(args.epochs):
        sync()
        t0 = time.monotonic()
        model.train()
        perm = torch.randperm(n, device=device)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            if mark_step:
                mark_step()
            opt.zero_grad(set_to_none=True)
            with autocast():
                loss = loss_fn(step_model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            if scheduler is not None:
                scheduler.step()
        sync()
        seconds.append(time.monotonic() - t0)
        if epoch == 0 and cuda:
            segments_after_first = segments()
    if cuda and args.epochs >= 2:
        # The caching allocator's cudaMalloc calls ("segments") after the first epoch.
        record["cuda_mallocs_after_first_epoch"] = segments() - segments_after_first
    if use_compile:
        try:
            from torch._dynamo.utils import counters
            record["compiled_graphs"] = int(counters["stats"]["unique_graphs"])
            record["graph_breaks"] = int(sum(counters["graph_break"].values()))
        except (ImportError, KeyError, AttributeError) as e:
            record["compiled_graphs"] = f"unknown ({e})"
    model.eval()
    with torch.no_grad(), autocast():
        correct = sum(int((model(xe[i:i + 256]).argmax(1) == ye[i:i + 256]).sum())
                      for i in range(0, xe.shape[0], 256))
    record.update({"device": str(device), "epochs": args.epochs, "train_samples": n,
                   "batch_size": bs, "epoch_seconds": seconds,
                   "median_epoch_seconds": sorted(seconds)[len(seconds) // 2],
                   "test_accuracy": correct / xe.shape[0], "threads": torch.get_num_threads()})
    print(json.dumps(record))
