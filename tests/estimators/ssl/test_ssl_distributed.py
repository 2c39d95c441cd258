"""The self-supervised estimators under DDP on the CPU: 2 processes, gloo.

A script fits each estimator with ``strategy="ddp_spawn"`` on 2 processes
and transforms the data; the test checks that training was sharded (each
process takes half of the samples) and that ``transform`` returns every
sample's features, in input order, equal to the encoder's by hand.
"""

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
# 42 samples: a last batch of one sample (which the contrastive estimators
# drop, as it has nothing to be contrasted with) would not occur.
N_SAMPLES, BATCH_SIZE, EPOCHS = 42, 8, 2

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, torch
    from torch import nn
    sys.path.insert(0, {root!r})
    from nidl.backbones.volume import VisionTransformer3D
    from nidl.estimators.ssl import (
        DINO, IJEPA, SimCLR, YAwareContrastiveLearning,
    )

    def main():
        out = sys.argv[1]
        rng = np.random.default_rng(0)
        X = rng.normal(size=({n}, 8)).astype(np.float32)
        y = rng.uniform(20, 80, size={n}).astype(np.float32)
        volumes = rng.normal(size=({n}, 1, 4, 4, 4)).astype(np.float32)
        common = dict(lr_scheduler="none", batch_size={bs}, max_epochs={epochs},
                      random_state=0, accelerator="cpu", devices=2,
                      strategy="ddp_spawn", enable_progress_bar=False,
                      logger=False, enable_checkpointing=False)
        head = dict(proj_input_dim=4, proj_hidden_dim=8, proj_output_dim=3)
        report = {{}}
        torch.manual_seed(0)
        models = {{
            "SimCLR": (SimCLR(nn.Linear(8, 4), **head, **common), X, None),
            "y-Aware": (YAwareContrastiveLearning(
                nn.Linear(8, 4), bandwidth=10.0, **head, **common), X, y),
            "DINO": (DINO(nn.Linear(8, 4), proj_input_dim=4, proj_hidden_dim=8,
                          proj_bottleneck_dim=4, proj_output_dim=16,
                          num_local_crops=0, **common), X, None),
            "IJEPA": (IJEPA(VisionTransformer3D(img_size=4, patch_size=1,
                                                embed_dim=8, depth=1, num_heads=2),
                            predictor_embed_dim=8, predictor_depth_pred=1,
                            min_keep=1, **common), volumes, None),
        }}
        for name, (model, data, labels) in models.items():
            model.fit(data) if labels is None else model.fit(data, labels)
            Z = np.asarray(model.transform(data))
            with torch.no_grad():
                batch = torch.from_numpy(data)
                by_hand = model.transform_step(batch, 0).numpy()
            report[name] = {{"n_steps": model.n_steps_, "Z": Z.tolist(),
                            "by_hand": by_hand.tolist(),
                            "loss": model.history_["train/loss"]}}
        with open(out, "w") as f:
            json.dump(report, f)

    if __name__ == "__main__":
        main()
    """
).format(root=str(ROOT), n=N_SAMPLES, bs=BATCH_SIZE, epochs=EPOCHS)


@pytest.mark.slow  # spawns two processes per estimator
def test_ssl_estimators_train_sharded_and_transform_in_order(tmp_path):
    script = tmp_path / "fit_ssl_distributed.py"
    script.write_text(SCRIPT)
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(script), str(out)],
        check=False, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    # Each process trains on its own half of the samples, 21, that is 3
    # batches of 8 per epoch (one process alone would take 6).
    steps_per_epoch = math.ceil(math.ceil(N_SAMPLES / 2) / BATCH_SIZE)
    assert sorted(report) == ["DINO", "IJEPA", "SimCLR", "y-Aware"]
    for name, result in report.items():
        assert result["n_steps"] == EPOCHS * steps_per_epoch, name
        assert np.isfinite(result["loss"]).all(), name
        Z, by_hand = np.array(result["Z"]), np.array(result["by_hand"])
        assert Z.shape[0] == N_SAMPLES, name
        np.testing.assert_allclose(Z, by_hand, rtol=1e-5, atol=1e-5, err_msg=name)
