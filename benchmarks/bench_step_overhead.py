"""Where a small model's training step goes: the Trainer's fixed cost, the
optimiser, and what ``torch.compile`` changes.

Two measurements, printed, never asserted:

1. The fixed cost of a Lightning step. A ``Linear(1, 1)`` model is trained
   on 500 batches of 128 by a plain loop and by a ``Trainer`` (the options
   nidl uses: no logger, no checkpoint, no progress bar), with Lightning's
   automatic optimisation and with the optimiser stepped in
   ``training_step``. The model costs almost nothing, so the difference is
   what the Trainer adds to every step, whatever the model.
2. The step of the MLP VAE of ``bench_vae_speed.py`` (64-256-10-256-64,
   batches of 128, Bernoulli likelihood) in a plain loop: PyTorch's default
   AdamW or the fused one, eager or compiled (the encoder and the decoder
   apart, the forward pass as one graph, or the forward pass and the loss as
   one graph).

Each figure is the fastest of several epochs (per step), the median over
``--repeats`` runs; the machine's speed drifts, so compare figures of the
same run. Run from the repository root::

    .venv/bin/python benchmarks/bench_step_overhead.py [--repeats 3]
"""

import argparse
import copy
import logging
import statistics
import time
import warnings

import pytorch_lightning as pl
import torch
from bench_vae_speed import DEFAULT, mlp_case, plain_heads, plain_loss_terms
from torch.distributions import Bernoulli

from nidl.utils import make_loader

N_BATCHES, BATCH = 500, 128


class EpochStarts(pl.Callback):
    def __init__(self):
        self.times = []

    def on_train_epoch_start(self, trainer, pl_module):
        self.times.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module):
        self.times.append(time.perf_counter())


class TinyModule(pl.LightningModule):
    def __init__(self, manual):
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)
        self.automatic_optimization = not manual

    def training_step(self, x, batch_idx):
        loss = self.linear(x).sum()
        if not self.automatic_optimization:
            optimizer = self.optimizers()
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), fused=True)


def tiny_plain_us(X, n_batches=N_BATCHES):
    linear = torch.nn.Linear(1, 1)
    optimizer = torch.optim.AdamW(linear.parameters(), fused=True)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for i in range(n_batches):
            loss = linear(X[i * BATCH : (i + 1) * BATCH]).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        best = min(best, time.perf_counter() - start)
    return best / n_batches * 1e6


def tiny_trainer_us(X, manual):
    timer = EpochStarts()
    trainer = pl.Trainer(max_epochs=4, logger=False, enable_checkpointing=False,
                         enable_model_summary=False, enable_progress_bar=False,
                         accelerator="cpu", callbacks=[timer])
    trainer.fit(TinyModule(manual), make_loader(X, batch_size=BATCH))
    durations = [b - a for a, b in zip(timer.times, timer.times[1:])][1:]
    return min(durations) / (len(X) // BATCH) * 1e6


def mlp_step_ms(case, variant, fused):
    encoder, decoder = copy.deepcopy(case.encoder), copy.deepcopy(case.decoder)
    fc_mu, fc_logvar = plain_heads(case)
    parameters = torch.nn.ModuleList([encoder, decoder, fc_mu, fc_logvar]).parameters()
    optimizer = torch.optim.AdamW(parameters, lr=1e-3, weight_decay=1e-2, fused=fused)

    def posterior(x):
        features = encoder(x)
        return fc_mu(features), fc_logvar(features)

    def forward(x, noise):
        mu, logvar = posterior(x)
        return mu, logvar, decoder(mu + torch.exp(0.5 * logvar) * noise).logits

    def loss_of(x, mu, logvar, logits):
        p = Bernoulli(logits=logits, validate_args=False)
        return plain_loss_terms(x, mu, logvar, p, case.default_dist)

    def forward_and_loss(x, noise):
        return loss_of(x, *forward(x, noise))

    if variant == "eager":
        step = forward_and_loss
    elif variant == "compiled apart":
        compiled_posterior, compiled_decoder = torch.compile(posterior), torch.compile(decoder)

        def step(x, noise):
            mu, logvar = compiled_posterior(x)
            logits = compiled_decoder(mu + torch.exp(0.5 * logvar) * noise).logits
            return loss_of(x, mu, logvar, logits)
    elif variant == "forward compiled":
        compiled_forward = torch.compile(forward)

        def step(x, noise):
            return loss_of(x, *compiled_forward(x, noise))
    else:
        step = torch.compile(forward_and_loss)
    X = torch.from_numpy(case.X)
    n_steps = len(X) // BATCH
    best = float("inf")
    for epoch in range(4):
        order = torch.randperm(len(X))
        start = time.perf_counter()
        for i in range(n_steps):
            x = X[order[i * BATCH : (i + 1) * BATCH]]
            loss = step(x, torch.randn(len(x), case.latent_dim))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch:  # the first epoch compiles
            best = min(best, time.perf_counter() - start)
    return best / n_steps * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    X = torch.randn(N_BATCHES * BATCH, 1)
    tiny = {"plain loop": [], "Trainer, automatic": [], "Trainer, manual": []}
    for _ in range(args.repeats):
        tiny["plain loop"].append(tiny_plain_us(X))
        tiny["Trainer, automatic"].append(tiny_trainer_us(X, manual=False))
        tiny["Trainer, manual"].append(tiny_trainer_us(X, manual=True))
    print("\nLinear(1, 1), microseconds per step (median of repeats):")
    for name, values in tiny.items():
        print(f"  {name:20s} {statistics.median(values):8.0f}   runs: "
              + ", ".join(f"{v:.0f}" for v in values))
    case = mlp_case(DEFAULT, compile=False)
    variants = [("eager", False), ("eager", True), ("compiled apart", True),
                ("forward compiled", True), ("forward and loss compiled", True)]
    mlp = {variant: [] for variant in variants}
    for _ in range(args.repeats):
        for variant, fused in variants:
            mlp[(variant, fused)].append(mlp_step_ms(case, variant, fused))
    print("\nMLP VAE in a plain loop, milliseconds per step (median of repeats):")
    for (variant, fused), values in mlp.items():
        label = f"{variant}, {'fused' if fused else 'default'} AdamW"
        print(f"  {label:40s} {statistics.median(values):6.3f}   runs: "
              + ", ".join(f"{v:.3f}" for v in values))


if __name__ == "__main__":
    main()
