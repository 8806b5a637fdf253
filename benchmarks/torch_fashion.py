"""PyTorch's side of benchmarks/compare_cpu.py and compare_pytorch.py: `neurona train`'s models
(tools/fashion_models.h) in PyTorch, and the training worker each script runs as a child process.

The models are NCHW (PyTorch's native layout; neurona is NHWC as Keras) with Keras's initial
weights (Glorot-uniform kernels, zero biases), trained with batch `--batch-size`, Adam(1e-3,
epsilon 1e-7 as Keras) and softmax cross-entropy, the last partial batch included, as fit does.
On a GPU the whole data set is moved to the device once and each epoch's shuffle is a randperm
there with the batches gathered there, as neurona's fit does. The worker prints one JSON line.
"""
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


def torch_model(kind):
    """`cnn` or `mlp` as tools/fashion_models.h builds them, the softmax left to the loss."""
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
    framework = "pytorch-compile" if use_compile else "pytorch"
    record = {"benchmark": "train", "framework": framework, "model": args.worker_model,
              "torch": torch.__version__}
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
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()  # softmax + sparse categorical cross-entropy
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    segments = lambda: torch.cuda.memory_stats(device).get("segment.all.allocated", 0)
    n, bs = xt.shape[0], args.batch_size
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
            loss = loss_fn(step_model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
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
    with torch.no_grad():
        correct = sum(int((model(xe[i:i + 256]).argmax(1) == ye[i:i + 256]).sum())
                      for i in range(0, xe.shape[0], 256))
    record.update({"device": str(device), "epochs": args.epochs, "train_samples": n,
                   "batch_size": bs, "epoch_seconds": seconds,
                   "median_epoch_seconds": sorted(seconds)[len(seconds) // 2],
                   "test_accuracy": correct / xe.shape[0], "threads": torch.get_num_threads()})
    print(json.dumps(record))
