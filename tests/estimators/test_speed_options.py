"""nidl's speed options give the same results as the plain path."""

import numpy as np
import pytest
import torch
from pytorch_lightning import Callback
from torch import nn

from nidl.estimators.autoencoders import VAE, JointVAE
from nidl.losses import LinearWarmup
from tests.conftest import QUIET, KeepTrainer, make_estimator, make_mlp_vae

SHAPE = (2, 8, 10, 8)


def conv_vae(**options):
    torch.manual_seed(0)
    encoder = nn.Sequential(
        nn.Conv3d(2, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(4 * 4 * 5 * 4, 16), nn.ReLU(),
    )
    decoder = nn.Sequential(
        nn.Linear(2, 4 * 4 * 5 * 4), nn.Unflatten(1, (4, 4, 5, 4)),
        nn.ConvTranspose3d(4, 2, 4, stride=2, padding=1),
    )
    return VAE(encoder, decoder, 16, 2, lr=1e-2, random_state=0, batch_size=8,
               stochastic_transform=False, **{**QUIET, **options})


@pytest.fixture
def volumes():
    return np.random.default_rng(0).normal(size=(24, *SHAPE)).astype(np.float32)


class MemoryFormatSpy(nn.Module):
    """Records whether the batches reaching the encoder are channels-last."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        if self.training:
            self.seen.append(
                x.is_contiguous(memory_format=torch.channels_last_3d)
                and not x.is_contiguous()
            )
        return x


def test_volumes_train_in_channels_last_by_default(volumes):
    vae = conv_vae()
    spy = MemoryFormatSpy()
    vae.encoder.insert(0, spy)
    vae.fit(volumes)
    # Every training batch (3 per epoch, 2 epochs) is in channels-last.
    assert spy.seen == [True] * 6
    # After training, weights are back in the default format for inference.
    assert vae.encoder[1].weight.is_contiguous()


def test_channels_last_gives_the_contiguous_results(volumes):
    default = conv_vae().fit(volumes)
    contiguous = conv_vae(channels_last=False).fit(volumes)
    assert contiguous.encoder[0].weight.is_contiguous()
    np.testing.assert_allclose(default.transform(volumes),
                               contiguous.transform(volumes), rtol=1e-4, atol=1e-5)
    assert default.score(volumes) == pytest.approx(contiguous.score(volumes), rel=1e-5)


def test_channels_last_option_is_checked(volumes):
    with pytest.raises(ValueError, match="channels_last must be 'auto', True or False"):
        conv_vae(channels_last="yes").fit(volumes)


@pytest.mark.slow  # compiles the training step
def test_compiled_training_matches_eager(small_data):
    eager = make_mlp_vae(stochastic_transform=False, max_epochs=1).fit(small_data)
    compiled = make_mlp_vae(stochastic_transform=False, max_epochs=1,
                            compile=True).fit(small_data)
    np.testing.assert_allclose(compiled.transform(small_data),
                               eager.transform(small_data), rtol=1e-4, atol=1e-5)
    # The compiled function is not kept: the estimator still pickles.
    assert "_compiled_forward" not in vars(compiled)
    assert compiled.get_params()["compile"] is True


def joint_vae(**options):
    return make_estimator(JointVAE, **options)


@pytest.mark.slow  # compiles the training step
@pytest.mark.parametrize("make", [
    lambda **options: make_mlp_vae(beta=LinearWarmup(1.0, 5), **options),
    joint_vae,
], ids=["beta schedule", "joint VAE"])
def test_compiled_training_draws_and_schedules_as_eager(make, small_data):
    # The step counter and the random draws (Gumbel noise for the joint
    # VAE) are inside the compiled graph: the weights still match.
    eager, compiled = make().fit(small_data), make(compile=True).fit(small_data)
    for a, b in zip(eager.parameters(), compiled.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_compile_option_is_checked(small_data):
    with pytest.raises(TypeError, match="compile must be True or False"):
        make_mlp_vae(compile="yes").fit(small_data)


@pytest.mark.parametrize("dist", ["normal", "bernoulli"])
def test_bf16_mixed_precision_trains_on_cpu(dist, small_data):
    X = 1 / (1 + np.exp(-small_data)) if dist == "bernoulli" else small_data
    vae = make_mlp_vae(default_dist=dist, precision="bf16-mixed",
                       stochastic_transform=False)
    if dist == "bernoulli":
        vae.decoder.append(nn.Sigmoid())
    vae.fit(X.astype(np.float32))
    assert np.all(np.isfinite(vae.history_["train/loss"]))
    Z = vae.transform(X.astype(np.float32))
    assert Z.dtype == np.float32 and np.all(np.isfinite(Z))


def test_fused_optimizer_takes_the_steps_of_the_reference_adamw(small_data):
    vae = make_mlp_vae(max_epochs=1).fit(small_data)
    optimizer = vae.configure_optimizers()[0]
    assert optimizer.defaults["fused"] is True
    # The same steps with torch's reference loop over parameters.
    reference = make_mlp_vae(max_epochs=1)
    reference.configure_optimizers = lambda: torch.optim.AdamW(
        reference.parameters(), lr=reference.lr, weight_decay=reference.weight_decay,
        foreach=False,
    )
    reference.fit(small_data)
    for fused, looped in zip(vae.parameters(), reference.parameters()):
        torch.testing.assert_close(fused, looped, rtol=1e-5, atol=1e-6)


class BatchCounter(nn.Module):
    """Records the size of every batch that reaches it at inference."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def forward(self, x):
        if not self.training:
            self.sizes.append(len(x))
        return x


def test_inference_runs_in_large_batches_with_the_same_results(small_data):
    X = np.tile(small_data, (50, 1))  # 2,000 samples, batch size 16
    vae = make_mlp_vae(stochastic_transform=False).fit(small_data)
    counter = BatchCounter()
    vae.encoder.insert(0, counter)
    Z = vae.transform(X)
    # 8 values per sample: one batch holds them all.
    assert counter.sizes == [2000]
    by_training_batches = vae.transform(
        torch.utils.data.DataLoader(torch.from_numpy(X), batch_size=vae.batch_size)
    )
    np.testing.assert_allclose(Z, by_training_batches.numpy(), rtol=1e-5, atol=1e-6)


def test_inference_batches_of_volumes_stay_within_the_budget(volumes):
    from nidl.estimators._inference import INFERENCE_BATCH_VALUES

    vae = conv_vae().fit(volumes)
    counter = BatchCounter()
    vae.encoder.insert(0, counter)
    vae.transform(np.concatenate([volumes] * 200))
    sample_size = int(np.prod(SHAPE))
    assert max(counter.sizes) == INFERENCE_BATCH_VALUES // sample_size
    assert sum(counter.sizes) == 24 * 200


class OptimizationSpy(nn.Module):
    """Records, at each training forward pass, whether Lightning steps the optimiser."""

    def __init__(self, vae):
        super().__init__()
        self.vae = [vae]  # a list, so that the VAE is not a submodule
        self.automatic = []

    def forward(self, x):
        if self.training:
            self.automatic.append(self.vae[0].automatic_optimization)
        return x


def test_own_optimizer_step_matches_lightnings_loop(small_data):
    # A plain fit declares Lightning's manual optimisation and steps the
    # optimiser in training_step; the estimator is back in the automatic
    # mode after it, for a Trainer of the user's.
    own = make_mlp_vae()
    spy = OptimizationSpy(own)
    own.encoder.insert(0, spy)
    own.fit(small_data)
    assert spy.automatic == [False] * 6
    assert own.automatic_optimization
    # Clipping at a norm never reached: Lightning's loop, the same update.
    lightning = make_mlp_vae(gradient_clip_val=1e9)
    lightning.encoder.insert(0, OptimizationSpy(lightning))
    lightning.fit(small_data)
    assert lightning.encoder[0].automatic == [True] * 6
    assert own.n_steps_ == lightning.n_steps_ == 6
    for a, b in zip(own.parameters(), lightning.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


class GradientNorms(Callback):
    """Records the norm of the gradients each optimiser step used."""

    def __init__(self):
        self.norms = []

    def __deepcopy__(self, memo):
        return self  # nidl trains with copies of the callbacks it is given

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        flat = torch.cat([g.flatten() for g in grads])
        self.norms.append(float(torch.linalg.vector_norm(flat)))


def test_trainer_gradient_options_still_work(small_data):
    accumulated = make_mlp_vae(accumulate_grad_batches=3).fit(small_data)
    assert accumulated.n_steps_ == 2  # 3 batches of 16 per epoch, 2 epochs
    clipped, free = GradientNorms(), GradientNorms()
    make_mlp_vae(gradient_clip_val=0.5, callbacks=[clipped]).fit(small_data)
    make_mlp_vae(callbacks=[free]).fit(small_data)
    assert min(free.norms) > 0.5
    assert max(clipped.norms) == pytest.approx(0.5, rel=1e-4)


def test_subclass_optimizers_and_schedulers_run_in_lightnings_loop(small_data):
    class ScheduledVAE(VAE):
        def configure_optimizers(self):
            optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1,
                                                        gamma=0.5)
            return [optimizer], [scheduler]

    keeper = KeepTrainer()
    reference = make_mlp_vae(callbacks=[keeper])
    vae = ScheduledVAE(**reference.get_params(deep=False)).fit(small_data)
    assert vae.automatic_optimization
    (optimizer,) = keeper.trainer.optimizers
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**2)


