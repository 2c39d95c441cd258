import pytest
import torch
from torch import nn

from nidl.estimators.ssl.utils.encoder import build_encoder


def test_instance_is_shared_not_copied():
    encoder = nn.Linear(3, 2)
    assert build_encoder(encoder) is encoder


def test_deepcopy_gives_an_independent_copy():
    encoder = nn.Linear(3, 2)
    copy = build_encoder(encoder, deepcopy=True)
    assert copy is not encoder
    torch.testing.assert_close(copy.weight, encoder.weight)
    with torch.no_grad():
        copy.weight.add_(1.0)
    assert not torch.equal(copy.weight, encoder.weight)


def test_class_is_built_from_kwargs():
    encoder = build_encoder(nn.Linear, {"in_features": 3, "out_features": 2})
    assert isinstance(encoder, nn.Linear)
    assert (encoder.in_features, encoder.out_features) == (3, 2)
    assert isinstance(build_encoder(nn.Identity), nn.Identity)  # no kwargs


def test_kwargs_with_an_instance_warn():
    encoder = nn.Linear(3, 2)
    with pytest.warns(UserWarning, match="encoder_kwargs.*ignored"):
        assert build_encoder(encoder, {"in_features": 5}) is encoder


@pytest.mark.parametrize("encoder", [torch.relu, "resnet18", None, int])
def test_other_types_are_refused(encoder):
    with pytest.raises(TypeError, match="encoder must be a torch.nn.Module"):
        build_encoder(encoder)
