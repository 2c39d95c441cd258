"""The 3-D Vision Transformer, its position embeddings and its decoder."""

import inspect
import math

import numpy as np
import pytest
import torch
from torch import nn

from nidl.backbones.volume import (
    Block,
    PatchEmbed3D,
    VisionTransformer3D,
    VisionTransformer3DDecoder,
    vit_base_patch16_128,
    vit_base_patch16_128_decoder,
    vit_large_patch16_128,
    vit_small_patch16_128,
)
from nidl.backbones.volume.utils import (
    build_1d_sincos_posemb,
    build_2d_sincos_posemb,
    build_3d_sincos_posemb,
)
from nidl.backbones.volume.vit import DropPath, checkpoint_filter_fn

SHAPE = (16, 8, 12)  # a 4 x 2 x 3 grid of 4-voxel patches: not cubic
GRID = (4, 2, 3)
N_PATCHES = 24


def tiny_vit(**kwargs):
    options = {"img_size": SHAPE, "patch_size": 4, "embed_dim": 16, "depth": 2,
               "num_heads": 2}
    return VisionTransformer3D(**{**options, **kwargs})


def volumes(batch=2, channels=1, shape=SHAPE, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, *shape, generator=generator)


def n_parameters(build, **kwargs):
    with torch.device("meta"):  # no memory and no initialisation: fast
        return sum(p.numel() for p in build(**kwargs).parameters())


# --------------------------------------------------------------------------
# Parameter counts of the presets: those of upstream nidl's ViTs
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "build, learned, fixed",
    [
        (vit_small_patch16_128, 23_064_960, 22_867_968),
        (vit_base_patch16_128, 88_597_248, 88_203_264),
        (vit_large_patch16_128, 307_033_088, 306_507_776),
    ],
)
@pytest.mark.parametrize("pos_embed", ["learned", "sincos", "none"])
def test_preset_parameter_counts(build, learned, fixed, pos_embed):
    expected = learned if pos_embed == "learned" else fixed
    assert n_parameters(build, pos_embed=pos_embed) == expected


def test_parameter_count_formula_on_a_real_model():
    # depth (12 C^2 + 13 C) + (p^3 + 1) C (patch conv) + C (cls)
    # + (N + 1) C (positions) + 2 C (final norm), counted on a CPU model.
    model = tiny_vit()
    c, depth, n = 16, 2, N_PATCHES
    expected = depth * (12 * c * c + 13 * c) + (64 + 1) * c + c + (n + 1) * c + 2 * c
    assert sum(p.numel() for p in model.parameters()) == expected


def test_presets_forward_kwargs_and_may_replace_their_own():
    with torch.device("meta"):
        model = vit_base_patch16_128(in_chans=2, num_classes=3, img_size=64)
    assert model.patch_embed.proj.in_channels == 2
    assert model.head.out_features == 3
    assert model.patch_embed.grid_size == (4, 4, 4)
    assert model.embed_dim == 768 and len(model.blocks) == 12
    assert model.blocks[0].attn.num_heads == 12


# --------------------------------------------------------------------------
# Shapes and tokens
# --------------------------------------------------------------------------
@pytest.mark.parametrize("global_pool", ["cls_token", "avg", "max", "avgmax"])
def test_forward_gives_one_vector_per_sample(global_pool):
    torch.manual_seed(0)
    model = tiny_vit(global_pool=global_pool).eval()
    x = volumes()
    out = model(x)
    assert out.shape == (2, 16) and torch.isfinite(out).all()
    tokens = model.forward_features(x)
    assert tokens.shape == (2, 1 + N_PATCHES, 16)
    patches = tokens[:, 1:]
    expected = {
        "cls_token": tokens[:, 0],
        "avg": patches.mean(1),
        "max": patches.amax(1),
        "avgmax": (patches.mean(1) + patches.amax(1)) / 2,
    }[global_pool]
    torch.testing.assert_close(model.forward_head(tokens, pre_logits=True),
                               model.fc_norm(expected))
    # Pooling the patch tokens normalises after pooling, not before.
    pooled = global_pool != "cls_token"
    assert isinstance(model.fc_norm, nn.LayerNorm) is pooled
    assert isinstance(model.norm, nn.LayerNorm) is not pooled


