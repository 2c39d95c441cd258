"""Training a 3-D convolutional VAE from NIfTI files: the cache against memory.

A cohort of ``make_brain_cohort`` subjects is written as ``.nii.gz`` files
with a CSV table of their paths and ages, then the same small 3-D
convolutional VAE (``nidl.nn.ConvEncoder``/``ConvDecoder``) is trained on it,
from the same initial weights, in three ways, one process:

- (a) ``files + cache``: an ``ImageDataFrameDataset`` over the files whose
  transform crops each volume to the bounding box of the MNI152 brain mask
  (a deterministic transform, so the on-disk cache holds its output), with
  ``cache_dir`` in an empty folder: the first epoch decodes every file and
  writes the cache, the later ones read the memory-mapped entries;
- (b) ``tensor``: the same cropped volumes held in one float32 tensor, passed
  to ``fit`` (nidl batches a tensor by slicing);
- (c) ``naive Dataset``: a per-item Dataset that loads each file with
  nibabel and crops it, at every read, without a cache.

Printed, never asserted:

- volumes per second from the second epoch on (epoch times are recorded by a
  callback, so the Trainer's set-up is not in them), and (a)/(b), the bar
  being >= 0.9;
- the first epoch's extra time in (a) against the time to decode every file
  once (nibabel + crop, no training), the bar being that the first is at
  most the second. The extra time is the first epoch minus the median later
  epoch, plus what (a) spends in ``fit`` before its first epoch (``fit``
  reads the first batch to check the data: its files are decoded and cached
  there) minus what (b) spends there;
- the number of NIfTI files opened in each epoch (``nibabel.load`` calls,
  counted in this process; with ``--num-workers`` > 0 the workers' reads are
  not seen and the column is empty);
- the peak resident memory of each fit above the resident memory at its
  start, and that of (a) against the cohort's float32 size on the full grid,
  the bar being < 1/4. On Linux, the kernel's peak (``VmHWM`` of
  ``/proc/self/status``, reset through ``/proc/self/clear_refs`` before each
  fit); elsewhere a thread samples the resident size every 5 ms. (a) runs
  first, before the volumes of (b) are ever held in memory.

A warm-up fit of one epoch on two volumes runs first, so that the one-off
costs of a process's first fit are in no row.

The cohort is written in chunks of 25 subjects (``make_brain_cohort`` with
``random_state`` = seed + chunk number), each file written to a temporary
name and renamed, the table last: a folder whose table exists is complete and
is reused by later runs.

Run from the repository root (the full size takes about half an hour on 2
CPU cores, a third of it writing the cohort the first time)::

    .venv/bin/python benchmarks/bench_nifti_cache.py [--n-subjects 300] \\
        [--resolution 2] [--epochs 3] [--out-dir DIR] [--num-workers 0]

A smoke test, under a minute::

    .venv/bin/python benchmarks/bench_nifti_cache.py --n-subjects 6 --resolution 4 --epochs 2
"""

import argparse
import copy
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager

import nibabel
import numpy as np
import pandas as pd
import torch
from nilearn.datasets import load_mni152_brain_mask
from pytorch_lightning import Callback
from torch.utils.data import DataLoader, Dataset

from nidl.datasets import ImageDataFrameDataset, default_image_loader, make_brain_cohort
from nidl.estimators.autoencoders import VAE
from nidl.maskers import NiftiVolumeMasker
from nidl.nn import ConvDecoder, ConvEncoder
from nidl.transforms import VolumeTransform

# The memory probes of the speed benchmark, beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_vae_speed import can_reset_peak_rss, status_kib

SEED = 0
CHUNK = 25
WIDTHS = (8, 16, 32)
FEATURES = 128
LATENT_DIM = 8
BATCH_SIZE = 8
TABLE = "participants.csv"


