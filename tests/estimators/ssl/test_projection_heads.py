import inspect

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from nidl.estimators.ssl.utils import (
    BarlowTwinsProjectionHead,
    DINOProjectionHead,
    ProjectionHead,
    SimCLRProjectionHead,
    YAwareProjectionHead,
)


def linears(head):
    return [
        (m.in_features, m.out_features, m.bias is not None)
        for m in head.layers
        if isinstance(m, nn.Linear)
    ]


def layer_types(head):
    return [type(m) for m in head.layers]


@pytest.mark.parametrize(
    "head, defaults",
    [
        (SimCLRProjectionHead, (2048, 2048, 128)),
        (YAwareProjectionHead, (2048, 512, 128)),
        (BarlowTwinsProjectionHead, (2048, 8192, 8192)),
        (DINOProjectionHead, (2048, 2048, 256, 4096, True, -1, True)),
    ],
)
def test_default_sizes(head, defaults):
    parameters = inspect.signature(head).parameters.values()
    assert tuple(p.default for p in parameters) == defaults


@pytest.mark.parametrize("head", [SimCLRProjectionHead, YAwareProjectionHead])
def test_contrastive_heads_are_linear_relu_linear(head):
    head = head(input_dim=12, hidden_dim=10, output_dim=6)
    assert layer_types(head) == [nn.Linear, nn.ReLU, nn.Linear]
    assert linears(head) == [(12, 10, True), (10, 6, True)]
    assert head(torch.randn(5, 12)).shape == (5, 6)
    assert (head.input_dim, head.output_dim) == (12, 6)


def test_barlow_twins_head():
    head = BarlowTwinsProjectionHead(input_dim=12, hidden_dim=10, output_dim=6)
    assert layer_types(head) == [
        nn.Linear, nn.BatchNorm1d, nn.ReLU,
        nn.Linear, nn.BatchNorm1d, nn.ReLU,
        nn.Linear,
    ]
    # A linear layer followed by batch norm has no bias.
    assert linears(head) == [(12, 10, False), (10, 10, False), (10, 6, True)]
    norms = [m for m in head.layers if isinstance(m, nn.BatchNorm1d)]
    assert norms[0] is not norms[1] and norms[0].num_features == 10
    assert head(torch.randn(5, 12)).shape == (5, 6)


def test_generic_head_follows_its_blocks():
    head = ProjectionHead(
        [(6, 5, nn.LayerNorm(5), nn.Tanh()), (5, 4, None, nn.Sigmoid()),
         (4, 3, None, None)]
    )
    assert layer_types(head) == [
        nn.Linear, nn.LayerNorm, nn.Tanh, nn.Linear, nn.Sigmoid, nn.Linear
    ]
    assert linears(head) == [(6, 5, False), (5, 4, True), (4, 3, True)]
    x = torch.randn(7, 6)
    torch.testing.assert_close(head(x), head.layers(x))
    # Features of any leading shape, as nn.Linear.
    assert head(torch.randn(2, 7, 6)).shape == (2, 7, 3)


@pytest.mark.parametrize("batch_norm", [True, False])
def test_dino_head_layers(batch_norm):
    torch.manual_seed(0)
    head = DINOProjectionHead(
        input_dim=12, hidden_dim=300, bottleneck_dim=4, output_dim=20,
        batch_norm=batch_norm,
    )
    norm = [nn.BatchNorm1d] if batch_norm else []
    assert layer_types(head) == [
        nn.Linear, *norm, nn.GELU, nn.Linear, *norm, nn.GELU, nn.Linear
    ]
    assert linears(head) == [
        (12, 300, not batch_norm), (300, 300, not batch_norm), (300, 4, True)
    ]
    # Truncated-normal weights (std 0.02) and zero biases in the MLP.
    hidden = head.layers[len(norm) + 2]
    assert hidden.weight.std().item() == pytest.approx(0.02, rel=0.05)
    for layer in head.layers:
        if isinstance(layer, nn.Linear) and layer.bias is not None:
            assert torch.count_nonzero(layer.bias) == 0
    last = head.last_layer
    assert (last.in_features, last.out_features, last.bias) == (4, 20, None)
    assert head(torch.randn(5, 12)).shape == (5, 20)
    assert head.output_dim == 20


def test_dino_head_normalises_the_bottleneck():
    head = DINOProjectionHead(8, 16, 4, 10, batch_norm=False).eval()
    x = torch.randn(3, 8)
    bottleneck = head.layers(x)
    unit = bottleneck / bottleneck.norm(dim=1, keepdim=True)
    torch.testing.assert_close(head(x), unit @ head.last_layer.weight.T)
    # Scaling the bottleneck does not change the output.
    head.layers[-1].weight.data *= 3.0
    head.layers[-1].bias.data *= 3.0
    torch.testing.assert_close(head(x), unit @ head.last_layer.weight.T)


