"""Speed and memory of ``VAE.fit`` and ``VAE.transform`` against a plain loop.

For each case, the throughput (samples per second) of nidl's ``fit`` and
``transform`` is printed next to that of a plain PyTorch loop doing the same
math on the same data in the same process, with their ratio and the peak
memory of each. Timings are printed, never asserted.

The plain loop is what a user writes by hand: contiguous float32 tensors,
eager mode, ``encoder -> fc_mu, fc_logvar -> mu + exp(logvar / 2) * eps ->
decoder``, loss = reconstruction term (summed over features, averaged over
the batch) + beta * KL to N(0, I) (summed over latent dimensions, averaged
over the batch), AdamW over all parameters, a new permutation each epoch used
to index one contiguous tensor, the loss accumulated on the device and read
once per epoch. Its transform is ``fc_mu(encoder(x))`` over batches of the
training batch size under ``torch.inference_mode``. nidl and the plain loop
start from the same weights (deep copies of the same modules; the heads drawn
from the same seed) and train for the same number of epochs.

Cases:

- ``mlp``: an MLP VAE (64 -> 256 -> 10 -> 256 -> 64) on scikit-learn's digits
  scaled to [0, 1] and repeated to about 18,000 samples, batch 128, Bernoulli
  likelihood (the decoder returns ``Bernoulli(logits=...)``); inputs: an
  ndarray, a tensor, and a user's ``DataLoader(TensorDataset(X),
  batch_size=128, shuffle=True)``; then ``compile=True``; with ``--bf16``,
  ``precision="bf16-mixed"`` against the plain loop under ``torch.autocast``.
- ``conv``: a 3-D convolutional VAE (``nidl.nn.ConvEncoder`` and
  ``ConvDecoder``, widths 16-32-64, kernel 4, stride 2, 256 features, 16
  latent dimensions) on random volumes of shape 1x48x56x48, batch 8, Normal
  likelihood; the same three inputs with default options, then
  ``channels_last=False``; with ``--bf16``, a bf16-mixed row.

Run from the repository root, on a quiet machine (about 5 minutes on 2 CPU
cores; ``--quick``, a smoke test with fewer samples and epochs, under one
minute)::

    .venv/bin/python benchmarks/bench_vae_speed.py [--quick] [--bf16] [--device cpu|cuda]

``--no-compile`` leaves out the compile row, ``--cases mlp`` (or ``conv3d``)
runs one case.

Torch uses its default number of threads (printed) unless ``OMP_NUM_THREADS``
says otherwise.

What the columns measure:

- ``fit/s``: samples per second of training, per epoch, excluding the first
  epoch (warm-up, compilation). For nidl, a callback records
  ``time.perf_counter()`` at the start of each epoch and at the end of the
  last one (after a device synchronisation on CUDA), so the Trainer's set-up
  and tear-down and the input checks are not in it: they are in
  ``setup s``. Median over ``repeats`` fits.
- ``transform/s``: samples per second of one whole ``transform`` call
  (input checks, conversion of the output included). Median over repeats.
- ``ratio``: nidl / plain, the median over repeats of the ratio of two
  measurements taken one right after the other: every nidl row of every
  repeat runs its plain loop just before it, since the speed of a shared
  machine drifts over seconds. The plain columns are the medians of the
  plain runs of that row.
- ``1st epoch +s``: how much longer nidl's first epoch took than its
  steady-state epochs, in the first repeat: the one-off cost a user pays
  once per process (compilation, lazy initialisation, allocator warm-up).
  Unless ``TORCHINDUCTOR_CACHE_DIR`` is set, the compiler's cache starts
  empty in a temporary directory, so that the compile row shows a cold
  compilation (later repeats reuse what the first one compiled).
- ``setup s``: wall time of ``fit`` minus the time of its epochs: parameter
  and input checks, module snapshots, Trainer creation and tear-down.
- ``MiB``: peak memory of a call above what was in use when it started, the
  largest over repeats. On CUDA, ``torch.cuda.max_memory_allocated`` (tensors
  only). On the CPU, the peak resident set size of the process
  (``VmHWM`` of ``/proc/self/status``, reset through
  ``/proc/self/clear_refs`` before each call) minus the resident set size at
  the start of the call: it counts every byte the process touched (tensors,
  Python objects, libraries loaded on first use), and memory freed by an
  earlier call but kept by the allocator is reused without counting, so read
  it as an order of magnitude. Where ``clear_refs`` cannot be written, the
  increase of ``ru_maxrss`` is printed instead (only new peaks of the
  process show).
"""