@pytest.fixture
def sample_reads(monkeypatch):
    """The indices of every sample read one by one from a TensorDataset, from now on."""
    reads = []
    read_sample = torch.utils.data.TensorDataset.__getitem__

    def counted(self, index):
        reads.append(index)
        return read_sample(self, index)

    def start():
        monkeypatch.setattr(torch.utils.data.TensorDataset, "__getitem__", counted)
        return reads

    return start


def test_loader_over_a_tensor_dataset_is_read_by_slicing(small_data, sample_reads):
    vae = make_mlp_vae(stochastic_transform=False).fit(small_data)
    expected = vae.transform(small_data)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(small_data),
                                             torch.arange(40))
    loader = torch.utils.data.DataLoader(dataset, batch_size=16)
    counter = BatchCounter()
    vae.encoder.insert(0, counter)

    reads = sample_reads()
    np.testing.assert_allclose(vae.transform(loader).numpy(), expected, rtol=1e-6,
                               atol=1e-6)
    assert counter.sizes == [16, 16, 8]  # the loader's own batches
    # Only the input check reads samples one by one: the first batch.
    assert len(reads) == 16
    np.testing.assert_allclose(vae.transform(dataset).numpy(), expected, rtol=1e-6,
                               atol=1e-6)
    assert len(reads) == 17


