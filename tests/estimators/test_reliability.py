"""Training failures, checkpoints, resuming and early stopping."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn

from nidl.estimators.autoencoders import VAE
from tests.conftest import make_mlp_vae


class FailingEncoder(nn.Module):
    """An encoder whose output becomes NaN from its ``fail_at``-th training
    batch, or for inputs beyond 1e6."""

    def __init__(self, fail_at):
        super().__init__()
        self.layer = nn.Linear(8, 16)
        self.fail_at = fail_at
        self.calls = 0

    def forward(self, x):
        out = torch.relu(self.layer(x))
        if self.training:
            self.calls += 1
            if self.calls > self.fail_at or (x.abs() > 1e6).any():
                out = out * float("nan")
        return out


def failing_vae(fail_at, **params):
    decoder = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 8))
    return VAE(FailingEncoder(fail_at), decoder, 16, 2, random_state=0, batch_size=10,
               stochastic_transform=False, max_epochs=3, enable_progress_bar=False,
               **params)


def test_non_finite_loss_stops_training_naming_step_and_term(small_data):
    vae = failing_vae(fail_at=5)
    with pytest.raises(FloatingPointError,
                       match=r"'loss' is not finite at step 5 \(epoch 1, batch 1\)"):
        vae.fit(small_data)
    # The failed first fit leaves the estimator unfitted, its modules as given.
    assert not vae.__sklearn_is_fitted__()
    assert vae.encoder.calls == 0


def test_failed_fit_leaves_a_fitted_estimator_exactly_as_it_was(small_data):
    vae = failing_vae(fail_at=10**9).fit(small_data)
    before = vae.transform(small_data)
    weights = {k: v.clone() for k, v in vae.state_dict().items()
               if isinstance(v, torch.Tensor)}
    extreme = small_data.copy()
    extreme[25, 0] = 1e7
    with pytest.raises(FloatingPointError, match="not finite"):
        vae.fit(extreme)
    np.testing.assert_array_equal(vae.transform(small_data), before)
    for name, value in weights.items():
        torch.testing.assert_close(vae.state_dict()[name], value, rtol=0, atol=0)


def test_checkpoint_gives_back_a_fitted_estimator(small_data, tmp_path):
    vae = make_mlp_vae(
        stochastic_transform=False, max_epochs=3,
        callbacks=[ModelCheckpoint(dirpath=tmp_path, save_last=True)],
    ).fit(small_data)
    path = tmp_path / "last.ckpt"
    # Lightning's way: the modules are passed, the other parameters are read.
    loaded = VAE.load_from_checkpoint(
        path, encoder=nn.Sequential(nn.Linear(8, 16), nn.ReLU()),
        decoder=nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 8)),
    )
    assert loaded.__sklearn_is_fitted__() and loaded.n_steps_ == vae.n_steps_
    assert loaded.latent_dim == 2 and loaded.get_params()["max_epochs"] == 3
    np.testing.assert_array_equal(loaded.transform(small_data),
                                  vae.transform(small_data))
    # nidl's way: into an estimator built like the original.
    again = make_mlp_vae(stochastic_transform=False).load_checkpoint(path)
    np.testing.assert_array_equal(again.transform(small_data),
                                  vae.transform(small_data))


def test_early_stopping_then_best_weights(small_data, tmp_path):
    vae = make_mlp_vae(
        stochastic_transform=False, max_epochs=30, lr=0.05,
        callbacks=[
            EarlyStopping(monitor="val/loss", patience=2),
            ModelCheckpoint(dirpath=tmp_path, monitor="val/loss"),
        ],
    )
    vae.fit(small_data[:30], val_dataloader=small_data[30:])
    # The fit's copies of the callbacks, as it left them.
    checkpoint = vae.callbacks_[1]
    assert vae.get_params()["callbacks"][1].best_model_path == ""
    assert vae.n_epochs_ < 30  # stopped early
    vae.load_checkpoint(checkpoint.best_model_path)
    with torch.no_grad():
        x = torch.from_numpy(small_data[30:])
        q = vae.encode(x)
        val_loss = vae.criterion(x, vae.decoder(q.loc), q)["loss"]
    # The restored weights are those of the best epoch, not of the last one.
    last_val_loss = vae.history_["val/loss"][-1]
    assert float(checkpoint.best_model_score) <= last_val_loss
    assert np.isfinite(float(val_loss))


RESUME_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np, torch
    from pytorch_lightning.callbacks import Callback, ModelCheckpoint
    from tests.conftest import make_mlp_vae

    class KillMidEpoch(Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if trainer.current_epoch == 2 and batch_idx == 1:
                os.kill(os.getpid(), signal.SIGKILL)

    X = np.load(sys.argv[1])
    vae = make_mlp_vae(max_epochs=4, callbacks=[
        ModelCheckpoint(dirpath=sys.argv[2], save_last=True), KillMidEpoch()])
    vae.fit(X)
    """
)


@pytest.mark.slow  # trains in a fresh Python process
def test_resume_after_a_kill_ends_where_an_uninterrupted_fit_ends(
    small_data, tmp_path
):
    np.save(tmp_path / "X.npy", small_data)
    killed = subprocess.run(
        [sys.executable, "-c", RESUME_SCRIPT, str(tmp_path / "X.npy"), str(tmp_path)],
        check=False, capture_output=True, text=True,
    )
    assert killed.returncode == -9, killed.stderr
    resumed = make_mlp_vae(max_epochs=4).fit(small_data,
                                             ckpt_path=tmp_path / "last.ckpt")
    uninterrupted = make_mlp_vae(max_epochs=4).fit(small_data)
    assert resumed.n_steps_ == uninterrupted.n_steps_ == 4 * 3
    for (name, a), b in zip(resumed.state_dict().items(),
                            uninterrupted.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6, msg=name)