import argparse
import copy
import inspect
import math
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_lightning import Callback
from sklearn.datasets import load_digits
from torch import nn
from torch.distributions import Bernoulli
from torch.utils.data import DataLoader, TensorDataset

from nidl.estimators import base as nidl_base
from nidl.estimators.autoencoders import VAE
from nidl.nn import ConvDecoder, ConvEncoder

SEED = 0
LR = 1e-3
WEIGHT_DECAY = 1e-2
BETA = 1.0


@dataclass(frozen=True)
class Sizes:
    """Sizes of a run; the first epoch of each fit is a warm-up, not timed."""

    mlp_samples: int = 18_000
    mlp_epochs: int = 4
    conv_samples: int = 96
    conv_epochs: int = 3
    volume_shape: tuple = (48, 56, 48)
    repeats: int = 5
    transform_repeats: int = 3


DEFAULT = Sizes()
QUICK = Sizes(
    mlp_samples=2_048,
    mlp_epochs=2,
    conv_samples=16,
    conv_epochs=2,
    repeats=1,
    transform_repeats=1,
)


# ----------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------
class BernoulliDecoder(nn.Module):
    """An MLP whose outputs are the logits of a Bernoulli likelihood."""

    def __init__(self, latent_dim, hidden, n_features):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_features)
        )

    def forward(self, z):
        return Bernoulli(logits=self.net(z), validate_args=False)


@dataclass
class Case:
    """One model on one data set, with the rows to measure on it."""

    name: str
    X: np.ndarray
    encoder: nn.Module
    decoder: nn.Module
    encoder_out_dim: int
    latent_dim: int
    default_dist: str
    batch_size: int
    epochs: int
    rows: list  # (input kind, label, nidl options, baseline name)


def mlp_case(sizes, bf16=False, compile=True):
    digits = (load_digits().data / 16.0).astype(np.float32)
    repeats = math.ceil(sizes.mlp_samples / len(digits))
    X = np.ascontiguousarray(np.tile(digits, (repeats, 1))[: sizes.mlp_samples])
    hidden, latent_dim = 256, 10
    torch.manual_seed(SEED)
    encoder = nn.Sequential(nn.Linear(X.shape[1], hidden), nn.ReLU())
    decoder = BernoulliDecoder(latent_dim, hidden, X.shape[1])
    rows = [
        ("ndarray", "default", {}, "plain"),
        ("tensor", "default", {}, "plain"),
        ("DataLoader", "default", {}, "plain"),
    ]
    if compile:
        rows.append(("ndarray", "compile=True", {"compile": True}, "plain"))
    if bf16:
        rows.append(("ndarray", "bf16-mixed", {"precision": "bf16-mixed"}, "plain-bf16"))
    return Case("mlp", X, encoder, decoder, hidden, latent_dim, "bernoulli", 128,
                sizes.mlp_epochs, rows)


def conv_case(sizes, bf16=False, compile=True):
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((sizes.conv_samples, 1, *sizes.volume_shape), dtype=np.float32)
    widths, features, latent_dim = (16, 32, 64), 256, 16
    torch.manual_seed(SEED)
    encoder = ConvEncoder(sizes.volume_shape, in_channels=1, widths=widths,
                          out_features=features)
    decoder = ConvDecoder(latent_dim, sizes.volume_shape, out_channels=1, widths=widths)
    rows = [
        ("ndarray", "default", {}, "plain"),
        ("tensor", "default", {}, "plain"),
        ("DataLoader", "default", {}, "plain"),
        ("ndarray", "channels_last=False", {"channels_last": False}, "plain"),
    ]
    if bf16:
        rows.append(("ndarray", "bf16-mixed", {"precision": "bf16-mixed"}, "plain-bf16"))
    return Case("conv3d", X, encoder, decoder, features, latent_dim, "normal", 8,
                sizes.conv_epochs, rows)


def supported_option(name):
    """Whether ``VAE`` accepts the option ``name`` (a parameter or a speed option)."""
    return name in inspect.signature(VAE).parameters or name in getattr(
        nidl_base, "ENGINE_OPTIONS", {}
    )


def missing_options(options):
    """Options of a row that this version of nidl does not have."""
    return [
        name
        for name in options
        if name not in nidl_base.TRAINER_ARGUMENTS and not supported_option(name)
    ]


# ----------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------
def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def status_kib(field):
    """A field of /proc/self/status, in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def can_reset_peak_rss():
    """Whether this process's peak resident memory can be reset (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        status_kib("VmHWM")
        return True
    except (OSError, KeyError):
        return False