def test_loader_with_its_own_collation_is_used_as_it_is(small_data):
    vae = make_mlp_vae(stochastic_transform=False).fit(small_data)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(small_data))

    def doubled(samples):
        return torch.stack([sample[0] for sample in samples]) * 2

    loader = torch.utils.data.DataLoader(dataset, batch_size=16, collate_fn=doubled)
    np.testing.assert_allclose(
        vae.transform(loader).numpy(), vae.transform(small_data * 2), rtol=1e-5,
        atol=1e-6
    )


def test_training_from_a_shuffled_tensor_loader_matches_the_loader_itself(
    small_data, sample_reads
):
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(small_data))

    def same_collation(samples):  # not the default: the loader is used as it is
        return torch.utils.data.default_collate(samples)

    as_given = make_mlp_vae().fit(
        torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True,
                                    collate_fn=same_collation)
    )
    reads = sample_reads()
    sliced = make_mlp_vae().fit(
        torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True)
    )
    # The input check's first batch; training indexes the tensors.
    assert len(reads) == 16
    # The same shuffles and the same batches: the same weights.
    for a, b in zip(as_given.parameters(), sliced.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_callbacks_that_schedule_run_in_lightnings_loop(small_data):
    from pytorch_lightning.callbacks import (
        GradientAccumulationScheduler,
        StochasticWeightAveraging,
    )

    keeper = KeepTrainer()
    averaged = make_mlp_vae(
        max_epochs=3,
        callbacks=[StochasticWeightAveraging(swa_lrs=1e-3, swa_epoch_start=1,
                                             annealing_epochs=1), keeper]
    ).fit(small_data)
    assert averaged.automatic_optimization
    # The averaging schedule, which only Lightning's loop steps, reached its rate.
    assert keeper.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-3)
    accumulated = make_mlp_vae(
        callbacks=[GradientAccumulationScheduler({0: 3})]
    ).fit(small_data)
    assert accumulated.n_steps_ == 2  # 3 batches of 16 per epoch, 2 epochs