def test_head_and_reset_classifier():
    model = tiny_vit(num_classes=5)
    assert model(volumes()).shape == (2, 5)
    assert model.get_classifier() is model.head
    model.reset_classifier(3, global_pool="avg")
    assert model.global_pool == "avg" and model.num_classes == 3
    assert model(volumes()).shape == (2, 3)
    assert (model.head.bias == 0).all()
    model.reset_classifier(0)
    assert isinstance(model.get_classifier(), nn.Identity)
    assert model(volumes()).shape == (2, 16)
    with pytest.raises(ValueError, match="global_pool"):
        model.reset_classifier(2, global_pool="mean")


def test_prefix_tokens():
    model = tiny_vit(reg_tokens=3)
    assert model.num_prefix_tokens == 4
    assert model.reg_token.shape == (1, 3, 16)
    assert model.pos_embed.shape == (1, 4 + N_PATCHES, 16)
    assert model.forward_features(volumes()).shape == (2, 4 + N_PATCHES, 16)

    no_class = tiny_vit(class_token=False, reg_tokens=2, global_pool="avg")
    assert no_class.cls_token is None and no_class.num_prefix_tokens == 2
    tokens = no_class.forward_features(volumes())
    assert tokens.shape == (2, 2 + N_PATCHES, 16)
    # Register tokens are left out of the average.
    torch.testing.assert_close(no_class.pool(tokens), tokens[:, 2:].mean(1))


def test_class_token_pooling_needs_a_class_token():
    model = tiny_vit(class_token=False)
    assert model.num_prefix_tokens == 0
    assert model.forward_features(volumes()).shape == (2, N_PATCHES, 16)
    with pytest.raises(ValueError, match="class_token=False"):
        model(volumes())


def test_empty_global_pool_keeps_the_sequence():
    model = tiny_vit(global_pool="")
    tokens = model.forward_features(volumes())
    assert model.pool(tokens) is tokens
    with pytest.raises(ValueError, match="forward_features"):
        model(volumes())


def test_no_embed_class_puts_positions_on_patches_only():
    model = tiny_vit(no_embed_class=True, reg_tokens=1, depth=0, final_norm=False)
    assert model.pos_embed.shape == (1, N_PATCHES, 16)
    tokens = model.forward_features(volumes())
    # Without blocks and norms, the prefix tokens come out as they are.
    torch.testing.assert_close(tokens[:, 0], model.cls_token[0].expand(2, -1))
    torch.testing.assert_close(tokens[:, 1], model.reg_token[0].expand(2, -1))
    patches = model.patch_embed(volumes()) + model.pos_embed
    torch.testing.assert_close(tokens[:, 2:], patches)


def test_tokens_are_row_major_over_the_grid():
    embed = PatchEmbed3D(SHAPE, 4, embed_dim=1, bias=False)
    with torch.no_grad():
        embed.proj.weight.fill_(1 / 64)  # the mean of each patch
    x = torch.zeros(1, 1, *SHAPE)
    x[0, 0, 8:12, 4:8, 0:4] = 1.0  # patch (2, 1, 0)
    tokens = embed(x)[0, :, 0]
    assert tokens.argmax().item() == np.ravel_multi_index((2, 1, 0), GRID)
    assert embed(x).shape == (1, N_PATCHES, 1)
    flat = PatchEmbed3D(SHAPE, 4, embed_dim=3, flatten=False)
    assert flat(x).shape == (1, 3, *GRID)
    grid = PatchEmbed3D(SHAPE, (4, 2, 3), embed_dim=3, output_fmt="NHWDC")
    assert grid.grid_size == (4, 4, 4) and grid(x).shape == (1, 4, 4, 4, 3)


