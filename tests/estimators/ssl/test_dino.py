"""DINO as a nidl estimator: a student trained on crops, its teacher by EMA."""

import copy
import pickle

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn
from torch.utils.data import DataLoader, Dataset

from nidl.estimators.ssl import DINO
from nidl.transforms import MultiViewsTransform

QUIET = {
    "enable_progress_bar": False,
    "logger": False,
    "enable_checkpointing": False,
    "enable_model_summary": False,
}
HEAD = {
    "proj_input_dim": 10, "proj_hidden_dim": 8, "proj_bottleneck_dim": 4,
    "proj_output_dim": 16,
}


def noise(x):
    return x + 0.1 * torch.randn_like(x)


class Crops(Dataset):
    """``n_views`` noisy crops of each sample of ``X``, with its label if given."""

    def __init__(self, X, n_views, y=None):
        self.X, self.y = X, y
        self.views = MultiViewsTransform(noise, n_views=n_views)

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):
        views = self.views(self.X[index])
        return views if self.y is None else (views, self.y[index])


class Snapshot(pl.Callback):
    """The student's parameters when training starts."""

    def on_train_start(self, trainer, pl_module):
        self.encoder = {
            name: p.detach().clone()
            for name, p in pl_module.encoder.named_parameters()
        }
        self.head = {
            name: p.detach().clone()
            for name, p in pl_module.projection_head.named_parameters()
        }


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(20, 25, generator=generator)


def make(encoder=None, **params):
    encoder = nn.Linear(25, 10) if encoder is None else encoder
    options = {
        "max_epochs": 1, "lr_scheduler": "none", "batch_size": 10,
        "num_local_crops": 4, "random_state": 0, **QUIET,
    }
    return DINO(encoder, **{**HEAD, **options, **params})


# ----------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("warmup_epochs", "lr_scheduler"), [(30, "warmup_cosine"), (0, "none")]
)
def test_upstream_six_crops(data, warmup_epochs, lr_scheduler):
    model = make(
        warmup_teacher_temp_epochs=warmup_epochs, lr_scheduler=lr_scheduler,
        lr_scheduler_kwargs={"warmup_epochs": 1}, max_epochs=2,
    )
    model.fit(DataLoader(Crops(data, n_views=6), batch_size=10))
    assert model.transform(data).shape == (20, 10)
    assert model.n_steps_ == 4
    assert np.isfinite(model.history_["train/loss"]).all()


def test_labelled_crops_and_arrays(data):
    labelled = DataLoader(Crops(data, 6, y=torch.arange(20.0)), batch_size=10)
    assert make().fit(labelled).transform(data).shape == (20, 10)
    model = make(num_local_crops=0).fit(data.numpy())
    assert model.transform(data.numpy()).shape == (20, 10)


