"""Speed of ``transform`` split across DDP processes, against one process.

The model is the 3-D convolutional VAE of ``bench_vae_speed.py`` (its
``conv3d`` case: ``ConvEncoder``/``ConvDecoder`` with widths 16-32-64 on
volumes of 1x48x56x48). Each configuration runs in a fresh Python process:

- ``1 process``: ``VAE(..., devices=1)``, fitted for one epoch on a few
  volumes, then ``transform`` of ``--n-samples`` volumes is timed;
- ``2 processes``: the same with ``strategy="ddp", devices=2`` (the script
  runs in both processes, as DDP scripts do); after the fit, both processes
  call ``transform``, each encodes its share, and the rows are gathered.

Times are medians of ``--repeats`` calls, taken after a barrier so that both
processes start together; each process also reports how many volumes it
encoded. Printed, never asserted. Run from the repository root::

    .venv/bin/python benchmarks/bench_distributed_transform.py [--n-samples 256] [--device cpu|cuda]

On the CPU, torch's threads are shared by the processes: Lightning gives each
DDP process ``cpu_count // processes`` threads unless ``OMP_NUM_THREADS``
says otherwise (printed with the results).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def worker(args):
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    from bench_vae_speed import Sizes, conv_case

    from nidl.estimators.autoencoders import VAE

    case = conv_case(Sizes(conv_samples=args.n_samples))
    accelerator = "gpu" if args.device == "cuda" else "cpu"
    distributed = {"strategy": "ddp"} if args.processes > 1 else {}
    vae = VAE(
        case.encoder, case.decoder, encoder_out_dim=case.encoder_out_dim,
        latent_dim=case.latent_dim, stochastic_transform=False, lr=1e-3,
        random_state=0, batch_size=case.batch_size, max_epochs=1,
        limit_train_batches=2, enable_progress_bar=False, accelerator=accelerator,
        devices=args.processes, **distributed,
    )
    vae.fit(case.X)
    encoded = []
    vae.encoder.register_forward_hook(lambda module, inputs, out: encoded.append(len(inputs[0])))
    group = torch.distributed.is_available() and torch.distributed.is_initialized()
    times = []
    for _ in range(args.repeats):
        if group:
            torch.distributed.barrier()
        encoded.clear()
        start = time.perf_counter()
        Z = vae.transform(case.X)
        times.append(time.perf_counter() - start)
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    result = {
        "rank": rank, "rows": len(Z), "encoded": sum(encoded),
        "seconds": statistics.median(times), "threads": torch.get_num_threads(),
        "checksum": float(np.asarray(Z, dtype=np.float64).sum()),
    }
    Path(args.out, f"{args.processes}-rank{rank}.json").write_text(json.dumps(result))
    if group:  # PyTorch's advice before a process exits
        torch.distributed.destroy_process_group()


def run(args):
    results = {}
    for processes in (1, 2):
        command = [sys.executable, __file__, "--worker", "--processes", str(processes),
                   "--out", args.out, "--n-samples", str(args.n_samples),
                   "--repeats", str(args.repeats), "--device", args.device]
        subprocess.run(command, check=True, capture_output=True, text=True)
        results[processes] = [
            json.loads(path.read_text()) for path in sorted(Path(args.out).glob(f"{processes}-rank*.json"))
        ]
    one = results[1][0]
    print(f"transform of {args.n_samples} volumes 1x48x56x48, device {args.device}, "
          f"median of {args.repeats} calls")
    print("| processes | rank | volumes encoded | rows returned | threads | seconds | volumes/s |")
    print("|---|---|---|---|---|---|---|")
    for processes, reports in results.items():
        for report in reports:
            print(f"| {processes} | {report['rank']} | {report['encoded']} | {report['rows']} "
                  f"| {report['threads']} | {report['seconds']:.3f} "
                  f"| {args.n_samples / report['seconds']:.1f} |")
    slowest = max(report["seconds"] for report in results[2])
    print(f"speed-up of 2 processes over 1: {one['seconds'] / slowest:.2f}x")
    first = results[2][0]["checksum"]
    same = all(r["checksum"] == first for r in results[2])
    print(f"both processes return the same rows: {same}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--out", default=None, help="folder for the per-process results")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        args.out = args.out or out
        run(args)


if __name__ == "__main__":
    main()
