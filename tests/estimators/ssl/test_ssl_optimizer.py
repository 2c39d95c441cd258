import math
import warnings

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nidl.estimators.ssl.utils.optimizer import configure_ssl_optimizers
from nidl.utils import LinearWarmupCosineAnnealingLR


def modules():
    encoder = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    head = nn.Linear(3, 2)
    return encoder, head


def ids(params):
    return {id(p) for p in params}


def groups_of(optimizer):
    return {g["name"]: g for g in optimizer.param_groups}


def build(**kwargs):
    encoder, head = modules()
    kwargs.setdefault("lr_scheduler", None)
    return configure_ssl_optimizers({"backbone": encoder, "head": head}, **kwargs)


def test_biases_and_norm_weights_do_not_decay():
    encoder, head = modules()
    optimizer = configure_ssl_optimizers(
        {"backbone": encoder, "head": head}, "adamW", learning_rate=0.01,
        weight_decay=0.1, lr_scheduler=None,
    )
    assert isinstance(optimizer, torch.optim.AdamW)
    groups = groups_of(optimizer)
    assert list(groups) == ["backbone", "backbone_no_decay", "head", "head_no_decay"]
    linear, norm = encoder
    assert ids(groups["backbone"]["params"]) == ids([linear.weight])
    assert ids(groups["backbone_no_decay"]["params"]) == ids(
        [linear.bias, norm.weight, norm.bias]
    )
    assert ids(groups["head"]["params"]) == ids([head.weight])
    assert ids(groups["head_no_decay"]["params"]) == ids([head.bias])
    assert [g["weight_decay"] for g in groups.values()] == [0.1, 0.0, 0.1, 0.0]
    assert all(g["lr"] == 0.01 for g in groups.values())


def test_all_parameters_decay_when_not_excluded():
    encoder, head = modules()
    optimizer = configure_ssl_optimizers(
        {"backbone": encoder, "predictor": head}, "adam", weight_decay=0.2,
        exclude_bias_and_norm_wd=False, lr_scheduler="none",
    )
    groups = groups_of(optimizer)
    assert list(groups) == ["backbone", "predictor"]
    assert ids(groups["backbone"]["params"]) == ids(encoder.parameters())
    assert ids(groups["predictor"]["params"]) == ids(head.parameters())
    assert all(g["weight_decay"] == 0.2 for g in groups.values())
    assert all(g["lr"] == 3e-4 for g in groups.values())  # the default


def test_parameters_instead_of_modules():
    encoder, head = modules()
    optimizer = configure_ssl_optimizers(
        {"backbone": encoder.parameters(), "head": [head.weight]}, lr_scheduler=None
    )
    assert list(groups_of(optimizer)) == ["backbone", "backbone_no_decay", "head"]


@pytest.mark.parametrize(
    "name, kind",
    [("adam", torch.optim.Adam), ("adamW", torch.optim.AdamW),
     ("adamw", torch.optim.AdamW), ("sgd", torch.optim.SGD),
     ("SGD", torch.optim.SGD)],
)
def test_named_optimizers(name, kind):
    assert type(build(optimizer=name)) is kind


def test_optimizer_kwargs_reach_the_optimizer():
    optimizer = build(optimizer="sgd", learning_rate=0.5,
                      optimizer_kwargs={"momentum": 0.9, "nesterov": True})
    assert all(g["momentum"] == 0.9 and g["nesterov"] for g in optimizer.param_groups)
    assert all(g["lr"] == 0.5 for g in optimizer.param_groups)


def test_optimizer_instance_is_used_as_is():
    encoder, _ = modules()
    instance = torch.optim.SGD(encoder.parameters(), lr=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build(optimizer=instance) is instance  # optimizer_kwargs=None
        assert build(optimizer=instance, optimizer_kwargs={}) is instance
    with pytest.warns(UserWarning, match="optimizer_kwargs.*ignored"):
        assert build(optimizer=instance, optimizer_kwargs={"momentum": 0.9}) is instance


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"optimizer": "rmsprop"}, ValueError, "optimizer='rmsprop'"),
        ({"optimizer": torch.optim.Adam}, TypeError, "Optimizer instance"),
        ({"optimizer": 3}, TypeError, "optimizer must be"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate"),
        ({"weight_decay": -1e-3}, ValueError, "weight_decay"),
    ],
)
def test_optimizer_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        build(**kwargs)