@pytest.mark.parametrize("pos_embed", ["learned", "sincos", "none"])
def test_position_embeddings(pos_embed):
    model = tiny_vit(pos_embed=pos_embed, reg_tokens=1)
    state = model.state_dict()
    if pos_embed == "learned":
        assert isinstance(model.pos_embed, nn.Parameter)
        assert "pos_embed" in state and "pos_embed" in model.no_weight_decay()
    elif pos_embed == "sincos":
        # A fixed buffer, rebuilt at construction, not saved in checkpoints.
        assert not isinstance(model.pos_embed, nn.Parameter)
        assert "pos_embed" in dict(model.named_buffers())
        assert "pos_embed" not in state
        assert "pos_embed" not in model.no_weight_decay()
        assert (model.pos_embed[:, :2] == 0).all()  # cls and register rows
        expected = build_3d_sincos_posemb(*GRID, embed_dim=16).flatten(2)
        torch.testing.assert_close(model.pos_embed[0, 2:], expected[0].T)
    else:
        assert model.pos_embed is None and "pos_embed" not in state
    assert model.no_weight_decay() >= {"cls_token", "reg_token"}
    assert model(volumes()).shape == (2, 16)


def test_positions_tell_patches_apart():
    """A volume and the same volume with two patches swapped give different
    class tokens with positions, the same without."""
    x = volumes(1)
    swapped = x.clone()
    swapped[:, :, 0:4], swapped[:, :, 4:8] = x[:, :, 4:8], x[:, :, 0:4]
    for pos_embed, differ in [("sincos", True), ("none", False)]:
        torch.manual_seed(0)
        model = tiny_vit(pos_embed=pos_embed).eval()
        with torch.no_grad():
            close = torch.allclose(model(x), model(swapped), atol=1e-5)
        assert close is not differ


@pytest.mark.parametrize("pos_embed", ["learned", "sincos"])
def test_dynamic_img_size(pos_embed):
    torch.manual_seed(0)
    model = tiny_vit(dynamic_img_size=True, pos_embed=pos_embed).eval()
    assert model(volumes(shape=SHAPE)).shape == (2, 16)
    # Another grid: positions are resampled (learned) or rebuilt (sincos).
    tokens = model.forward_features(volumes(shape=(8, 8, 20)))
    assert tokens.shape == (2, 1 + 2 * 2 * 5, 16)
    with pytest.raises(ValueError, match="multiple of patch_size"):
        model(volumes(shape=(8, 8, 10)))
    # On its own grid, the dynamic model is the static one.
    static = tiny_vit(pos_embed=pos_embed).eval()
    static.load_state_dict(model.state_dict())
    torch.testing.assert_close(static(volumes()), model(volumes()))


def test_init():
    torch.manual_seed(0)
    model = tiny_vit(embed_dim=64, num_classes=3)
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.LayerNorm)):
            assert (module.bias == 0).all(), name
    for tensor in (model.blocks[0].attn.qkv.weight, model.head.weight,
                   model.pos_embed, model.cls_token):
        assert 0.015 < tensor.std() < 0.025 and abs(tensor.mean()) < 0.01
    assert (model.norm.weight == 1).all()
    assert model.norm.eps == 1e-5


def test_block_options():
    block = Block(16, 2, qk_norm=True, scale_attn_norm=True, scale_mlp_norm=True,
                  init_values=0.1, drop_path=0.5, proj_bias=False)
    assert isinstance(block.attn.q_norm, nn.LayerNorm)
    assert isinstance(block.attn.norm, nn.LayerNorm)
    assert isinstance(block.mlp.norm, nn.LayerNorm)
    assert block.mlp.fc1.out_features == 64 and block.mlp.fc2.bias is None
    assert (block.ls1.gamma == 0.1).all()
    x = torch.randn(3, 5, 16)
    assert block.eval()(x).shape == x.shape
    model = tiny_vit(depth=3, drop_path_rate=0.2, qk_norm=True)
    rates = [getattr(b.drop_path1, "drop_prob", 0.0) for b in model.blocks]
    assert rates == pytest.approx([0.0, 0.1, 0.2])


