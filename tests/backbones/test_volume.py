"""3-D encoders with upstream nidl's names and defaults, and their decoders."""

import inspect

import numpy as np
import pytest
import torch

from nidl.backbones.volume import (
    AlexNet,
    AlexNetDecoder,
    BasicBlock,
    Bottleneck,
    DenseNet,
    DenseNetDecoder,
    ResNet,
    ResNetDecoder,
    densenet121,
    densenet121_decoder,
    resnet18,
    resnet18_decoder,
    resnet18_trunc,
    resnet50,
    resnet50_decoder,
    resnet50_trunc,
)
from nidl.estimators.autoencoders import VAE

# Parameter counts of upstream nidl's networks (nidl/volume/backbones/) for
# the default arguments, counted with sum(p.numel() for p in m.parameters())
# on its modules.
UPSTREAM_COUNTS = {
    "resnet18": (resnet18, 33_422_656),
    "densenet121": (densenet121, 11_765_376),
    "DenseNet": (DenseNet, 11_109_072),
    "AlexNet": (AlexNet, 2_570_240),
}
# Upstream's resnet50 has 46,417,728 parameters, but its embedding takes 512
# features where its last stage gives 2048, so that its forward pass fails;
# ours embeds the 2048 features.
UPSTREAM_RESNET50 = 46_417_728


def n_parameters(build, **kwargs):
    with torch.device("meta"):  # no memory and no initialisation: fast
        return sum(p.numel() for p in build(**kwargs).parameters())


@pytest.mark.parametrize("name", UPSTREAM_COUNTS)
def test_parameter_counts_equal_upstream(name):
    build, count = UPSTREAM_COUNTS[name]
    assert n_parameters(build) == count


def test_resnet50_embeds_the_features_of_its_last_stage():
    assert n_parameters(resnet50) == UPSTREAM_RESNET50 + (2048 - 512) * 512
    with torch.device("meta"):
        assert resnet50().embedding.in_features == 2048


@pytest.mark.parametrize(
    "constructor, signature",
    [
        (ResNet, ("(block, layers, in_channels=1, zero_init_residual=False, groups=1, "
                  "width_per_group=64, replace_stride_with_dilation=None, "
                  "norm_layer=None, initial_kernel_size=7, n_embedding=512)")),
        (DenseNet, ("(growth_rate=32, block_config=(3, 12, 24, 16), "
                    "num_init_features=64, bn_size=4, in_channels=1, n_embedding=512, "
                    "memory_efficient=False)")),
        (AlexNet, "(n_embedding=128, in_channels=1)"),
    ],
)
def test_signatures_are_upstream(constructor, signature):
    assert str(inspect.signature(constructor)) == signature


def test_state_dict_keys_follow_upstream():
    """Upstream's checkpoints load: the modules have its names."""
    with torch.device("meta"):
        keys = {
            "resnet": resnet50().state_dict(),
            "densenet": densenet121().state_dict(),
            "alexnet": AlexNet().state_dict(),
        }
    assert {"conv1.weight", "bn1.running_mean", "layer1.0.downsample.0.weight",
            "layer4.2.bn3.weight", "embedding.bias"} <= set(keys["resnet"])
    assert {"features.conv0.weight", "features.denseblock1.denselayer6.conv2.weight",
            "features.transition3.conv.weight",
            "embedding.weight"} <= set(keys["densenet"])
    assert {"features.0.weight", "features.14.weight", "features.15.running_var",
            "regressor.weight"} <= set(keys["alexnet"])


def small_resnet18(**kwargs):
    return resnet18(width_per_group=4, **kwargs)


def small_resnet18_decoder(shape, in_features, **kwargs):
    return resnet18_decoder(shape, in_features, width_per_group=4, **kwargs)


def dilated_resnet18(**kwargs):
    return resnet18(width_per_group=4, initial_kernel_size=3,
                    replace_stride_with_dilation=(False, True, True), **kwargs)


def dilated_resnet18_decoder(shape, in_features, **kwargs):
    return resnet18_decoder(shape, in_features, width_per_group=4,
                            initial_kernel_size=3,
                            replace_stride_with_dilation=(False, True, True), **kwargs)


def small_resnet50(**kwargs):
    return resnet50(width_per_group=1, **kwargs)