class AnyWidth(nn.Module):
    """A linear encoder of samples of any width, pooled to 25 features."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(25, 10)

    def forward(self, x):
        pooled = nn.functional.adaptive_avg_pool1d(x[:, None], 25)[:, 0]
        return self.linear(pooled)


def test_transforms_make_the_crops_of_arrays(data):
    def crops(x):
        # Local crops narrower than the global ones.
        return [x, noise(x), noise(x[:15]), noise(x[5:20])]

    model = make(AnyWidth(), num_local_crops=2, transforms=crops).fit(data)
    assert model.transform(data).shape == (20, 10)
    assert np.isfinite(model.history_["train/loss"]).all()


def test_teacher_is_an_ema_of_the_student(data):
    encoder = nn.Linear(25, 10)
    initial = copy.deepcopy(encoder)
    snapshot = Snapshot()
    model = make(
        encoder, base_lambda=0.5, final_lambda=1.0, batch_size=20,
        learning_rate=0.1, callbacks=[snapshot],
    ).fit(data)
    assert model.n_steps_ == 1
    snapshot = model.callbacks_[0]
    # The fit started from the encoder's weights, for student and teacher.
    for name, value in initial.named_parameters():
        assert torch.equal(snapshot.encoder[name], value)
    # One step: teacher = lambda * initial + (1 - lambda) * student.
    student = dict(model.encoder.named_parameters())
    for name, value in model.teacher.named_parameters():
        assert not torch.equal(value, snapshot.encoder[name])
        expected = 0.5 * snapshot.encoder[name] + 0.5 * student[name]
        assert torch.allclose(value, expected, atol=1e-6)
    head = dict(model.projection_head.named_parameters())
    for name, value in model.teacher_head.named_parameters():
        expected = 0.5 * snapshot.head[name] + 0.5 * head[name]
        assert torch.allclose(value, expected, atol=1e-6)
    # Never trained by gradient.
    for module in (model.teacher, model.teacher_head):
        for parameter in module.parameters():
            assert not parameter.requires_grad and parameter.grad is None
    # The features are the teacher's.
    assert torch.allclose(model.transform(data), model.teacher(data), atol=1e-6)


def test_momentum_rises_on_a_cosine(data):
    model = make(base_lambda=0.9, final_lambda=1.0, max_epochs=2).fit(data)
    # Four steps: the last update used the schedule at step 3 of 4.
    expected = 1.0 - 0.1 * (np.cos(np.pi * 3 / 4) + 1) / 2
    assert model.momentum_updater.cur_lambda == pytest.approx(expected)


def test_freeze_last_layer_and_clip_grad(data):
    snapshot = Snapshot()
    model = make(
        freeze_last_layer=1, clip_grad=1e-3, optimizer="sgd", learning_rate=1.0,
        weight_decay=0.0, batch_size=20, callbacks=[snapshot],
    ).fit(data)
    snapshot = model.callbacks_[0]
    head = dict(model.projection_head.named_parameters())
    moved = [n for n in head if not torch.equal(head[n], snapshot.head[n])]
    assert moved and not any(name.startswith("last_layer") for name in moved)
    # One SGD step of a clipped gradient: the encoder moved by lr * clip_grad
    # at most.
    change = torch.cat([
        (p - snapshot.encoder[n]).flatten()
        for n, p in model.encoder.named_parameters()
    ])
    assert 0 < torch.linalg.norm(change) <= 1e-3 + 1e-6


def test_training_runs_finite_and_lowers_the_loss():
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(64, 8, generator=generator)
    model = DINO(
        nn.Linear(8, 6), proj_input_dim=6, proj_hidden_dim=16,
        proj_bottleneck_dim=8, proj_output_dim=32, num_local_crops=2,
        warmup_teacher_temp_epochs=0, learning_rate=1e-2, lr_scheduler="none",
        batch_size=32, random_state=0, max_epochs=8, **QUIET,
    ).fit(X)
    losses = model.history_["train/loss"]
    assert len(losses) == 8 and np.isfinite(losses).all()
    assert losses[-1] < losses[0]


def test_validation_leaves_the_centre(data):
    model = make().fit(data, val_dataloader=data)
    assert len(model.history_["val/loss"]) == 1
    centre = model.loss.center.clone()
    trainer = pl.Trainer(**QUIET)
    trainer.validate(model, DataLoader(Crops(data, 6), batch_size=10))
    assert torch.equal(model.loss.center, centre)


def test_a_users_trainer_trains_on_upstream_batches(data):
    model = make()
    trainer = pl.Trainer(max_epochs=1, **QUIET)
    trainer.fit(model, DataLoader(Crops(data, 6), batch_size=10))
    assert model.n_steps_ == 2 and model.transform(data).shape == (20, 10)


# ----------------------------------------------------------------------
# scikit-learn protocol, refusals and failed fits
# ----------------------------------------------------------------------
def test_clone_get_and_set_params(data):
    model = make(num_local_crops=3, clip_grad=0.5)
    params = model.get_params()
    assert params["num_local_crops"] == 3 and params["clip_grad"] == 0.5
    assert params["max_epochs"] == 1
    twin = clone(model)
    assert twin.get_params()["num_local_crops"] == 3
    assert twin.encoder is not model.encoder
    twin.set_params(num_local_crops=1, max_epochs=2)
    assert twin.get_params()["num_local_crops"] == 1
    assert model.get_params()["num_local_crops"] == 3
    twin.fit(data)
    assert twin.n_epochs_ == 2 and twin.transform(data).shape == (20, 10)


@pytest.mark.parametrize("n_views", [1, 2, 5, 7])
def test_a_wrong_number_of_crops_is_refused_before_training(data, n_views):
    model = make()
    with pytest.raises(ValueError, match="num_local_crops=4 trains on 6"):
        model.fit(DataLoader(Crops(data, n_views), batch_size=10))
    assert not hasattr(model, "n_steps_")
    with pytest.raises(ValueError, match="crops"):
        make(transforms=MultiViewsTransform(noise, n_views=n_views)).fit(data)


def test_a_single_tensor_is_refused(data):
    with pytest.raises(ValueError, match="single Tensor"):
        make().fit(DataLoader(data, batch_size=10))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"num_local_crops": -1}, "num_local_crops"),
        ({"clip_grad": -1.0}, "clip_grad"),
        ({"freeze_last_layer": -1}, "freeze_last_layer"),
        ({"base_lambda": 0.9, "final_lambda": 0.5}, "base_lambda"),
        ({"student_temperature": 0.0}, "student_temp"),
        ({"proj_bottleneck_dim": 0}, "proj_bottleneck_dim"),
    ],
)
def test_invalid_parameters_are_refused_at_fit(data, params, match):
    model = make(**params)
    with pytest.raises(ValueError, match=match):
        model.fit(data)


def test_a_failed_refit_leaves_the_previous_fit(data):
    model = make().fit(data)
    before = model.transform(data)
    steps = model.n_steps_
    teacher = copy.deepcopy(model.teacher.state_dict())
    encoder = model.encoder.weight.detach().clone()
    with pytest.raises(ValueError, match="crops"):
        model.fit(DataLoader(Crops(data, 3), batch_size=10))
    assert model.n_steps_ == steps
    assert torch.equal(model.encoder.weight, encoder)
    for name, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher[name])
    assert np.array_equal(model.transform(data), before)


def test_pickle_round_trip(data):
    model = make(random_state=1).fit(data)
    twin = pickle.loads(pickle.dumps(model))
    assert np.array_equal(twin.transform(data), model.transform(data))
    for name, value in twin.projection_head.state_dict().items():
        assert torch.equal(value, model.projection_head.state_dict()[name])
    assert not any(p.requires_grad for p in twin.teacher_head.parameters())
    twin.fit(data)  # trains again
    assert twin.n_steps_ == 2


def test_a_lazy_encoder(data):
    encoder = nn.Sequential(nn.Flatten(), nn.LazyLinear(10))
    model = make(encoder).fit(data)
    assert model.transform(data).shape == (20, 10)


# ----------------------------------------------------------------------
# scikit-learn's common checks
# ----------------------------------------------------------------------
#: Checks DINO fails by design, as the two-view estimators do.
EXPECTED_FAILED_CHECKS = {
    "check_no_attributes_set_in_init": (
        "a LightningModule's constructor sets attributes, and the estimator "
        "builds its heads, teacher and loss at construction"
    ),
    "check_estimators_overwrite_params": (
        "the encoder parameter is the student network that fit trains; every "
        "fit and every clone starts again from its initial state"
    ),
}


def checked_estimator():
    torch.manual_seed(0)
    # A lazy layer adapts to the number of features of every check.
    encoder = nn.Sequential(nn.Flatten(), nn.LazyLinear(4))
    return DINO(
        encoder, proj_input_dim=4, proj_hidden_dim=4, proj_bottleneck_dim=3,
        proj_output_dim=8, num_local_crops=1, lr_scheduler="none",
        random_state=0, batch_size=32, max_epochs=1, **QUIET,
    )


@parametrize_with_checks(
    [checked_estimator()],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
