"""Distributed training on the CPU: 2 processes, gloo, DDP strategies.

Each strategy runs in a script of its own (the "ddp" strategy starts the
other process by running the script again, which a test process cannot do).
The script fits on several input kinds, transforms every input kind and
saves, from each process, what the test then checks.
"""

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
N_SAMPLES, BATCH_SIZE, EPOCHS = 41, 8, 2

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np, torch
    from torch.utils.data import DataLoader, TensorDataset
    sys.path.insert(0, {root!r})
    from tests.conftest import make_mlp_vae

    def main():
        strategy, out_dir, fit_kinds = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
        X = np.random.default_rng(0).normal(size=({n}, 8)).astype(np.float32)
        tensor = torch.from_numpy(X)
        kinds = {{
            "ndarray": X, "tensor": tensor, "dataset": TensorDataset(tensor),
            "dataloader": DataLoader(TensorDataset(tensor), batch_size={bs}),
        }}
        report = {{}}
        for fit_kind in fit_kinds:
            vae = make_mlp_vae(stochastic_transform=False, batch_size={bs},
                               max_epochs={epochs}, accelerator="cpu", devices=2,
                               strategy=strategy)
            vae.fit(kinds[fit_kind])
            with torch.no_grad():
                by_hand = vae.fc_mu(vae.encoder(tensor)).numpy()
            outputs = {{}}
            for kind, data in kinds.items():
                Z = vae.transform(data)
                outputs[kind] = (Z if isinstance(Z, np.ndarray) else Z.numpy()).tolist()
            report[fit_kind] = {{
                "n_steps": vae.n_steps_, "by_hand": by_hand.tolist(),
                "outputs": outputs,
                "weights": [p.detach().sum().item() for p in vae.parameters()],
            }}
        rank = os.environ.get("LOCAL_RANK", "0")
        with open(os.path.join(out_dir, f"rank{{rank}}.json"), "w") as f:
            json.dump(report, f)
        # PyTorch's advice: a process that used a process group destroys it
        # before it exits (gloo may abort the interpreter's exit otherwise).
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    if __name__ == "__main__":
        main()
    """
).format(root=str(ROOT), n=N_SAMPLES, bs=BATCH_SIZE, epochs=EPOCHS)


def run_script(strategy, fit_kinds, tmp_path):
    script = tmp_path / "fit_distributed.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), strategy, str(tmp_path), ",".join(fit_kinds)],
        check=False, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done, {
        path.stem: json.loads(path.read_text()) for path in tmp_path.glob("rank*.json")
    }


@pytest.mark.slow  # starts two processes
@pytest.mark.parametrize(
    "strategy, fit_kinds",
    [("ddp", ["ndarray", "tensor", "dataloader"]), ("ddp_spawn", ["ndarray"])],
)
def test_ddp_shards_training_and_transforms_every_sample_in_order(strategy, fit_kinds,
                                                                  tmp_path):
    done, reports = run_script(strategy, fit_kinds, tmp_path)
    # Each process trains on its own half: ceil(41 / 2) = 21 samples, so 3
    # batches of 8 per epoch, where one process would take 6.
    steps_per_epoch = math.ceil(math.ceil(N_SAMPLES / 2) / BATCH_SIZE)
    ranks = sorted(reports)
    # "ddp" runs the script in both processes; "ddp_spawn" returns to one.
    assert ranks == (["rank0", "rank1"] if strategy == "ddp" else ["rank0"])
    for rank in ranks:
        for fit_kind in fit_kinds:
            result = reports[rank][fit_kind]
            assert result["n_steps"] == EPOCHS * steps_per_epoch
            by_hand = np.array(result["by_hand"])
            for kind, Z in result["outputs"].items():
                Z = np.array(Z)
                assert Z.shape == (N_SAMPLES, 2), kind
                np.testing.assert_allclose(Z, by_hand, rtol=1e-5, atol=1e-6,
                                           err_msg=kind)
    if strategy == "ddp":
        # Gradients are averaged across processes: both end with the same model.
        for fit_kind in fit_kinds:
            np.testing.assert_allclose(
                reports["rank0"][fit_kind]["weights"],
                reports["rank1"][fit_kind]["weights"], rtol=1e-6
            )
    # A distributed fit is as quiet as a single-process one.
    assert "GPU available" not in done.stdout + done.stderr
    assert "distributed processes registered" not in done.stdout + done.stderr


SPLIT_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np, torch
    from torch.utils.data import DataLoader, TensorDataset
    sys.path.insert(0, {root!r})
    from tests.conftest import make_mlp_vae

    def main():
        out_dir, devices = sys.argv[1], int(sys.argv[2])
        X = np.random.default_rng(1).normal(size=({n}, 8)).astype(np.float32)
        y = np.arange({n}) * 10
        tensor = torch.from_numpy(X)
        vae = make_mlp_vae(stochastic_transform=False, batch_size=16, max_epochs=1,
                           accelerator="cpu", devices=devices,
                           **({{"strategy": "ddp"}} if devices > 1 else {{}}))
        vae.fit(X)
        encoded = []
        vae.encoder.register_forward_hook(
            lambda module, args, out: encoded.append(len(args[0]))
        )
        kinds = {{
            "ndarray": X, "tensor": tensor, "dataset": TensorDataset(tensor),
            "dataloader": DataLoader(TensorDataset(tensor), batch_size=7),
        }}
        report = {{"encoded": {{}}, "outputs": {{}}}}
        for kind, data in kinds.items():
            encoded.clear()
            Z = vae.transform(data)
            report["encoded"][kind] = sum(encoded)
            report["outputs"][kind] = np.asarray(Z).tolist()
        features, targets = vae.transform_with_targets(
            DataLoader(TensorDataset(tensor, torch.from_numpy(y)), batch_size=9))
        report["features"], report["targets"] = features.tolist(), targets.tolist()
        codes = np.linspace(-1, 1, 2 * {n}).reshape({n}, 2).astype(np.float32)
        report["decoded"] = vae.inverse_transform(codes).tolist()
        report["score"] = vae.score(X)
        with torch.no_grad():
            report["by_hand"] = vae.fc_mu(vae.encoder(tensor)).tolist()
            report["decoded_by_hand"] = vae.decoder(torch.from_numpy(codes)).tolist()
        rank = os.environ.get("LOCAL_RANK", "0")
        with open(os.path.join(out_dir, f"rank{{rank}}.json"), "w") as f:
            json.dump(report, f)
        # PyTorch's advice: a process that used a process group destroys it
        # before it exits (gloo may abort the interpreter's exit otherwise).
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    if __name__ == "__main__":
        main()
    """
).format(root=str(ROOT), n=101)