def small_resnet50_decoder(shape, in_features, **kwargs):
    return resnet50_decoder(shape, in_features, width_per_group=1, **kwargs)


def grouped_resnet(**kwargs):
    return ResNet(Bottleneck, (1, 1, 1, 1), groups=2, width_per_group=2, **kwargs)


def grouped_resnet_decoder(shape, in_features, **kwargs):
    return ResNetDecoder(Bottleneck, (1, 1, 1, 1), shape, in_features, groups=2,
                         width_per_group=2, **kwargs)


DENSENET = {"growth_rate": 4, "block_config": (2, 1, 2, 1), "num_init_features": 8,
            "bn_size": 2}


def small_densenet(**kwargs):
    return DenseNet(**DENSENET, **kwargs)


def small_densenet_decoder(shape, in_features, **kwargs):
    return DenseNetDecoder(shape, in_features, **DENSENET, **kwargs)


RESNET_MAPS = ["conv1", "maxpool", "layer2", "layer3", "layer4"]
# family: encoder, decoder, the encoder's modules whose outputs have the
# shapes the decoder records, odd volume shapes it takes
FAMILIES = {
    "resnet18": (small_resnet18, small_resnet18_decoder, RESNET_MAPS,
                 [(17, 21, 15), (33, 41, 29), (45, 54, 45)]),
    "resnet18-dilated": (dilated_resnet18, dilated_resnet18_decoder, RESNET_MAPS,
                         [(17, 21, 15)]),
    "resnet50": (small_resnet50, small_resnet50_decoder, RESNET_MAPS, [(17, 21, 15)]),
    "resnet-grouped": (grouped_resnet, grouped_resnet_decoder, RESNET_MAPS,
                       [(13, 8, 11)]),
    "densenet": (small_densenet, small_densenet_decoder,
                 ["features.conv0", "features.pool0", "features.transition1",
                  "features.transition2", "features.transition3"],
                 [(33, 41, 29), (45, 54, 45)]),
    "alexnet": (AlexNet, AlexNetDecoder,
                ["features.0", "features.3", "features.4", "features.7"],
                [(33, 41, 35), (45, 54, 45)]),
}
CASES = [(family, shape) for family, spec in FAMILIES.items() for shape in spec[3]]


@pytest.mark.parametrize("family, shape", CASES, ids=[f"{f}-{s}" for f, s in CASES])
def test_encoder_and_decoder_shapes(family, shape):
    build_encoder, build_decoder, map_names, _ = FAMILIES[family]
    torch.manual_seed(0)
    encoder = build_encoder(in_channels=2, n_embedding=6)
    maps = []
    for name in map_names:
        encoder.get_submodule(name).register_forward_hook(
            lambda module, args, out: maps.append(tuple(out.shape[2:]))
        )
    assert encoder(torch.randn(2, 2, *shape)).shape == (2, 6)
    assert encoder.n_embedding == 6

    decoder = build_decoder(shape, 3, out_channels=2)
    # The decoder goes back through the very sizes the encoder went through.
    assert decoder.encoder_shapes == [shape, *maps]
    x = decoder(torch.randn(2, 3))
    assert x.shape == (2, 2, *shape)
    assert torch.isfinite(x).all()


@pytest.mark.parametrize("shape", [(50, 59, 48), (99, 117, 95)], ids=["4mm", "2mm"])
def test_resnet_decoder_on_mni_grids(shape):
    decoder = resnet18_decoder(shape, 2, width_per_group=2)
    assert decoder(torch.zeros(1, 2)).shape == (1, 1, *shape)


def test_full_size_decoders_mirror_the_default_encoders():
    with torch.device("meta"):
        resnet = resnet50_decoder((50, 59, 48), 8)
        densenet = densenet121_decoder((50, 59, 48), 8)
    # The deepest map has the channels of the encoder's last stage or of the
    # input of its last dense block, and the blocks are those of the encoder.
    assert resnet.head[1].unflattened_size == (2048, 2, 2, 2)
    assert sum(isinstance(m, Bottleneck) for m in resnet.modules()) == 3 + 4 + 6 + 3
    assert densenet.head[1].unflattened_size == (512, 1, 1, 1)
    assert len(list(densenet.denseblock3[0].children())) == 24