CPU_MEMORY = "VmHWM" if sys.platform.startswith("linux") and can_reset_peak_rss() else "ru_maxrss"


@contextmanager
def peak_memory(device, record):
    """Append to ``record`` the peak memory (MiB) of the block above its start."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        yield
        synchronize(device)
        record.append((torch.cuda.max_memory_allocated(device) - start) / 2**20)
    elif CPU_MEMORY == "VmHWM":
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        start = status_kib("VmRSS")
        yield
        record.append(max(status_kib("VmHWM") - start, 0) / 1024)
    else:
        start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        yield
        # kilobytes on Linux, bytes on macOS
        unit = 1 if sys.platform == "darwin" else 1024
        record.append((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start) * unit / 2**20)


class EpochTimer(Callback):
    """Record ``time.perf_counter()`` at each epoch's start and the last epoch's end.

    nidl trains with copies of the callbacks it is given; this one is its
    own copy, so that its records are read after ``fit``.
    """

    def __init__(self, device):
        self.device = device
        self.times = []

    def __deepcopy__(self, memo):
        return self

    def on_train_epoch_start(self, trainer, pl_module):
        synchronize(self.device)
        self.times.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module):
        synchronize(self.device)
        self.times.append(time.perf_counter())

    def epoch_durations(self):
        return np.diff(self.times)


def steady_throughput(n_samples, durations):
    """Samples per second over the epochs after the first."""
    steady = durations[1:] if len(durations) > 1 else durations
    return n_samples * len(steady) / float(np.sum(steady))


def first_epoch_extra(durations):
    """How much longer the first epoch took than the median later one."""
    if len(durations) < 2:
        return float("nan")
    return float(durations[0] - np.median(durations[1:]))


def plain_heads(case):
    """The posterior heads nidl builds with ``random_state=SEED``, drawn alike."""
    torch.manual_seed(SEED)
    fc_mu = nn.Linear(case.encoder_out_dim, case.latent_dim)
    fc_logvar = nn.Linear(case.encoder_out_dim, case.latent_dim)
    return fc_mu, fc_logvar


def plain_loss(encoder, fc_mu, fc_logvar, decoder, x, default_dist):
    features = encoder(x)
    mu, logvar = fc_mu(features), fc_logvar(features)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    return plain_loss_terms(x, mu, logvar, decoder(z), default_dist)


def plain_loss_terms(x, mu, logvar, p, default_dist):
    """Reconstruction term plus BETA times the KL term, as the plain loop computes them."""
    n = x.shape[0]
    if isinstance(p, Bernoulli):
        rec = F.binary_cross_entropy_with_logits(p.logits, x, reduction="sum") / n
    elif default_dist == "normal":
        rec = F.mse_loss(p, x, reduction="sum") / n
    else:
        raise ValueError(default_dist)
    kl = -0.5 * torch.sum(1 + logvar - mu.square() - logvar.exp()) / n
    return rec + BETA * kl


def plain_fit(case, X, device, bf16=False):
    """Train the plain loop; return (modules, epoch durations, fit wall time)."""
    start = time.perf_counter()
    encoder = copy.deepcopy(case.encoder).to(device)
    decoder = copy.deepcopy(case.decoder).to(device)
    fc_mu, fc_logvar = (head.to(device) for head in plain_heads(case))
    modules = nn.ModuleList([encoder, decoder, fc_mu, fc_logvar]).train()
    optimizer = torch.optim.AdamW(modules.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    )
    n = len(X)
    times = []
    for _ in range(case.epochs):
        synchronize(device)
        times.append(time.perf_counter())
        order = torch.randperm(n)
        total = torch.zeros((), device=device)
        for first in range(0, n, case.batch_size):
            x = X[order[first : first + case.batch_size]].to(device, non_blocking=True)
            with autocast:
                loss = plain_loss(encoder, fc_mu, fc_logvar, decoder, x, case.default_dist)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(x)
        if not math.isfinite(float(total)):
            raise FloatingPointError("the plain loop's loss is not finite")
    synchronize(device)
    times.append(time.perf_counter())
    return (encoder, fc_mu), np.diff(times), time.perf_counter() - start


def plain_transform(modules, X, batch_size, device):
    encoder, fc_mu = modules
    encoder.eval()
    with torch.inference_mode():
        out = [
            fc_mu(encoder(X[first : first + batch_size].to(device))).cpu()
            for first in range(0, len(X), batch_size)
        ]
    return torch.cat(out).numpy()


def nidl_input(kind, X, batch_size, train):
    if kind == "ndarray":
        return X
    if kind == "tensor":
        return torch.from_numpy(X)
    # A user's loader: shuffled for training, in order for transform.
    return DataLoader(TensorDataset(torch.from_numpy(X)), batch_size=batch_size,
                      shuffle=train)


def make_vae(case, options, device, timer):
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    return VAE(
        copy.deepcopy(case.encoder),
        copy.deepcopy(case.decoder),
        encoder_out_dim=case.encoder_out_dim,
        latent_dim=case.latent_dim,
        beta=BETA,
        default_dist=case.default_dist,
        stochastic_transform=False,
        lr=LR,
        weight_decay=WEIGHT_DECAY,
        random_state=SEED,
        batch_size=case.batch_size,
        max_epochs=case.epochs,
        enable_progress_bar=False,
        accelerator=accelerator,
        devices=1,
        callbacks=[timer],
        **options,
    )


def timed_transform(transform, device, repeats, memory):
    durations = []
    for _ in range(repeats):
        with peak_memory(device, memory):
            synchronize(device)
            start = time.perf_counter()
            transform()
            synchronize(device)
            durations.append(time.perf_counter() - start)
    return float(np.median(durations))


def measure_case(case, sizes, device, log=print):
    """Measure every row of ``case``; return one result dict per row."""
    X = case.X
    X_tensor = torch.from_numpy(X)  # contiguous float32, shared with the ndarray
    n = len(X)
    rows = []
    for kind, label, options, baseline in case.rows:
        missing = missing_options(options)
        rows.append({
            "case": case.name, "input": kind, "options": label, "baseline": baseline,
            "note": f"skipped: this nidl has no {', '.join(missing)} option" if missing else "",
            "fit": [], "fit_ratio": [], "transform": [], "transform_ratio": [],
            "first_epoch": [], "setup": [], "fit_mib": [], "transform_mib": [],
            "plain_fit": [], "plain_transform": [],
            "plain_fit_mib": [], "plain_transform_mib": [],
        })

    def measure_plain(row, repeat):
        """Run the row's plain loop; return its fit and transform throughputs."""
        name = row["baseline"]
        with peak_memory(device, row["plain_fit_mib"]):
            modules, durations, _ = plain_fit(case, X_tensor, device,
                                              bf16=name == "plain-bf16")
        fit = steady_throughput(n, durations)
        seconds = timed_transform(
            lambda: plain_transform(modules, X_tensor, case.batch_size, device),
            device, sizes.transform_repeats, row["plain_transform_mib"],
        )
        row["plain_fit"].append(fit)
        row["plain_transform"].append(n / seconds)
        log(f"  {case.name} {name} repeat {repeat}: fit {fit:,.0f}/s, "
            f"transform {n / seconds:,.0f}/s")
        return fit, n / seconds

    for repeat in range(sizes.repeats):
        for row, (kind, label, options, _) in zip(rows, case.rows):
            if row["note"]:
                continue
            # The machine's speed drifts over seconds: each nidl row is
            # compared with a run of its plain loop taken just before it.
            plain_fit_rate, plain_transform_rate = measure_plain(row, repeat)
            timer = EpochTimer(device)
            vae = make_vae(case, options, device, timer)
            with peak_memory(device, row["fit_mib"]):
                start = time.perf_counter()
                vae.fit(nidl_input(kind, X, case.batch_size, train=True))
                wall = time.perf_counter() - start
            durations = timer.epoch_durations()
            fit = steady_throughput(n, durations)
            transform_input = nidl_input(kind, X, case.batch_size, train=False)
            seconds = timed_transform(
                lambda vae=vae, data=transform_input: vae.transform(data),
                device, sizes.transform_repeats, row["transform_mib"],
            )
            row["fit"].append(fit)
            row["transform"].append(n / seconds)
            row["fit_ratio"].append(fit / plain_fit_rate)
            row["transform_ratio"].append(n / seconds / plain_transform_rate)
            row["first_epoch"].append(first_epoch_extra(durations))
            row["setup"].append(wall - float(np.sum(durations)))
            log(f"  {case.name} {kind} {label} repeat {repeat}: fit {fit:,.0f}/s "
                f"({row['fit_ratio'][-1]:.2f}x), transform {n / seconds:,.0f}/s "
                f"({row['transform_ratio'][-1]:.2f}x)")
            del vae
    results = []
    for row in rows:
        result = {key: row[key] for key in ("case", "input", "options", "baseline", "note")}
        if not row["note"]:
            result.update(
                fit=statistics.median(row["fit"]),
                plain_fit=statistics.median(row["plain_fit"]),
                fit_ratio=statistics.median(row["fit_ratio"]),
                transform=statistics.median(row["transform"]),
                plain_transform=statistics.median(row["plain_transform"]),
                transform_ratio=statistics.median(row["transform_ratio"]),
                first_epoch=row["first_epoch"][0],
                setup=statistics.median(row["setup"]),
                fit_mib=max(row["fit_mib"]),
                plain_fit_mib=max(row["plain_fit_mib"]),
                transform_mib=max(row["transform_mib"]),
                plain_transform_mib=max(row["plain_transform_mib"]),
            )
        results.append(result)
    return results


