"""
KL warm-up and cyclical annealing of the beta-VAE weight
========================================================

The weight ``beta`` of the KL term of a VAE need not be a constant: a
schedule ``step -> beta`` lets the decoder learn to use the latent code
before the prior pulls the posterior towards it (a linear warm-up), or
restarts that pressure several times during training (cyclical annealing,
Fu et al. 2019). This example trains the same VAE on the digits with a
constant weight, a :class:`~nidl.losses.LinearWarmup` and a
:class:`~nidl.losses.CyclicalSchedule`, records the weight in force and the
two loss terms at every optimiser step, and plots them over training.
"""

# %%
# Data: the 8x8 digits, grey levels scaled to [0, 1].
import matplotlib.pyplot as plt
import numpy as np
import torch
from pytorch_lightning.callbacks import Callback
from sklearn.datasets import load_digits
from torch import nn

from nidl.estimators.autoencoders import VAE
from nidl.losses import CyclicalSchedule, LinearWarmup

X = (load_digits().data / 16.0).astype(np.float32)
batch_size, max_epochs = 128, 40
n_steps = max_epochs * int(np.ceil(len(X) / batch_size))
print(f"{len(X)} images, {n_steps} optimiser steps per fit")

# %%
# The schedules are plain callables of the step: they can be evaluated and
# plotted before any training.
schedules = {
    "constant": 1.0,
    "linear warm-up": LinearWarmup(max_value=1.0, warmup_steps=n_steps // 3),
    "cyclical": CyclicalSchedule(
        max_value=1.0, total_steps=n_steps, n_cycles=4, ratio=0.5
    ),
}
steps = np.arange(n_steps)
fig, ax = plt.subplots(figsize=(6, 2.5))
for name, beta in schedules.items():
    values = [beta(step) if callable(beta) else beta for step in steps]
    ax.plot(steps, values, label=name)
ax.set_xlabel("optimiser step")
ax.set_ylabel("beta")
ax.legend()
fig.tight_layout()


# %%
# A callback records, at every training step, the weight in force at that
# step (the loss evaluates its schedule at the optimiser step it is given)
# and the loss terms the training step returns.
class StepRecorder(Callback):
    def __init__(self):
        self.rows = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        beta, step = pl_module.criterion.beta, trainer.global_step - 1
        self.rows.append(
            {
                "beta": beta(step) if callable(beta) else beta,
                "rec_loss": float(outputs["rec_loss"].detach()),
                "kl_loss": float(outputs["kl_loss"].detach()),
            }
        )


def make_vae(beta):
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
    decoder = nn.Sequential(nn.Linear(8, 128), nn.ReLU(), nn.Linear(128, 64))
    return VAE(
        encoder, decoder, encoder_out_dim=128, latent_dim=8, beta=beta, lr=3e-3,
        batch_size=batch_size, random_state=0, max_epochs=max_epochs,
        callbacks=[StepRecorder()], enable_progress_bar=False,
    )


# %%
# Training: the same model and seed under each schedule; the estimator passes
# its optimiser-step counter to the loss at each training step.
records = {}
for name, beta in schedules.items():
    vae = make_vae(beta).fit(X)
    # The fit trained with a copy of the recorder: callbacks_ holds it.
    (recorder,) = vae.callbacks_
    records[name] = {
        key: np.array([row[key] for row in recorder.rows]) for key in recorder.rows[0]
    }
    print(
        f"{name:>15}: "
        f"final reconstruction {records[name]['rec_loss'][-30:].mean():.2f}, "
        f"KL {records[name]['kl_loss'][-30:].mean():.2f} nats"
    )

# %%
# The weight and the two loss terms over training (a 10-step moving average
# for the losses): each drop of the weight lets the KL term, the information
# the code carries, rise and the reconstruction improve; with these settings
# a constant weight lets most latent dimensions collapse to the prior, and
# the annealed runs end with more information in the code and a lower
# reconstruction error.
def smooth(values, width=10):
    return np.convolve(values, np.ones(width) / width, mode="valid")


fig, axes = plt.subplots(3, 1, figsize=(6, 6), sharex=True)
for name, record in records.items():
    axes[0].plot(record["beta"], label=name)
    axes[1].plot(smooth(record["rec_loss"]), label=name)
    axes[2].plot(smooth(record["kl_loss"]), label=name)
axes[0].set_ylabel("beta in force")
axes[1].set_ylabel("reconstruction\n(nats + const.)")
axes[2].set_ylabel("KL (nats)")
axes[2].set_xlabel("optimiser step")
axes[0].legend()
fig.tight_layout()
plt.show()