# ----------------------------------------------------------------------
# The cohort on disk
# ----------------------------------------------------------------------
def write_cohort(out_dir, n_subjects, resolution, log=print):
    """Write the cohort's ``.nii.gz`` files and table, or reuse them; return the table path."""
    table_path = os.path.join(out_dir, TABLE)
    if os.path.exists(table_path):
        table = pd.read_csv(table_path)
        if len(table) == n_subjects and all(
            os.path.exists(os.path.join(out_dir, p)) for p in table.image_path
        ):
            log(f"reusing the cohort in {out_dir}")
            return table_path
        raise SystemExit(
            f"{out_dir} holds another cohort ({len(table)} subjects in {TABLE}); "
            "pass another --out-dir or empty this one."
        )
    os.makedirs(out_dir, exist_ok=True)
    start = time.perf_counter()
    rows = []
    for first in range(0, n_subjects, CHUNK):
        size = min(CHUNK, n_subjects - first)
        images, factors = make_brain_cohort(
            size, resolution=resolution, random_state=SEED + first // CHUNK
        )
        for offset, (image, factor) in enumerate(zip(images, factors.itertuples())):
            name = f"sub-{first + offset:04d}.nii.gz"
            temporary = os.path.join(out_dir, f".{name}.tmp.nii.gz")
            image.to_filename(temporary)
            os.replace(temporary, os.path.join(out_dir, name))
            rows.append({"image_path": name, "age": round(factor.age, 2),
                         "sex": factor.sex, "site": factor.site})
        del images
        log(f"  wrote {first + size}/{n_subjects} subjects "
            f"({time.perf_counter() - start:.0f} s)")
    temporary = table_path + ".tmp"
    pd.DataFrame(rows).to_csv(temporary, index=False)
    os.replace(temporary, table_path)
    return table_path


class CropToBox(VolumeTransform):
    """Keep the voxels of a box: deterministic, so the cache holds its output.

    Parameters
    ----------
    box : tuple of slice
        One slice per spatial axis, e.g. a masker's ``bounding_box_``.
    """

    def __init__(self, box):
        super().__init__()
        self.box = tuple(box)

    def apply_transform(self, data):
        return data[(..., *self.box)]


def load_with_channel(path):
    """The default loader, with the channel axis first that ConvEncoder takes."""
    return default_image_loader(path)[np.newaxis]


class NaiveNiftiDataset(Dataset):
    """What a user writes by hand: load every item with nibabel, crop it."""

    def __init__(self, paths, box):
        self.paths = list(paths)
        self.box = tuple(box)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        volume = nibabel.load(self.paths[index]).get_fdata(dtype=np.float32)
        return torch.from_numpy(np.ascontiguousarray(volume[self.box][np.newaxis]))


# ----------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------
class LoadCounter:
    """Count the calls of ``nibabel.load`` in this process."""

    def __init__(self):
        self.count = 0
        self._load = None

    def __enter__(self):
        self._load = nibabel.load

        def load(*args, **kwargs):
            self.count += 1
            return self._load(*args, **kwargs)

        nibabel.load = load
        return self

    def __exit__(self, *exc):
        nibabel.load = self._load


class EpochRecorder(Callback):
    """Record the time and the number of NIfTI files opened at each epoch's start and at the end.

    nidl trains with copies of the callbacks it is given; this one is its
    own copy, so that its records are read after ``fit``.
    """

    def __init__(self, counter):
        self.counter = counter
        # The first record is taken when fit is called: fit reads the first
        # batch to check the data before the first epoch starts.
        self.times, self.loads = [time.perf_counter()], [counter.count]

    def __deepcopy__(self, memo):
        return self

    def on_train_epoch_start(self, trainer, pl_module):
        self.times.append(time.perf_counter())
        self.loads.append(self.counter.count)

    def on_train_end(self, trainer, pl_module):
        self.times.append(time.perf_counter())
        self.loads.append(self.counter.count)


def _current_rss_kib():
    if sys.platform.startswith("linux"):
        return status_kib("VmRSS")
    import psutil  # pragma: no cover - other systems

    return psutil.Process().memory_info().rss // 1024


MEMORY_METHOD = (
    "VmHWM reset by clear_refs" if can_reset_peak_rss() else "VmRSS sampled every 5 ms"
)


@contextmanager
def peak_rss_growth(record):
    """Set ``record["mib"]``: peak resident memory of the block above its start."""
    if MEMORY_METHOD.startswith("VmHWM"):
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        start = status_kib("VmRSS")
        yield
        record["mib"] = max(status_kib("VmHWM") - start, 0) / 1024
        return
    start = peak = _current_rss_kib()
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.wait(0.005):
            peak = max(peak, _current_rss_kib())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        peak = max(peak, _current_rss_kib())
        record["mib"] = (peak - start) / 1024


def make_vae(modules, epochs, recorder):
    encoder, decoder = copy.deepcopy(modules)
    return VAE(
        encoder,
        decoder,
        encoder_out_dim=FEATURES,
        latent_dim=LATENT_DIM,
        lr=1e-3,
        batch_size=BATCH_SIZE,
        random_state=SEED,
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[recorder],
    )


