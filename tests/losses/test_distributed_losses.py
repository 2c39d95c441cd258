"""The self-supervised losses under torch.distributed: 2 CPU processes, gloo.

Each process holds its share of one global batch (3 and 4 samples: shares
may differ in size) and computes the losses on it; the losses gather the
other process's embeddings. The test compares, with the single-process
losses on the whole batch computed here:

- the loss value, which is that of the global batch in every process;
- the gradient reaching each process's embeddings, ``world_size`` times the
  single-process one (every process back-propagates the global loss, and
  the gather sums what reaches each row), so that
- the average over the processes of an encoder's parameter gradients (what
  DDP computes) equals the single-process gradient on the whole batch,
  which the test checks too (averaged by hand: building a
  DistributedDataParallel module imports torch._dynamo, seconds per process);
- DINO's centre, updated with the mean teacher output of the global batch.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nidl.losses import (
    BarlowTwinsLoss,
    DCLLoss,
    DCLWLoss,
    DINOLoss,
    InfoNCE,
    YAwareInfoNCE,
)

ROOT = Path(__file__).resolve().parents[2]
WORLD_SIZE, N, D = 2, 7, 5
SHARES = [(0, 3), (3, 7)]



def make_losses():
    """The losses under test, built alike in the test and in each process."""
    return {
        "InfoNCE": InfoNCE(temperature=0.5),
        "DCLLoss": DCLLoss(temperature=0.5),
        "DCLWLoss": DCLWLoss(sigma=0.5, temperature=0.5),
        "YAwareInfoNCE": YAwareInfoNCE(bandwidth=4.0, temperature=0.5),
        "BarlowTwinsLoss": BarlowTwinsLoss(lambd=0.1),
    }


def make_data():
    """The global batch: two views, ages, encoder inputs, teacher outputs."""
    generator = torch.Generator().manual_seed(0)
    z1 = torch.randn(N, D, generator=generator, dtype=torch.float64)
    z2 = torch.randn(N, D, generator=generator, dtype=torch.float64)
    ages = torch.linspace(20, 32, N, dtype=torch.float64)
    x = torch.randn(2 * N, 4, generator=generator, dtype=torch.float64)
    teacher = torch.randn(2, N, D, generator=generator, dtype=torch.float64)
    return z1, z2, ages, x, teacher


def compute(losses, z1, z2, ages):
    """Value and embedding gradients of each loss on the given rows."""
    results = {}
    for name, loss in losses.items():
        a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
        value = loss(a, b, ages) if name == "YAwareInfoNCE" else loss(a, b)
        value.backward()
        results[name] = {"value": value.item(), "grad1": a.grad.tolist(),
                         "grad2": b.grad.tolist()}
    return results


def encoder_gradients(encoder, x, n):
    """Back-propagate InfoNCE through an encoder of both views of ``x``.

    ``x`` holds the first views of ``n`` samples, then their second views.
    """
    z = encoder(x)
    InfoNCE(temperature=0.5)(z[:n], z[n:]).backward()


SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    import torch.distributed as dist
    from torch import nn
    sys.path.insert(0, {root!r})
    from nidl.losses import DINOLoss, InfoNCE
    from tests.losses.test_distributed_losses import (
        N, SHARES, compute, encoder_gradients, make_data, make_losses)

    def main():
        rank, init_file, out_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        dist.init_process_group("gloo", init_method="file://" + init_file,
                                rank=rank, world_size=2)
        z1, z2, ages, x, teacher = make_data()
        start, stop = SHARES[rank]
        report = compute(make_losses(), z1[start:stop], z2[start:stop],
                         ages[start:stop])
        # One sample per process: a global batch of two is accepted.
        report["one_each"] = InfoNCE()(z1[rank:rank + 1], z2[rank:rank + 1]).item()
        torch.manual_seed(0)
        encoder = nn.Linear(4, 3).double()
        share = torch.cat([x[:N][start:stop], x[N:][start:stop]])
        encoder_gradients(encoder, share, stop - start)
        # What DDP does to the parameter gradients: average them.
        for parameter in encoder.parameters():
            dist.all_reduce(parameter.grad)
            parameter.grad /= dist.get_world_size()
        report["encoder"] = [p.grad.tolist() for p in encoder.parameters()]
        dino = DINOLoss(output_dim=z1.shape[1], center_momentum=0.5).double()
        dino.update_center(teacher[:, start:stop])
        report["center"] = dino.center.view(-1).tolist()
        with open(f"{{out_dir}}/rank{{rank}}.json", "w") as f:
            json.dump(report, f)
        # PyTorch's advice: a process that used a process group destroys it
        # before it exits (gloo may abort the interpreter's exit otherwise).
        dist.destroy_process_group()

    if __name__ == "__main__":
        main()
    """
).format(root=str(ROOT))


def run_processes(tmp_path):
    script = tmp_path / "losses_distributed.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(rank), str(tmp_path / "init"),
             str(tmp_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for rank in range(WORLD_SIZE)
    ]
    errors = []
    try:
        for process in processes:
            _, stderr = process.communicate(timeout=120)
            if process.returncode != 0:
                errors.append(stderr[-3000:])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert not errors, "\n".join(errors)
    return [json.loads((tmp_path / f"rank{rank}.json").read_text())
            for rank in range(WORLD_SIZE)]


@pytest.mark.slow  # starts two processes
def test_losses_see_the_global_batch_across_processes(tmp_path):
    reports = run_processes(tmp_path)
    z1, z2, ages, x, teacher = make_data()
    reference = compute(make_losses(), z1, z2, ages)
    for rank, ((start, stop), report) in enumerate(zip(SHARES, reports)):
        for name, expected in reference.items():
            got = report[name]
            assert got["value"] == pytest.approx(expected["value"], rel=1e-10), (
                name, rank)
            for grad in ("grad1", "grad2"):
                np.testing.assert_allclose(
                    got[grad], WORLD_SIZE * np.array(expected[grad])[start:stop],
                    rtol=1e-9, atol=1e-12, err_msg=f"{name} {grad} rank {rank}",
                )
        assert report["one_each"] == pytest.approx(
            InfoNCE()(z1[:2], z2[:2]).item(), rel=1e-10
        )
    # Averaged over the processes, as DDP does, the parameter gradients are
    # those of one process on the whole batch.
    torch.manual_seed(0)
    encoder = nn.Linear(4, 3).double()
    encoder_gradients(encoder, x, N)
    for report in reports:
        for got, parameter in zip(report["encoder"], encoder.parameters()):
            np.testing.assert_allclose(got, parameter.grad, rtol=1e-9, atol=1e-12)
    # DINO's centre moves towards the mean teacher output of the global batch.
    dino = DINOLoss(output_dim=D, center_momentum=0.5).double()
    dino.update_center(teacher)
    for report in reports:
        np.testing.assert_allclose(report["center"], dino.center.view(-1),
                                   rtol=1e-12)
