"""SimCLR, DCL, Barlow Twins and y-Aware contrastive learning as nidl estimators."""

import copy

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from nidl.estimators.ssl import DCL, BarlowTwins, SimCLR, YAwareContrastiveLearning
from nidl.losses import KernelMetric
from nidl.transforms import MultiViewsTransform, RandomGaussianNoise

QUIET = {
    "enable_progress_bar": False,
    "logger": False,
    "enable_checkpointing": False,
    "enable_model_summary": False,
}
HEAD = {"proj_input_dim": 10, "proj_hidden_dim": 3, "proj_output_dim": 3}
ESTIMATORS = [SimCLR, DCL, BarlowTwins, YAwareContrastiveLearning]


def noise(x):
    return x + 0.1 * torch.randn_like(x)


class Views(Dataset):
    """Two views of each sample of ``X``, with its label if ``y`` is given."""

    def __init__(self, X, y=None):
        self.X, self.y = X, y
        self.views = MultiViewsTransform(noise, n_views=2)

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):
        views = self.views(self.X[index])
        return views if self.y is None else (views, self.y[index])


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(20, 25, generator=generator)
    y = torch.linspace(0.0, 10.0, 20)
    return X, y


def make(cls, encoder=None, **params):
    encoder = nn.Linear(25, 10) if encoder is None else encoder
    options = {"max_epochs": 1, "lr_scheduler": "none", "batch_size": 10, **QUIET}
    return cls(encoder, **{**HEAD, **options, **params})


# ----------------------------------------------------------------------
# Upstream's behaviours
# ----------------------------------------------------------------------
def test_upstream_two_view_loaders(data):
    X, y = data
    encoder = nn.Linear(25, 10)
    loader = DataLoader(Views(X), batch_size=10)
    labelled = DataLoader(Views(X, y), batch_size=10)
    models = [
        make(SimCLR, encoder),
        make(DCL, encoder),
        make(BarlowTwins, encoder),
        make(YAwareContrastiveLearning, encoder, lr_scheduler="warmup_cosine",
             lr_scheduler_kwargs={"warmup_epochs": 0}, bandwidth=2.0),
        make(YAwareContrastiveLearning, encoder, bandwidth=2.0),
    ]
    for model in models:
        train = labelled if isinstance(model, YAwareContrastiveLearning) else loader
        model.fit(train)
        assert model.transform(X).shape == (20, 10)
        assert model.n_steps_ == 2


def test_yaware_with_a_fitted_kernel_metric(data):
    X, y = data
    metric = KernelMetric(bandwidth="silverman").fit(y.numpy()[:, None])
    model = make(YAwareContrastiveLearning, bandwidth=metric)
    model.fit(DataLoader(Views(X, y), batch_size=10, shuffle=True))
    assert model.transform(X).shape == (20, 10)
    assert torch.isfinite(torch.tensor(model.history_["train/loss"])).all()


def test_upstream_defaults():
    model = SimCLR(nn.Linear(4, 2))
    assert (model.proj_input_dim, model.proj_hidden_dim, model.proj_output_dim) == (
        2048, 2048, 128,
    )
    assert (model.optimizer, model.learning_rate, model.weight_decay) == (
        "adamW", 3e-4, 5e-4,
    )
    assert model.lr_scheduler == "warmup_cosine" and model.exclude_bias_and_norm_wd
    assert BarlowTwins(nn.Linear(4, 2)).proj_output_dim == 2048
    yaware = YAwareContrastiveLearning(nn.Linear(4, 2))
    assert (yaware.proj_hidden_dim, yaware.kernel, yaware.bandwidth) == (
        512, "gaussian", 1.0,
    )


# ----------------------------------------------------------------------
# The scikit-learn API
# ----------------------------------------------------------------------
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_clone_get_and_set_params(cls):
    model = make(cls, temperature=0.5) if cls is not BarlowTwins else make(
        cls, lambd=0.01
    )
    params = model.get_params()
    assert params["max_epochs"] == 1 and params["proj_output_dim"] == 3
    copy = clone(model)
    assert copy.encoder is not model.encoder
    assert copy.get_params().keys() == params.keys()
    copy.set_params(learning_rate=1e-2, max_epochs=2)
    assert copy.learning_rate == 1e-2 and copy.get_params()["max_epochs"] == 2
    assert model.learning_rate == 3e-4


def test_arrays_in_a_pipeline(data):
    X, _ = data
    X = X.numpy()
    labels = (X[:, 0] > 0).astype(int)
    pipeline = make_pipeline(make(SimCLR, random_state=0), LogisticRegression())
    pipeline.fit(X, labels)
    assert pipeline.predict(X).shape == (20,)
    features = pipeline[0].transform(X)
    assert isinstance(features, np.ndarray) and features.shape == (20, 10)


def test_yaware_takes_the_labels_of_arrays(data):
    X, y = data
    model = make(YAwareContrastiveLearning, bandwidth=2.0, random_state=0)
    assert model.fit(X.numpy(), y.numpy()).transform(X).shape == (20, 10)


def test_transforms_make_the_views_of_arrays(data):
    X, _ = data
    calls = []

    def views(x):
        calls.append(x.shape)
        return [x, noise(x)]

    model = make(SimCLR, transforms=views, random_state=0).fit(X)
    assert calls and calls[0] == (25,)
    assert model.transform(X).shape == (20, 10)