def test_drop_path_keeps_the_expectation():
    drop = DropPath(0.25).train()
    torch.manual_seed(0)
    out = drop(torch.ones(20000, 3))
    kept = out[:, 0] != 0
    assert (out[kept] == 1 / 0.75).all()
    assert (out[~kept] == 0).all()
    assert abs(kept.float().mean().item() - 0.75) < 0.02
    x = torch.randn(4, 3)
    assert torch.equal(drop.eval()(x), x)


def test_attention_is_softmax_attention():
    """Against a hand-written attention on a tiny input."""
    torch.manual_seed(0)
    block = Block(8, 2)
    attn = block.attn
    x = torch.randn(1, 3, 8)
    q, k, v = attn.qkv(x).reshape(1, 3, 3, 2, 4).permute(2, 0, 3, 1, 4)
    weights = torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1)  # sqrt(4)
    expected = attn.proj((weights @ v).transpose(1, 2).reshape(1, 3, 8))
    torch.testing.assert_close(attn(x), expected)


def test_forward_intermediates():
    torch.manual_seed(0)
    model = tiny_vit(depth=3).eval()
    x = volumes()
    final, intermediates = model.forward_intermediates(x, indices=(0, -1))
    torch.testing.assert_close(final, model.forward_features(x))
    assert len(intermediates) == 2
    assert intermediates[0].shape == (2, 1 + N_PATCHES, 16)
    # The last block's output, normalised, is the final output.
    torch.testing.assert_close(model.norm(intermediates[1]), final)
    maps = model.forward_intermediates(x, indices=1, norm=True, output_fmt="NCHWD",
                                       intermediates_only=True)
    assert len(maps) == 1 and maps[0].shape == (2, 16, *GRID)
    with pytest.raises(ValueError, match="out of range"):
        model.forward_intermediates(x, indices=3)
    with pytest.raises(ValueError, match="output_fmt"):
        model.forward_intermediates(x, output_fmt="NCHW")


def test_attribute_names_of_a_token_by_token_driver():
    """What an estimator that selects tokens (I-JEPA) reads from the model."""
    model = tiny_vit(reg_tokens=1)
    for name in ("patch_embed", "cls_token", "reg_token", "pos_embed", "pos_drop",
                 "patch_drop", "norm_pre", "blocks", "norm", "fc_norm", "head",
                 "num_prefix_tokens", "embed_dim", "no_embed_class", "global_pool",
                 "has_class_token", "num_reg_tokens"):
        assert hasattr(model, name), name
    assert model.patch_embed.grid_size == GRID
    assert model.patch_embed.num_patches == N_PATCHES
    assert model.blocks[0].attn.num_heads == 2
    x = volumes()
    tokens = model._pos_embed(model.patch_embed(x))
    tokens = model.norm(model.blocks(model.norm_pre(tokens)))
    torch.testing.assert_close(tokens, model.forward_features(x))


