import math

import pytest
import torch
from torch import nn

from nidl.estimators.ssl.utils.momentum import (
    MomentumUpdater,
    initialize_momentum_params,
)


def network():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def filled(value):
    net = network()
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
    return net


def test_initialize_copies_parameters_and_buffers_and_freezes():
    torch.manual_seed(0)
    online, momentum = network(), network()
    online(torch.randn(8, 3))  # moves the batch-norm statistics
    initialize_momentum_params(online, momentum)
    for (name, p), q in zip(online.state_dict().items(),
                            momentum.state_dict().values(), strict=True):
        torch.testing.assert_close(q, p, msg=name)
    assert all(not p.requires_grad for p in momentum.parameters())
    assert all(p.requires_grad for p in online.parameters())
    # A copy, not shared storage.
    with torch.no_grad():
        online[0].weight.add_(1.0)
    assert not torch.equal(online[0].weight, momentum[0].weight)


def test_update_is_an_exponential_moving_average():
    online, momentum = filled(1.0), filled(0.0)
    momentum[1].running_mean.fill_(5.0)
    updater = MomentumUpdater(base_lambda=0.9, final_lambda=1.0)
    updater.update(online, momentum)
    for p in momentum.parameters():
        torch.testing.assert_close(p, torch.full_like(p, 0.1))
    updater.update(online, momentum)  # 0.9 * 0.1 + 0.1 * 1
    for p in momentum.parameters():
        torch.testing.assert_close(p, torch.full_like(p, 0.19))
        assert p.grad_fn is None
    # Buffers are not averaged; the online network is untouched.
    torch.testing.assert_close(momentum[1].running_mean, torch.full((4,), 5.0))
    assert all(torch.all(p == 1.0) for p in online.parameters())


def test_update_on_a_frozen_twin():
    online, momentum = filled(2.0), filled(0.0)
    initialize_momentum_params(filled(0.0), momentum)
    updater = MomentumUpdater(base_lambda=0.5)
    updater.update(online, momentum)
    assert all(torch.all(p == 1.0) for p in momentum.parameters())


def test_lambda_schedule():
    updater = MomentumUpdater(base_lambda=0.996, final_lambda=1.0)
    assert updater.cur_lambda == 0.996
    expected = {
        0: 0.996,
        25: 1.0 - 0.004 * (math.cos(math.pi / 4) + 1) / 2,
        50: 0.998,
        100: 1.0,
        150: 1.0,  # past the end, the final momentum
    }
    for step, value in expected.items():
        updater.update_lambda(step, 100)
        assert updater.cur_lambda == pytest.approx(value, abs=1e-12), step
    lambdas = []
    for step in range(101):
        updater.update_lambda(step, 100)
        lambdas.append(updater.cur_lambda)
    assert lambdas == sorted(lambdas)


def test_update_uses_the_scheduled_lambda():
    online, momentum = filled(1.0), filled(0.0)
    updater = MomentumUpdater(base_lambda=0.5, final_lambda=1.0)
    updater.update_lambda(100, 100)
    updater.update(online, momentum)
    assert all(torch.all(p == 0.0) for p in momentum.parameters())
    updater.update_lambda(50, 100)  # lambda = 0.75
    updater.update(online, momentum)
    assert all(torch.all(p == 0.25) for p in momentum.parameters())


@pytest.mark.parametrize(
    "base, final, match",
    [(1.5, 1.0, "base_lambda"), (-0.1, 1.0, "base_lambda"),
     (0.5, 1.2, "final_lambda"), (0.99, 0.9, "base_lambda=0.99 is larger")],
)
def test_invalid_lambdas(base, final, match):
    with pytest.raises(ValueError, match=match):
        MomentumUpdater(base, final)


@pytest.mark.parametrize(
    "step, max_steps, match",
    [(-1, 10, "cur_step"), (0, 0, "max_steps"), (1, -5, "max_steps")],
)
def test_invalid_steps(step, max_steps, match):
    with pytest.raises(ValueError, match=match):
        MomentumUpdater().update_lambda(step, max_steps)


def test_architecture_mismatch():
    with pytest.raises(ValueError, match="copy of the online"):
        initialize_momentum_params(network(), nn.Linear(3, 4))
    with pytest.raises(ValueError, match="copy of the online"):
        MomentumUpdater().update(network(), nn.Sequential(nn.Linear(3, 5)))