@pytest.mark.parametrize(
    "param_groups, error, match",
    [
        ({}, TypeError, "non-empty dict"),
        ([nn.Linear(2, 2)], TypeError, "non-empty dict"),
        ({"backbone": "encoder"}, TypeError, r"param_groups\['backbone'\]"),
        ({"backbone": 3}, TypeError, r"param_groups\['backbone'\]"),
        ({"backbone": nn.ReLU()}, ValueError, "no parameters"),
    ],
)
def test_param_group_errors(param_groups, error, match):
    with pytest.raises(error, match=match):
        configure_ssl_optimizers(param_groups, lr_scheduler=None)


def warmup_cosine(**kwargs):
    schedule = {"warmup_epochs": 1, "warmup_start_lr": 1e-3, "min_lr": 1e-4}
    schedule.update(kwargs.pop("lr_scheduler_kwargs", {}))
    kwargs = {"max_epochs": 4, "estimated_stepping_batches": 40,
              "lr_scheduler": "warmup_cosine", **kwargs}
    return build(learning_rate=0.1, lr_scheduler_kwargs=schedule, **kwargs)


def test_warmup_cosine_per_step():
    optimizers, schedulers = warmup_cosine()
    (optimizer,), (config,) = optimizers, schedulers
    assert config["interval"] == "step" and config["frequency"] == 1
    scheduler = config["scheduler"]
    assert isinstance(scheduler, LinearWarmupCosineAnnealingLR)
    assert scheduler.optimizer is optimizer
    # One warm-up epoch of 40 / 4 = 10 steps, then a decay over the 40 steps.
    assert (scheduler.warmup_epochs, scheduler.max_epochs) == (10, 40)
    assert (scheduler.warmup_start_lr, scheduler.eta_min) == (1e-3, 1e-4)
    rates = {}
    for step in range(41):
        rates[step] = [g["lr"] for g in optimizer.param_groups]
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx([1e-3] * 4)
    assert rates[9] == pytest.approx([0.1] * 4)
    assert rates[25] == pytest.approx([1e-4 + (0.1 - 1e-4) / 2] * 4)
    assert rates[40] == pytest.approx([1e-4] * 4)


def test_warmup_cosine_per_epoch():
    (_,), (config,) = warmup_cosine(
        lr_scheduler_kwargs={"interval": "epoch", "warmup_epochs": 2},
        max_epochs=6,
    )
    assert config["interval"] == "epoch"
    assert (config["scheduler"].warmup_epochs, config["scheduler"].max_epochs) == (
        2, 6
    )


def test_warmup_cosine_defaults():
    (_,), (config,) = build(
        lr_scheduler="warmup_cosine", max_epochs=20, estimated_stepping_batches=200
    )
    scheduler = config["scheduler"]
    assert config["interval"] == "step"
    assert (scheduler.warmup_epochs, scheduler.max_epochs) == (100, 200)
    assert (scheduler.warmup_start_lr, scheduler.eta_min) == (1e-6, 0.0)


def test_fractional_and_zero_warmup():
    (_,), (config,) = warmup_cosine(lr_scheduler_kwargs={"warmup_epochs": 0.5})
    assert config["scheduler"].warmup_epochs == 5
    (optimizer,), (config,) = warmup_cosine(lr_scheduler_kwargs={"warmup_epochs": 0})
    # Without warm-up the training starts at learning_rate.
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.1] * 4)


def test_warmup_longer_than_training_warns():
    with pytest.warns(UserWarning, match="never reaches learning_rate"):
        warmup_cosine(lr_scheduler_kwargs={"warmup_epochs": 10}, max_epochs=2)