def timed_fit(name, modules, data, epochs, counter, n_volumes, log):
    recorder = EpochRecorder(counter)
    vae = make_vae(modules, epochs, recorder)
    memory = {}
    with peak_rss_growth(memory):
        vae.fit(data)
    before, *durations = np.diff(recorder.times)
    loads = np.diff(recorder.loads)
    steady = durations[1:]
    result = {
        "name": name,
        "throughput": n_volumes * len(steady) / float(np.sum(steady)),
        "before": float(before),
        "first": float(durations[0]),
        "later": float(np.median(steady)),
        "loads": [int(n) for n in loads],
        "mib": memory["mib"],
    }
    log(f"  {name}: {before:.1f} s before epoch 1, epochs "
        f"{', '.join(f'{d:.1f}' for d in durations)} s, NIfTI files opened before "
        f"epoch 1 and in each epoch {result['loads']}, peak RSS growth "
        f"{result['mib']:.0f} MiB")
    return result


def run(n_subjects=300, resolution=2, epochs=3, out_dir=None, num_workers=0, log=print):
    """Write (or reuse) the cohort, measure the three trainings; return the results."""
    if epochs < 2:
        raise SystemExit("--epochs must be at least 2: the first epoch is not timed.")
    torch.set_num_threads(2)
    if out_dir is None:
        out_dir = os.path.join(
            tempfile.gettempdir(), f"nidl_bench_cohort_{n_subjects}_{resolution}mm"
        )
    table_path = write_cohort(out_dir, n_subjects, resolution, log=log)
    table = pd.read_csv(table_path)
    paths = [os.path.join(out_dir, p) for p in table.image_path]

    masker = NiftiVolumeMasker(load_mni152_brain_mask(resolution=resolution)).fit()
    crop = CropToBox(masker.bounding_box_)
    box_shape = masker.box_shape_
    grid_bytes = 4 * int(np.prod(masker.grid_shape_))
    box_bytes = 4 * int(np.prod(box_shape))
    info = {
        "n_subjects": n_subjects,
        "resolution": resolution,
        "grid_shape": masker.grid_shape_,
        "box_shape": box_shape,
        "files_bytes": sum(os.path.getsize(p) for p in paths),
        "grid_bytes": grid_bytes * n_subjects,
        "box_bytes": box_bytes * n_subjects,
        "epochs": epochs,
        "num_workers": num_workers,
        "out_dir": out_dir,
    }

    torch.manual_seed(SEED)
    modules = (
        ConvEncoder(box_shape, in_channels=1, widths=WIDTHS, out_features=FEATURES),
        ConvDecoder(LATENT_DIM, box_shape, out_channels=1, widths=WIDTHS),
    )
    cache_dir = os.path.join(out_dir, "cache")
    shutil.rmtree(cache_dir, ignore_errors=True)  # a cold cache: the first epoch fills it
    loader_options = {
        "batch_size": BATCH_SIZE,
        "shuffle": True,
        "num_workers": num_workers,
        "persistent_workers": num_workers > 0,
    }

    with LoadCounter() as counter, warnings.catch_warnings():
        # Lightning's advice on num_workers and on the logger.
        warnings.simplefilter("ignore")
        # A warm-up fit on two volumes, so that the one-off costs of a
        # process's first fit (first calls of the kernels, lazy imports) are in
        # no row.
        warm_up = torch.from_numpy(np.stack(
            [crop(nibabel.load(p).get_fdata(dtype=np.float32)[np.newaxis]) for p in paths[:2]]
        ))
        make_vae(modules, 1, EpochRecorder(counter)).fit(warm_up)
        del warm_up

        start = time.perf_counter()
        for path in paths:
            crop(nibabel.load(path).get_fdata(dtype=np.float32)[np.newaxis])
        info["decode_once"] = time.perf_counter() - start
        log(f"decoding every file once (nibabel + crop): {info['decode_once']:.1f} s")

        dataset = ImageDataFrameDataset(
            out_dir, table_path, label_cols="age", transform=crop,
            image_loader=load_with_channel, cache_dir=cache_dir,
        )
        counter.count = 0  # the dataset read the headers at construction
        cached = timed_fit(
            "(a) files + cache", modules, DataLoader(dataset, **loader_options),
            epochs, counter, n_subjects, log,
        )
        info["cache_entries"] = len([f for f in os.listdir(cache_dir) if f.endswith(".npy")])

        volumes = torch.from_numpy(np.stack([dataset[i][0] for i in range(len(dataset))]))
        in_memory = timed_fit(
            "(b) tensor", modules, volumes, epochs, counter, n_subjects, log
        )
        del volumes

        naive = timed_fit(
            "(c) naive Dataset", modules,
            DataLoader(NaiveNiftiDataset(paths, masker.bounding_box_), **loader_options),
            epochs, counter, n_subjects, log,
        )
    if num_workers > 0:
        for result in (cached, in_memory, naive):
            result["loads"] = None
    return info, [cached, in_memory, naive]