@pytest.mark.slow  # starts two processes
def test_ddp_transform_splits_the_samples_and_returns_every_row_in_order(tmp_path):
    script = tmp_path / "transform_distributed.py"
    script.write_text(SPLIT_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "2"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reports = {path.stem: json.loads(path.read_text())
               for path in tmp_path.glob("rank*.json")}
    assert sorted(reports) == ["rank0", "rank1"]
    for report in reports.values():
        by_hand = np.array(report["by_hand"])
        for kind, Z in report["outputs"].items():
            # Each process encodes its own share only: 50 or 51 of 101.
            assert report["encoded"][kind] <= 51, kind
            np.testing.assert_allclose(np.array(Z), by_hand, rtol=1e-5, atol=1e-6,
                                       err_msg=kind)
        np.testing.assert_allclose(np.array(report["features"]), by_hand, rtol=1e-5,
                                   atol=1e-6)
        assert report["targets"] == list(range(0, 1010, 10))
        np.testing.assert_allclose(
            np.array(report["decoded"]), np.array(report["decoded_by_hand"]), rtol=1e-5,
            atol=1e-6
        )
    # The shares add up to every sample once.
    for kind in reports["rank0"]["encoded"]:
        encoded = [reports[rank]["encoded"][kind] for rank in ("rank0", "rank1")]
        assert sum(encoded) == 101
    assert reports["rank0"]["score"] == reports["rank1"]["score"]
    # Both processes hold the same model: the rows equal one process's.
    np.testing.assert_allclose(
        np.array(reports["rank0"]["by_hand"]), np.array(reports["rank1"]["by_hand"]),
        rtol=1e-6
    )