def test_volumes_with_volume_transforms():
    X = torch.randn(8, 1, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    views = MultiViewsTransform(RandomGaussianNoise(), n_views=2)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    model = make(SimCLR, encoder, transforms=views, batch_size=4).fit(X)
    assert model.transform(X).shape == (8, 10)


def test_iterable_datasets(data):
    X, _ = data

    class Stream(IterableDataset):
        def __iter__(self):
            views = MultiViewsTransform(noise, n_views=2)
            return (views(x) for x in X)

    model = make(SimCLR).fit(DataLoader(Stream(), batch_size=10))
    assert model.n_steps_ == 2 and model.transform(X).shape == (20, 10)


def test_encoder_class(data):
    X, _ = data
    model = make(SimCLR, encoder=nn.Linear,
                 encoder_kwargs={"in_features": 25, "out_features": 10})
    assert model.fit(X).transform(X).shape == (20, 10)


def test_training_lowers_the_loss():
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(64, 8, generator=generator)
    model = SimCLR(
        nn.Linear(8, 6), proj_input_dim=6, proj_hidden_dim=8, proj_output_dim=4,
        learning_rate=1e-2, lr_scheduler="none", batch_size=32, random_state=0,
        max_epochs=8, **QUIET,
    ).fit(X)
    losses = model.history_["train/loss"]
    assert len(losses) == 8
    assert losses[-1] < losses[0]


def test_seeded_fits_are_reproducible(data):
    X, _ = data
    encoder = nn.Linear(25, 10)
    first = make(SimCLR, copy.deepcopy(encoder), random_state=3).fit(X).transform(X)
    second = make(SimCLR, encoder, random_state=3).fit(X).transform(X)
    assert np.allclose(first, second)


def test_validation_loss_is_recorded(data):
    X, _ = data
    model = make(SimCLR, random_state=0).fit(X, val_dataloader=X)
    assert len(model.history_["val/loss"]) == 1


# ----------------------------------------------------------------------
# Refusals, before training, and a failed fit changes nothing
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "loader",
    [
        DataLoader(TensorDataset(torch.randn(20, 25)), batch_size=10),
        DataLoader(TensorDataset(torch.randn(20, 25), torch.arange(20.0)),
                   batch_size=10),
        DataLoader(torch.randn(20, 25), batch_size=10),
    ],
    ids=["one-view", "view-and-labels", "tensor"],
)
def test_one_view_is_refused(loader):
    model = make(SimCLR)
    with pytest.raises(ValueError, match="view"):
        model.fit(loader)
    assert not hasattr(model, "n_steps_")


def test_yaware_without_labels_is_refused(data):
    X, _ = data
    model = make(YAwareContrastiveLearning)
    with pytest.raises(ValueError, match="requires y to be passed"):
        model.fit(X)
    with pytest.raises(ValueError, match="training data without labels"):
        model.fit(DataLoader(Views(X), batch_size=10))
    assert not hasattr(model, "n_steps_")


def test_a_single_sample_is_refused_and_a_last_batch_of_one_dropped(data):
    X, _ = data
    with pytest.raises(ValueError, match="n_samples=1"):
        make(BarlowTwins).fit(X[:1])
    # 21 samples in batches of 10: the last batch of 1 is dropped, which a
    # batch normalisation and the contrastive losses could not train on.
    model = make(BarlowTwins).fit(torch.cat([X, X[:1]]))
    assert model.n_steps_ == 2


def test_a_users_trainer_trains_on_upstream_batches(data):
    X, y = data
    model = make(YAwareContrastiveLearning, bandwidth=2.0)
    trainer = pl.Trainer(max_epochs=1, **QUIET)
    trainer.fit(model, DataLoader(Views(X, y), batch_size=10))
    assert model.n_steps_ == 2 and model.transform(X).shape == (20, 10)


def test_an_unknown_optimizer_is_refused(data):
    X, _ = data
    model = make(DCL, optimizer="lamb")
    with pytest.raises(ValueError, match="optimizer='lamb'"):
        model.fit(X)
    assert not hasattr(model, "n_steps_")


def test_wrong_proj_input_dim_is_refused(data):
    X, _ = data
    model = make(SimCLR, proj_input_dim=7)
    with pytest.raises(ValueError, match="proj_input_dim=10"):
        model.fit(X)


def test_failed_fit_leaves_the_previous_fit(data):
    X, _ = data
    model = make(SimCLR, random_state=0).fit(X)
    before = model.transform(X)
    steps, weights = model.n_steps_, model.encoder.weight.detach().clone()
    with pytest.raises(ValueError):
        model.fit(DataLoader(TensorDataset(X), batch_size=10))
    assert model.n_steps_ == steps
    assert torch.equal(model.encoder.weight, weights)
    assert np.array_equal(model.transform(X), before)


# ----------------------------------------------------------------------
# scikit-learn's common checks
# ----------------------------------------------------------------------
#: Checks the estimators fail by design, with the reason (as for the VAEs).
EXPECTED_FAILED_CHECKS = {
    "check_no_attributes_set_in_init": (
        "the estimators are LightningModules, whose constructor sets 'training', "
        "'prepare_data_per_node' and "
        "'allow_zero_length_dataloader_with_multiple_devices', and they build "
        "their head and loss at construction, as the reference API does"
    ),
    "check_estimators_overwrite_params": (
        "the encoder parameter is the network that fit trains (model.encoder "
        "is the trained encoder, as in the reference API); every fit and every "
        "clone starts again from its initial state"
    ),
}


def checked_estimators():
    for cls in ESTIMATORS:
        torch.manual_seed(0)
        # A lazy layer adapts to the number of features of every check.
        encoder = nn.Sequential(nn.Flatten(), nn.LazyLinear(4))
        yield cls(
            encoder, proj_input_dim=4, proj_hidden_dim=4, proj_output_dim=3,
            lr_scheduler="none", random_state=0, batch_size=32, max_epochs=1,
            **QUIET,
        )


@parametrize_with_checks(
    list(checked_estimators()),
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