def report(info, results):
    """The results as text: setting, table, and the bar."""
    cached, in_memory, naive = results
    mb = 1e6
    lines = [
        (f"torch {torch.__version__}, {torch.get_num_threads()} threads, python "
        f"{platform.python_version()}, {os.cpu_count()} logical CPUs, "
        f"DataLoader num_workers={info['num_workers']}"),
        (f"cohort: {info['n_subjects']} subjects at {info['resolution']} mm, grid "
        f"{'x'.join(map(str, info['grid_shape']))}, {info['files_bytes'] / mb:,.0f} MB "
        f"of .nii.gz in {info['out_dir']}"),
        (f"float32 size: {info['grid_bytes'] / mb:,.0f} MB on the full grid, "
        f"{info['box_bytes'] / mb:,.0f} MB cropped to the brain's box "
        f"{'x'.join(map(str, info['box_shape']))}"),
        (f"model: ConvEncoder/ConvDecoder widths {WIDTHS}, {FEATURES} features, "
        f"{LATENT_DIM} latent dimensions, batch {BATCH_SIZE}, {info['epochs']} epochs "
        "per fit"),
        f"memory: peak RSS of each fit above its start ({MEMORY_METHOD})",
        "",
    ]
    header = ("condition", "vol/s (epoch 2+)", "before epoch 1 s", "epoch 1 s",
              "later epoch s", "NIfTI opened: before, epoch 1, 2...", "peak RSS +MiB")
    rows = [header]
    for result in results:
        loads = "n/a (workers)" if result["loads"] is None else ", ".join(
            map(str, result["loads"]))
        rows.append((result["name"], f"{result['throughput']:.2f}",
                     f"{result['before']:.1f}", f"{result['first']:.1f}", f"{result['later']:.1f}", loads,
                     f"{result['mib']:,.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for index, row in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
        if index == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    # What the cold cache adds: the first epoch over a later one, and the
    # time before it (fit reads the first batch to check it) over that of (b).
    extra = cached["first"] - cached["later"] + cached["before"] - in_memory["before"]
    memory_fraction = cached["mib"] * 2**20 / info["grid_bytes"]
    lines += [
        "",
        (f"(a)/(b) throughput from epoch 2: "
        f"{cached['throughput'] / in_memory['throughput']:.2f} (bar: >= 0.9); "
        f"(c)/(b): {naive['throughput'] / in_memory['throughput']:.2f}"),
        ("(a) extra time of the first epoch (epoch 1 - later epoch + before epoch 1 "
        f"- (b)'s before epoch 1): {extra:.1f} s; decoding every file once: "
        f"{info['decode_once']:.1f} s; ratio {extra / info['decode_once']:.2f} "
        "(bar: <= 1)"),
        (f"(a) peak RSS growth: {cached['mib']:,.0f} MiB = {memory_fraction:.3f} of the "
        f"cohort's float32 size on the full grid (bar: < 0.25)"),
        f"cache: {info['cache_entries']} entries after the fit",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-subjects", type=int, default=300)
    parser.add_argument("--resolution", type=int, default=2, choices=(1, 2, 3, 4))
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs per fit, the first not timed (default 3)")
    parser.add_argument("--out-dir", default=None,
                        help="folder of the cohort, reused if complete (default: "
                        "nidl_bench_cohort_<n>_<res>mm in the temporary folder)")
    parser.add_argument("--num-workers", type=int, default=0,
                        help="DataLoader workers of (a) and (c) (default 0)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    info, results = run(args.n_subjects, args.resolution, args.epochs, args.out_dir,
                        args.num_workers, log=lambda message: print(message, flush=True))
    print()
    print(report(info, results))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return info, results


if __name__ == "__main__":
    main()