# ----------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------
COLUMNS = (
    ("case", "case", "{}"),
    ("input", "input", "{}"),
    ("options", "options", "{}"),
    ("fit", "fit/s nidl", "{:,.0f}"),
    ("plain_fit", "fit/s plain", "{:,.0f}"),
    ("fit_ratio", "ratio", "{:.2f}"),
    ("transform", "transform/s nidl", "{:,.0f}"),
    ("plain_transform", "transform/s plain", "{:,.0f}"),
    ("transform_ratio", "ratio", "{:.2f}"),
    ("first_epoch", "1st epoch +s", "{:.2f}"),
    ("setup", "setup s", "{:.2f}"),
    ("fit_mib", "fit MiB nidl", "{:,.0f}"),
    ("plain_fit_mib", "fit MiB plain", "{:,.0f}"),
    ("transform_mib", "transform MiB nidl", "{:,.0f}"),
    ("plain_transform_mib", "transform MiB plain", "{:,.0f}"),
)


def format_table(results):
    """The results as a Markdown table, skipped rows with their note."""
    header = [title for _, title, _ in COLUMNS]
    lines = [header]
    for result in results:
        cells = []
        for key, _, fmt in COLUMNS:
            value = result.get(key)
            if value is None:
                cells.append(result["note"] if key == "fit" else "")
            else:
                cells.append(fmt.format(value))
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |"
            for line in lines]
    text.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(text)