def test_width_per_group():
    encoder = resnet18(width_per_group=8)
    widths = [m.out_channels for m in encoder.modules()
              if isinstance(m, torch.nn.Conv3d)]
    assert sorted(set(widths)) == [8, 16, 32, 64]
    assert encoder.embedding.in_features == 64
    with torch.device("meta"):
        wide = resnet50(width_per_group=128)  # a wide ResNet-50
    assert wide.layer1[0].conv2.out_channels == 128
    assert wide.layer4[-1].conv3.out_channels == 2048


@pytest.mark.parametrize("build", [small_resnet18, small_resnet50])
def test_zero_init_residual(build):
    def last_norms(module):
        return [block.bn3 if isinstance(block, Bottleneck) else block.bn2
                for block in module.modules()
                if isinstance(block, (BasicBlock, Bottleneck))]

    assert all((norm.weight == 1).all() for norm in last_norms(build()))
    zero_init = build(zero_init_residual=True)
    assert all((norm.weight == 0).all() for norm in last_norms(zero_init))
    decoder = small_resnet18_decoder((9, 9, 9), 2, zero_init_residual=True)
    assert all((norm.weight == 0).all() for norm in last_norms(decoder))


@pytest.mark.parametrize("depth, channels, shape", [
    (0, 4, (5, 6, 4)), (1, 4, (5, 6, 4)), (2, 8, (3, 3, 2)), (4, 32, (1, 1, 1)),
])
def test_truncated_resnet(depth, channels, shape):
    encoder = resnet18_trunc(depth, width_per_group=4)
    assert encoder(torch.zeros(2, 1, 17, 21, 15)).shape == (2, channels, *shape)
    assert encoder.out_channels == channels
    assert not hasattr(encoder, "embedding")
    assert not hasattr(encoder, f"layer{depth + 1}")
    with torch.device("meta"):
        assert resnet50_trunc(depth).out_channels == [64, 256, 512, 1024, 2048][depth]


def test_memory_efficient_densenet_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = small_densenet()
    efficient = small_densenet(memory_efficient=True)
    efficient.load_state_dict(plain.state_dict())
    x = torch.randn(2, 1, 29, 29, 29)
    plain(x).sum().backward()
    efficient(x).sum().backward()
    for a, b in zip(plain.parameters(), efficient.parameters()):
        torch.testing.assert_close(a.grad, b.grad)


def test_vae_with_resnet18_on_odd_volumes():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 1, 17, 21, 15)).astype(np.float32)
    torch.manual_seed(0)
    encoder = resnet18(width_per_group=4, n_embedding=16)
    decoder = resnet18_decoder((17, 21, 15), 4, width_per_group=4)
    vae = VAE(encoder, decoder, encoder_out_dim=encoder.n_embedding, latent_dim=4,
              max_epochs=1, enable_progress_bar=False, accelerator="cpu",
              random_state=0, batch_size=4)
    Z = vae.fit(X).transform(X)
    assert Z.shape == (8, 4) and np.isfinite(Z).all()
    decoded = vae.inverse_transform(Z)
    assert decoded.shape == X.shape and np.isfinite(decoded).all()


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: ResNet(BasicBlock, (2, 2, 2)), "layers"),
        (lambda: resnet18(replace_stride_with_dilation=(True,)),
         "replace_stride_with_dilation"),
        (lambda: resnet18(groups=2), "groups=1"),
        (lambda: resnet18(width_per_group=0), "width_per_group"),
        (lambda: Bottleneck(16, 4, base_width=8), "base_width"),
        (lambda: resnet18_trunc(5), "depth"),
        (lambda: DenseNet(block_config=()), "block_config"),
        (lambda: DenseNet(growth_rate=0), "growth_rate"),
        (lambda: resnet18_decoder((16, 16), 4), "spatial_shape"),
        (lambda: resnet18_decoder((16, 16, 16), 0), "in_features"),
        (lambda: resnet18_decoder((16, 16, 16), 4, out_channels=0), "out_channels"),
        (lambda: AlexNetDecoder((33, 41, 29), 4), "at least 33 voxels"),
        (lambda: small_densenet_decoder((28, 40, 40), 4), "at least 29 voxels"),
    ],
)
def test_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()