def train_one_step(head):
    optimizer = torch.optim.SGD(head.parameters(), lr=10.0)
    head(torch.randn(6, 8)).pow(2).sum().backward()
    optimizer.step()


def test_dino_last_layer_rows_keep_unit_norm():
    torch.manual_seed(0)
    head = DINOProjectionHead(8, 16, 4, 10)
    assert parametrize.is_parametrized(head.last_layer, "weight")
    magnitude = head.last_layer.parametrizations.weight.original0
    direction = head.last_layer.parametrizations.weight.original1
    assert not magnitude.requires_grad and direction.requires_grad
    torch.testing.assert_close(magnitude, torch.ones(10, 1))
    before = direction.detach().clone()
    train_one_step(head)
    assert not torch.equal(direction, before)  # the direction is trained
    torch.testing.assert_close(magnitude, torch.ones(10, 1))
    row_norms = torch.linalg.norm(head.last_layer.weight, dim=1)
    torch.testing.assert_close(row_norms, torch.ones(10))


def test_dino_last_layer_magnitude_trained_without_norm_last_layer():
    torch.manual_seed(0)
    head = DINOProjectionHead(8, 16, 4, 10, norm_last_layer=False)
    magnitude = head.last_layer.parametrizations.weight.original0
    assert magnitude.requires_grad
    torch.testing.assert_close(magnitude, torch.ones(10, 1))  # starts at 1
    train_one_step(head)
    assert not torch.allclose(magnitude, torch.ones(10, 1))


def test_cancel_last_layer_gradients_before_freeze_last_layer():
    torch.manual_seed(0)
    head = DINOProjectionHead(8, 16, 4, 10, freeze_last_layer=2)
    direction = head.last_layer.parametrizations.weight.original1
    for epoch, cancelled in [(0, True), (1, True), (2, False), (5, False)]:
        head.zero_grad()
        head(torch.randn(6, 8)).sum().backward()
        head.cancel_last_layer_gradients(epoch)
        assert (direction.grad is None) == cancelled, epoch
        # The rest of the head keeps its gradients.
        assert head.layers[0].weight.grad is not None


def test_cancel_last_layer_gradients_never_by_default():
    head = DINOProjectionHead(8, 16, 4, 10)
    head(torch.randn(6, 8)).sum().backward()
    head.cancel_last_layer_gradients(0)
    assert head.last_layer.parametrizations.weight.original1.grad is not None


HEADS = [
    lambda: SimCLRProjectionHead(12, 10, 6),
    lambda: YAwareProjectionHead(12, 10, 6),
    lambda: BarlowTwinsProjectionHead(12, 10, 6),
    lambda: DINOProjectionHead(12, 10, 4, 6),
]


@pytest.mark.parametrize("make", HEADS)
def test_input_errors(make):
    head = make()
    with pytest.raises(ValueError, match=r"shape \(12,\).*batch axis"):
        head(torch.randn(12))
    with pytest.raises(ValueError, match="expects 12 input features but got 7"):
        head(torch.randn(5, 7))
    head(torch.randn(5, 12))
    # Checked on every call, not only the first.
    with pytest.raises(ValueError, match="expects 12 input features but got 9"):
        head(torch.randn(5, 9))


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda: ProjectionHead([]), ValueError, "empty"),
        (lambda: ProjectionHead([(4, 3, None)]), ValueError, r"blocks\[0\]"),
        (lambda: ProjectionHead([(4, 3, None, None), (5, 2, None, None)]),
         ValueError, r"blocks\[1\] takes 5 features but blocks\[0\] gives 3"),
        (lambda: ProjectionHead([(4, 3, "bn", None)]), TypeError, "norm='bn'"),
        (lambda: ProjectionHead([(4, 3, None, torch.relu)]), TypeError,
         "activation"),
        (lambda: ProjectionHead([(0, 3, None, None)]), ValueError, "in_features"),
        (lambda: SimCLRProjectionHead(input_dim=0), ValueError, "input_dim"),
        (lambda: BarlowTwinsProjectionHead(4, 8, output_dim=2.5), TypeError,
         "output_dim"),
        (lambda: DINOProjectionHead(4, 8, bottleneck_dim=0), ValueError,
         "bottleneck_dim"),
        (lambda: DINOProjectionHead(4, 8, 2, 3, freeze_last_layer=0.5), TypeError,
         "freeze_last_layer"),
        (lambda: DINOProjectionHead(4, 8, 2, 3).cancel_last_layer_gradients(-1),
         ValueError, "current_epoch"),
    ],
)
def test_construction_errors(build, error, match):
    with pytest.raises(error, match=match):
        build()