def test_scheduler_instance_is_used_as_is():
    encoder, _ = modules()
    optimizer = torch.optim.SGD(encoder.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)
    optimizers, schedulers = configure_ssl_optimizers(
        {"backbone": encoder}, optimizer, lr_scheduler=scheduler,
        lr_scheduler_kwargs={"interval": "epoch"},
    )
    assert optimizers == [optimizer]
    assert schedulers == [{"scheduler": scheduler, "interval": "epoch",
                           "frequency": 1}]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"lr_scheduler_kwargs": {"interval": "batch"}}, ValueError,
         "interval='batch'"),
        ({"lr_scheduler_kwargs": {"warmup_epoch": 2}}, ValueError,
         r"unknown keys \['warmup_epoch'\]"),
        ({"lr_scheduler_kwargs": {"warmup_epochs": -1}}, ValueError,
         "warmup_epochs"),
        ({"lr_scheduler_kwargs": {"interval": "epoch", "warmup_epochs": 0.5}},
         TypeError, "warmup_epochs"),
        ({"max_epochs": None}, ValueError, "max_epochs=None"),
        ({"max_epochs": -1}, ValueError, "max_epochs=-1"),
        ({"max_epochs": 0}, ValueError, "max_epochs=0"),
        ({"estimated_stepping_batches": math.inf}, ValueError,
         "estimated_stepping_batches=inf"),
        ({"estimated_stepping_batches": None}, ValueError,
         "estimated_stepping_batches=None"),
        ({"lr_scheduler": "cosine"}, ValueError, "lr_scheduler='cosine'"),
        ({"lr_scheduler": 3}, TypeError, "lr_scheduler must be"),
        ({"lr_scheduler": torch.optim.lr_scheduler.StepLR}, TypeError,
         "lr_scheduler must be"),
        ({"lr_scheduler": torch.optim.lr_scheduler.StepLR(
            torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1), 2)},
         ValueError, "another optimiser"),
    ],
)
def test_scheduler_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        warmup_cosine(**kwargs)


class Tiny(pl.LightningModule):
    """A module whose configure_optimizers is the estimators' one."""

    def __init__(self, interval):
        super().__init__()
        self.encoder, self.head = modules()
        self.interval = interval
        self.rates = []

    def training_step(self, batch, batch_idx):
        self.rates.append(self.trainer.optimizers[0].param_groups[0]["lr"])
        return self.head(self.encoder(batch[0])).pow(2).mean()

    def configure_optimizers(self):
        return configure_ssl_optimizers(
            {"backbone": self.encoder, "head": self.head}, "sgd",
            learning_rate=0.1,
            lr_scheduler_kwargs={"warmup_epochs": 1, "interval": self.interval,
                                 "warmup_start_lr": 0.01, "min_lr": 0.0},
            max_epochs=self.trainer.max_epochs,
            estimated_stepping_batches=self.trainer.estimated_stepping_batches,
        )


@pytest.mark.parametrize("interval", ["step", "epoch"])
def test_lightning_steps_the_schedule_per_step_or_per_epoch(interval):
    model = Tiny(interval)
    loader = DataLoader(TensorDataset(torch.randn(16, 4)), batch_size=4)
    trainer = pl.Trainer(
        max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(model, loader)
    assert len(model.rates) == 12
    if interval == "step":
        # 4 warm-up steps then a decay over the 12 steps: a new rate per step.
        expected = [0.01 + k * 0.09 / 3 for k in range(4)] + [
            0.05 * (1 + math.cos(math.pi * (k - 4) / 8)) for k in range(4, 12)
        ]
    else:
        # One warm-up epoch then a decay over 3 epochs: one rate per epoch.
        expected = [0.01] * 4 + [0.1] * 4 + [0.05 * (1 + math.cos(math.pi / 2))] * 4
    assert model.rates == pytest.approx(expected)