def test_checkpoint_filter_fn_inflates_2d_weights():
    torch.manual_seed(0)
    model = VisionTransformer3D(img_size=(8, 8, 12), patch_size=4, embed_dim=16,
                                depth=1, num_heads=2, num_classes=3)
    source = VisionTransformer3D(img_size=(8, 8, 12), patch_size=4, embed_dim=16,
                                 depth=1, num_heads=2, num_classes=3)
    state = dict(source.state_dict())
    kernel_2d = torch.randn(16, 1, 4, 4)
    pos_2d = torch.randn(1, 1 + 3 * 3, 16)  # a class row and a 3 x 3 grid
    state["patch_embed.proj.weight"] = kernel_2d
    state["pos_embed"] = pos_2d
    state["head.weight"] = torch.randn(10, 16)  # another number of classes
    state["head.bias"] = torch.randn(10)
    state["fc.weight"] = torch.randn(2, 2)  # not in the model
    filtered = checkpoint_filter_fn(state, model)
    assert "head.weight" not in filtered and "fc.weight" not in filtered
    assert "blocks.0.attn.qkv.weight" in filtered
    kernel = filtered["patch_embed.proj.weight"]
    assert kernel.shape == (16, 1, 4, 4, 4)
    # A volume constant along the first axis gives the 2-D response.
    torch.testing.assert_close(kernel.sum(2), kernel_2d)
    pos = filtered["pos_embed"]
    assert pos.shape == (1, 1 + 2 * 2 * 3, 16)
    torch.testing.assert_close(pos[:, 0], pos_2d[:, 0])
    grid = pos[0, 1:].reshape(2, 2, 3, 16)
    torch.testing.assert_close(grid[:, :, 0], grid[:, :, 2])  # repeated in depth
    resized = torch.nn.functional.interpolate(
        pos_2d[:, 1:].reshape(1, 3, 3, 16).permute(0, 3, 1, 2), size=(2, 2),
        mode="bicubic", align_corners=False)
    torch.testing.assert_close(grid.sum(2), resized[0].permute(1, 2, 0))
    missing, unexpected = model.load_state_dict(filtered, strict=False)
    assert set(missing) == {"head.weight", "head.bias"} and not unexpected
    # The class row is dropped for positions of the patches only, and kept
    # beside the model's own register rows.
    for options, n_prefix in [({"no_embed_class": True}, 0), ({"reg_tokens": 2}, 3)]:
        other = VisionTransformer3D(img_size=(8, 8, 12), patch_size=4, embed_dim=16,
                                    depth=1, num_heads=2, **options)
        adapted = checkpoint_filter_fn({"pos_embed": pos_2d}, other)["pos_embed"]
        torch.testing.assert_close(adapted[:, n_prefix:], pos[:, 1:])
        if n_prefix:
            torch.testing.assert_close(adapted[:, 0], pos_2d[:, 0])
            torch.testing.assert_close(adapted[:, 1:3], other.pos_embed[:, 1:3])
    # A 3-D checkpoint of the same model passes unchanged.
    same = checkpoint_filter_fn(source.state_dict(), source)
    assert all(torch.equal(same[k], v) for k, v in source.state_dict().items())


# --------------------------------------------------------------------------
# Position embeddings
# --------------------------------------------------------------------------
def test_3d_sincos_codes_each_axis_on_a_non_cubic_grid():
    h, w, d, dim = 5, 3, 4, 36  # P = 6 frequencies per block
    pos = build_3d_sincos_posemb(h, w, d, embed_dim=dim)
    assert pos.shape == (1, dim, h, w, d) and pos.dtype == torch.float32
    omega = 10000.0 ** (-torch.arange(6) / 6)
    coordinates = torch.meshgrid(torch.arange(h), torch.arange(w), torch.arange(d),
                                 indexing="ij")
    for axis, coordinate in enumerate(coordinates):
        angles = coordinate[None].float() * omega[:, None, None, None]
        torch.testing.assert_close(pos[0, 12 * axis:12 * axis + 6], torch.sin(angles))
        torch.testing.assert_close(pos[0, 12 * axis + 6:12 * axis + 12],
                                   torch.cos(angles))
    # The first blocks depend on the first coordinate only.
    first = pos[0, :12]
    assert torch.equal(first, first[:, :, :1, :1].expand_as(first))
    assert not torch.equal(first[:, 0], first[:, 1])


def test_3d_sincos_truncates_to_embed_dim():
    pos = build_3d_sincos_posemb(2, 2, 2, embed_dim=1024)
    assert pos.shape == (1, 1024, 2, 2, 2)  # 6 blocks of 171, last 2 dropped
    # Channel 0: sin(h), channel 171: cos(h), channel 342: sin(w).
    torch.testing.assert_close(pos[0, 0, :, 0, 0], torch.sin(torch.arange(2.0)))
    torch.testing.assert_close(pos[0, 171, :, 0, 0], torch.cos(torch.arange(2.0)))
    torch.testing.assert_close(pos[0, 342, 0, :, 0], torch.sin(torch.arange(2.0)))
    full = build_3d_sincos_posemb(2, 2, 2, embed_dim=1026)
    torch.testing.assert_close(full[:, :1024], pos)