def environment(device):
    lines = [
        (
            f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
            f"python {platform.python_version()}, {platform.machine()}"
        ),
    ]
    if device.type == "cuda":
        lines.append(f"device: {torch.cuda.get_device_name(device)}")
    else:
        lines.append(f"device: cpu ({torch.backends.cpu.get_cpu_capability()}), "
                     f"{os.cpu_count()} logical CPUs")
    memory = ("torch.cuda.max_memory_allocated" if device.type == "cuda"
              else f"peak RSS ({CPU_MEMORY})")
    lines.append(f"memory: {memory} above the start of each call")
    return "\n".join(lines)


def run(sizes=DEFAULT, device="cpu", bf16=False, compile=True, cases=("mlp", "conv3d"),
        log=print):
    """Measure the cases; return one result dict per row of the table.

    ``bf16`` adds the bf16-mixed rows, ``compile=False`` leaves out the
    compile row.
    """
    device = torch.device(device)
    builders = {"mlp": mlp_case, "conv3d": conv_case}
    results = []
    # A cold compiler cache, so that the compile time is what a first run pays.
    cache = None
    if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        cache = tempfile.mkdtemp(prefix="bench_vae_inductor_")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in cases:
                case = builders[name](sizes, bf16=bf16, compile=compile)
                log(f"{name}: {len(case.X)} samples of shape {case.X.shape[1:]}, "
                    f"batch {case.batch_size}, {case.epochs} epochs per fit (first "
                    f"not timed), {sizes.repeats} repeat(s)")
                results.extend(measure_case(case, sizes, device, log=log))
    finally:
        if cache is not None:
            del os.environ["TORCHINDUCTOR_CACHE_DIR"]
            shutil.rmtree(cache, ignore_errors=True)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer samples, epochs and repeats: a smoke test")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--bf16", action="store_true",
                        help="add bf16-mixed rows against a plain loop under autocast")
    parser.add_argument("--no-compile", action="store_true",
                        help="leave out the compile row (no compiler at hand)")
    parser.add_argument("--cases", default="mlp,conv3d",
                        help="comma-separated cases to run (mlp, conv3d)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else DEFAULT
    device = torch.device(args.device)
    print(environment(device), flush=True)
    start = time.perf_counter()
    results = run(sizes, device, bf16=args.bf16, compile=not args.no_compile,
                  cases=args.cases.split(","),
                  log=lambda message: print(message, flush=True))
    print()
    print(format_table(results))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return results


if __name__ == "__main__":
    main()
