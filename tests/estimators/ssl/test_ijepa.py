"""I-JEPA as a nidl estimator: blocks, predictor, moving average, errors."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn

from nidl.backbones.volume import Block, VisionTransformer3D
from nidl.estimators.ssl import IJEPA
from nidl.estimators.ssl.ijepa import MultiBlockMasker

QUIET = {
    "enable_progress_bar": False,
    "logger": False,
    "enable_checkpointing": False,
    "enable_model_summary": False,
}
FAST = {"lr_scheduler": "none", "max_epochs": 1, "random_state": 0, **QUIET}


class PatchEmbed2D(nn.Module):
    """Patches of an image as tokens, with a grid_size as the ViTs have."""

    def __init__(self, img_size, patch_size, in_chans, embed_dim):
        super().__init__()
        self.grid_size = (img_size // patch_size,) * 2
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class ViT2D(nn.Module):
    """The smallest 2-D vision transformer with the attributes I-JEPA reads."""

    def __init__(self, img_size=5, patch_size=1, in_chans=1, embed_dim=10, depth=1,
                 num_heads=2):
        super().__init__()
        self.embed_dim = embed_dim
        self.patch_embed = PatchEmbed2D(img_size, patch_size, in_chans, embed_dim)
        n_patches = (img_size // patch_size) ** 2
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, n_patches, embed_dim))
        self.no_embed_class = True
        self.blocks = nn.Sequential(
            *(Block(embed_dim, num_heads, qkv_bias=True) for _ in range(depth))
        )
        self.norm = nn.LayerNorm(embed_dim)


class FlatPatchEmbed(nn.Module):
    """Features of any width as the tokens of a 2 x 2 grid (for the common checks)."""

    grid_size = (2, 2)

    def __init__(self, embed_dim):
        super().__init__()
        self.embed_dim = embed_dim
        self.proj = nn.Sequential(nn.Flatten(), nn.LazyLinear(4 * embed_dim))

    def forward(self, x):
        return self.proj(x).view(len(x), 4, self.embed_dim)


class FlatViT(nn.Module):
    def __init__(self, embed_dim=8):
        super().__init__()
        self.embed_dim = embed_dim
        self.patch_embed = FlatPatchEmbed(embed_dim)
        self.blocks = nn.Sequential(Block(embed_dim, 2, qkv_bias=True))
        self.norm = nn.LayerNorm(embed_dim)


def vit3d(**kwargs):
    torch.manual_seed(0)
    options = {"img_size": 8, "patch_size": 2, "embed_dim": 16, "depth": 1,
               "num_heads": 2, **kwargs}
    return VisionTransformer3D(**options)


def volumes(n=16, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 1, 8, 8, 8)).astype(np.float32)


def small_ijepa(encoder=None, **kwargs):
    options = {"predictor_embed_dim": 16, "predictor_depth_pred": 1, "min_keep": 1,
               "batch_size": 8, **FAST, **kwargs}
    return IJEPA(vit3d() if encoder is None else encoder, **options)


def test_upstream_2d_vit_transform_shape():
    # Upstream's test: a 5 x 5 image in 1 x 1 patches, embed_dim 10, dim=2.
    torch.manual_seed(0)
    X = torch.randn(20, 1, 5, 5)
    model = IJEPA(ViT2D(), dim=2, min_keep=0, batch_size=10, **FAST)
    assert model.fit(X).transform(X).shape == (20, 10)
    assert not hasattr(model, "teacher")
    assert {"context_encoder", "target_encoder", "predictor"} <= set(
        dict(model.named_children())
    )


def test_volumes_give_token_means_of_the_context_encoder():
    X = volumes()
    model = small_ijepa().fit(X)
    Z = model.transform(X)
    assert Z.shape == (16, 16)
    with torch.no_grad():
        expected = model.context_encoder(torch.from_numpy(X)).mean(dim=1).numpy()
    np.testing.assert_allclose(Z, expected, atol=1e-5)
    assert np.isfinite(model.history_["train/loss"]).all()


def test_training_step_outputs_and_target_tokens_are_layer_normed():
    model = small_ijepa(num_target_blocks=3)
    x = torch.from_numpy(volumes(4))
    outputs = model.training_step(x, 0)
    z_pred, z_target = outputs["z_pred"], outputs["z_target"]
    assert z_pred.shape == z_target.shape
    assert z_pred.shape[0] == 3 * 4 and z_pred.shape[2] == 16
    assert not z_target.requires_grad and outputs["loss"].requires_grad
    np.testing.assert_allclose(z_target.mean(-1).numpy(), 0, atol=1e-5)
    np.testing.assert_allclose(z_target.var(-1, unbiased=False).numpy(), 1, atol=1e-3)
    # The loss is the smooth L1 distance of the two.
    expected = nn.functional.smooth_l1_loss(z_pred, z_target)
    assert float(outputs["loss"].detach()) == pytest.approx(float(expected), rel=1e-5)


def test_masker_blocks_are_disjoint_sized_and_in_range():
    torch.manual_seed(0)
    masker = MultiBlockMasker((8, 8, 8), (0.85, 1.0), (0.15, 0.2), (0.75, 1.5),
                              num_target_blocks=4, min_keep=4, allow_overlap=False)
    for _ in range(5):
        context, targets = masker(6)
        assert context.shape[0] == 6 and targets.shape[:2] == (4, 6)
        assert context.shape[1] > 4 and targets.shape[2] > 4
        assert int(context.max()) < 512 and int(targets.max()) < 512
        # Equal sides' product: a target covers 6 % to 30 % of the grid
        # (rounded sides around 15 % to 20 %).
        assert 0.05 * 512 <= targets.shape[2] <= 0.3 * 512
        for b in range(6):
            kept = set(context[b].tolist())
            assert len(kept) == context.shape[1]  # no repeated patch
            for m in range(4):
                assert not kept & set(targets[m, b].tolist())


def test_masker_with_overlap_keeps_the_whole_context_block():
    torch.manual_seed(0)
    masker = MultiBlockMasker((6, 6), (1.0, 1.0), (0.2, 0.2), (1.0, 1.0),
                              num_target_blocks=2, min_keep=0, allow_overlap=True)
    context, targets = masker(3)
    # A context block leaves one row and column out: 5 x 5 patches.
    assert context.shape == (3, 25)
    overlap = [set(context[b].tolist()) & set(targets[0, b].tolist()) for b in range(3)]
    assert any(overlap)


def test_target_encoder_is_the_moving_average():
    X = volumes()
    encoder = vit3d()
    initial = {k: v.clone() for k, v in encoder.state_dict().items()}
    frozen = small_ijepa(encoder, ema_start=1.0, ema_end=1.0, max_epochs=2).fit(X)
    target = frozen.target_encoder.vit.state_dict()
    assert all(torch.equal(target[k], initial[k]) for k in initial)
    assert not any(torch.equal(encoder.state_dict()[k], initial[k])
                   for k in initial if k.endswith("weight") and "norm" not in k)
    moving = small_ijepa(vit3d(), ema_start=0.5, ema_end=0.5, max_epochs=2).fit(X)
    target = moving.target_encoder.vit.state_dict()
    assert not torch.equal(target["blocks.0.attn.qkv.weight"],
                           initial["blocks.0.attn.qkv.weight"])
    assert not any(p.requires_grad for p in moving.target_encoder.parameters())


def test_encoder_without_vit_attributes_is_refused_before_training():
    with pytest.raises(TypeError, match="patch_embed, blocks, norm, embed_dim"):
        IJEPA(nn.Linear(4, 2), **FAST).fit(np.zeros((4, 4), dtype=np.float32))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"dim": 2}, "set dim=3"),
        ({"dim": 4}, "dim must be 2"),
        ({"min_keep": 100}, "min_keep=100"),
        ({"target_block_scale": (0.3, 0.2)}, "low <= high"),
        ({"context_block_scale": (0.5, 1.5)}, "<= 1.0"),
        ({"predictor_embed_dim": 15}, "multiple of the encoder's 2"),
        ({"ema_start": 1.5}, "ema_start == 1.5"),
        ({"ema_start": 0.9, "ema_end": 0.8}, "ema_start=0.9 is larger"),
    ],
)
def test_bad_parameters_are_refused_by_fit(params, match):
    model = small_ijepa(**params)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        model.fit(volumes(8))
    assert all(torch.equal(model.encoder.state_dict()[k], v) for k, v in before.items())


def test_dynamic_image_size_is_refused():
    with pytest.raises(ValueError, match="dynamic_img_size=False"):
        small_ijepa(vit3d(dynamic_img_size=True)).fit(volumes(8))


def test_wrong_volume_shape_is_refused_naming_the_shape():
    with pytest.raises(ValueError, match=r"\(6, 6, 6\)"):
        small_ijepa().fit(np.zeros((8, 1, 6, 6, 6), dtype=np.float32))


def test_clone_trains_as_the_original_and_labels_are_ignored():
    X, y = volumes(), np.arange(16.0)
    first = small_ijepa()
    second = clone(first)
    Z1 = first.fit(X).transform(X)
    Z2 = second.fit(torch.utils.data.TensorDataset(torch.from_numpy(X),
                                                   torch.from_numpy(y))).transform(X)
    # Same seed, same data; the dataset's batches (x, y) use x only.
    np.testing.assert_allclose(Z1, Z2, atol=1e-5)


def test_validation_loss_is_recorded_and_lambda_logged():
    X = volumes()
    lambdas = []

    class Record(__import__("pytorch_lightning").Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            lambdas.append(module.momentum_updater.cur_lambda)

    model = small_ijepa(max_epochs=2, callbacks=[Record()]).fit(X, val_dataloader=X)
    assert len(model.history_["val/loss"]) == 2
    assert lambdas[0] == pytest.approx(0.996) and lambdas[-1] > lambdas[0]


# ----------------------------------------------------------------------
# scikit-learn's common checks
# ----------------------------------------------------------------------
EXPECTED_FAILED_CHECKS = {
    "check_no_attributes_set_in_init": (
        "the estimator is a LightningModule, whose constructor sets 'training', "
        "'prepare_data_per_node' and "
        "'allow_zero_length_dataloader_with_multiple_devices', and it builds "
        "its predictor at construction, as the reference API does"
    ),
    "check_estimators_overwrite_params": (
        "the encoder parameter is the vision transformer that fit trains in "
        "place; every fit and every clone starts again from its initial state"
    ),
}


def checked_estimators():
    torch.manual_seed(0)
    # A lazy layer adapts to the number of features of every check.
    yield IJEPA(FlatViT(), dim=2, min_keep=0, predictor_embed_dim=8,
                predictor_depth_pred=1, batch_size=32, **FAST)


@parametrize_with_checks(
    list(checked_estimators()),
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