def test_2d_sincos_codes_each_axis_on_a_non_square_grid():
    pos = build_2d_sincos_posemb(3, 5, embed_dim=8, temperature=100.0)
    assert pos.shape == (1, 8, 3, 5)
    omega = torch.tensor([1.0, 0.1])  # 100 ** (-j / 2)
    rows = torch.arange(3.0)[:, None] * omega
    cols = torch.arange(5.0)[:, None] * omega
    torch.testing.assert_close(pos[0, 0:2, :, 0], torch.sin(rows).T)
    torch.testing.assert_close(pos[0, 2:4, :, 0], torch.cos(rows).T)
    torch.testing.assert_close(pos[0, 4:6, 0, :], torch.sin(cols).T)
    torch.testing.assert_close(pos[0, 6:8, 0, :], torch.cos(cols).T)
    with pytest.raises(ValueError, match="multiple of 4"):
        build_2d_sincos_posemb(3, 5, embed_dim=6)


def test_1d_sincos_is_the_transformer_encoding():
    pos = build_1d_sincos_posemb(7, embed_dim=6)
    assert pos.shape == (1, 7, 6)
    t = torch.arange(7.0)[:, None]
    omega = 10000.0 ** (-torch.arange(0, 6, 2) / 6)
    torch.testing.assert_close(pos[0, :, 0::2], torch.sin(t * omega))
    torch.testing.assert_close(pos[0, :, 1::2], torch.cos(t * omega))
    with pytest.raises(ValueError, match="even"):
        build_1d_sincos_posemb(7, embed_dim=5)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: tiny_vit(img_size=(16, 8, 10)), "multiple of"),
        (lambda: tiny_vit(patch_size=(4, 4)), "patch_size"),
        (lambda: tiny_vit(global_pool="token"), "global_pool"),
        (lambda: tiny_vit(pos_embed="rope"), "pos_embed"),
        (lambda: tiny_vit(num_heads=3), "num_heads"),
        (lambda: PatchEmbed3D(8, 4, output_fmt="NCL"), "output_fmt"),
        (lambda: tiny_vit()(volumes(shape=(16, 8, 16))), "img_size"),
        (lambda: tiny_vit()(torch.zeros(2, 16, 8, 12)), "batch of volumes"),
        (lambda: VisionTransformer3DDecoder((16, 8, 10), 4, 2), "multiple of"),
        (lambda: VisionTransformer3DDecoder((16, 8), 4, 2), "spatial_shape"),
        (lambda: VisionTransformer3DDecoder(SHAPE, 4, 0), "in_features"),
        (lambda: VisionTransformer3DDecoder(SHAPE, 4, 2, pos_embed="none"),
         "pos_embed"),
    ],
)
def test_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_length_mismatch_with_a_custom_patch_embedding():
    class LooseEmbed(PatchEmbed3D):  # ignores the image size it was built for
        def __init__(self, **kwargs):
            super().__init__(**{**kwargs, "strict_img_size": False})

    model = tiny_vit(embed_layer=LooseEmbed)
    with pytest.raises(ValueError, match="position embeddings"):
        model(volumes(shape=(16, 8, 16)))


# --------------------------------------------------------------------------
# Decoder and VAE
# --------------------------------------------------------------------------
@pytest.mark.parametrize("pos_embed", ["learned", "sincos"])
def test_decoder_shape(pos_embed):
    torch.manual_seed(0)
    decoder = VisionTransformer3DDecoder(SHAPE, (4, 2, 3), 3, out_channels=2,
                                         embed_dim=16, depth=1, num_heads=2,
                                         pos_embed=pos_embed)
    assert decoder.grid_size == (4, 4, 4)
    assert decoder.encoder_shapes == [SHAPE, (4, 4, 4)]
    out = decoder(torch.randn(5, 3))
    assert out.shape == (5, 2, *SHAPE) and torch.isfinite(out).all()
    # Each patch of the output comes from its own token: patches differ.
    patches = out[0, 0].reshape(4, 4, 4, 2, 4, 3)
    assert not torch.allclose(patches[0, :, 0], patches[1, :, 0])
    assert ("pos_embed" in decoder.state_dict()) is (pos_embed == "learned")


def test_decoder_presets():
    with torch.device("meta"):
        decoder = vit_base_patch16_128_decoder(8, out_channels=2, depth=2)
    assert decoder.spatial_shape == (128, 128, 128)
    assert decoder.unpatch.kernel_size == (16, 16, 16)
    assert decoder.unpatch.out_channels == 2
    assert math.prod(decoder.grid_size) == decoder.pos_embed.shape[1] == 512


def test_vae_with_a_vit_on_4mm_brain_volumes():
    pytest.importorskip("nilearn")
    from nilearn.datasets import load_mni152_brain_mask

    from nidl.datasets import make_brain_cohort
    from nidl.estimators.autoencoders import VAE
    from nidl.maskers import NiftiVolumeMasker
    from nidl.transforms import CropOrPad

    images, _ = make_brain_cohort(12, resolution=4, random_state=0)
    masker = NiftiVolumeMasker(load_mni152_brain_mask(resolution=4)).fit()
    boxes = masker.transform(images)  # (12, 1, 36, 45, 39)
    shape = (40, 48, 40)  # the box padded to multiples of the 8-voxel patches
    crop = CropOrPad(shape)
    X = np.stack([crop(box) for box in boxes]).astype(np.float32)
    X = (X - X.mean()) / X.std()
    torch.manual_seed(0)
    encoder = VisionTransformer3D(shape, 8, embed_dim=32, depth=1, num_heads=2)
    decoder = VisionTransformer3DDecoder(shape, 8, 4, embed_dim=32, depth=1,
                                         num_heads=2)
    vae = VAE(encoder, decoder, encoder_out_dim=encoder.embed_dim, latent_dim=4,
              lr=1e-3, max_epochs=3, batch_size=4, enable_progress_bar=False,
              accelerator="cpu", random_state=0, logger=False,
              enable_checkpointing=False)
    Z = vae.fit(X).transform(X)
    losses = vae.history_["train/loss"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert Z.shape == (12, 4) and np.isfinite(Z).all()
    assert vae.inverse_transform(Z).shape == X.shape


def test_signature_is_upstream():
    parameters = inspect.signature(VisionTransformer3D).parameters
    defaults = {name: p.default for name, p in parameters.items()}
    assert list(defaults) == [
        "img_size", "patch_size", "in_chans", "num_classes", "global_pool",
        "embed_dim", "depth", "num_heads", "mlp_ratio", "qkv_bias", "qk_norm",
        "scale_attn_norm", "scale_mlp_norm", "proj_bias", "class_token",
        "reg_tokens", "no_embed_class", "pre_norm", "final_norm", "fc_norm",
        "dynamic_img_size", "pos_embed", "drop_rate", "pos_drop_rate",
        "proj_drop_rate", "attn_drop_rate", "drop_path_rate", "embed_layer",
        "norm_layer", "act_layer", "block_fn", "mlp_layer", "attn_layer",
    ]
    assert defaults["global_pool"] == "cls_token" and defaults["embed_dim"] == 768
    assert defaults["qkv_bias"] is True and defaults["fc_norm"] is None
    assert defaults["pos_embed"] == "learned"
    assert defaults["embed_layer"] is PatchEmbed3D
    assert defaults["norm_layer"] is nn.LayerNorm and defaults["block_fn"] is Block
    assert str(inspect.signature(PatchEmbed3D)) == (
        "(img_size, patch_size, in_chans=1, embed_dim=768, bias=True, "
        "strict_img_size=True, flatten=True, output_fmt='NLC')")
