import math
import warnings

import pytest
import torch
from torch.optim.lr_scheduler import LRScheduler

import nidl.utils
from nidl.utils import LinearWarmupCosineAnnealingLR


def make(lrs=(0.1,), **kwargs):
    params = [torch.zeros(1, requires_grad=True) for _ in lrs]
    optimizer = torch.optim.SGD(
        [{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)]
    )
    return optimizer, LinearWarmupCosineAnnealingLR(optimizer, **kwargs)


def run(optimizer, scheduler, n_steps):
    """Learning rates of each group at steps 0, ..., n_steps - 1."""
    rates = []
    for _ in range(n_steps):
        rates.append(list(scheduler.get_last_lr()))
        optimizer.step()
        scheduler.step()
    return rates


def test_is_a_public_torch_scheduler():
    assert issubclass(LinearWarmupCosineAnnealingLR, LRScheduler)
    assert "LinearWarmupCosineAnnealingLR" in nidl.utils.__all__


def test_values_against_the_formula():
    s, b, eta, w, m = 0.01, 0.1, 0.001, 5, 25
    optimizer, scheduler = make(
        (b,), warmup_epochs=w, max_epochs=m, warmup_start_lr=s, eta_min=eta
    )
    rates = [r[0] for r in run(optimizer, scheduler, 31)]
    expected = {
        0: s,  # start of the warm-up
        2: s + 2 * (b - s) / 4,
        4: b,  # end of the warm-up (W - 1)
        5: b,  # start of the decay
        10: eta + (b - eta) * (1 + math.cos(math.pi / 4)) / 2,
        15: eta + (b - eta) / 2,  # half-way through the decay
        25: eta,  # end
        30: eta,  # after the end
    }
    for step, value in expected.items():
        assert rates[step] == pytest.approx(value, rel=1e-12), step
    assert rates[:5] == sorted(rates[:5])
    assert rates[5:26] == sorted(rates[5:26], reverse=True)


def test_without_warmup_starts_at_the_base_rate():
    optimizer, scheduler = make((0.2,), warmup_epochs=0, max_epochs=4)
    rates = [r[0] for r in run(optimizer, scheduler, 5)]
    assert rates == pytest.approx([0.2, 0.2 * (1 + math.cos(math.pi / 4)) / 2,
                                   0.1, 0.2 * (1 + math.cos(3 * math.pi / 4)) / 2,
                                   0.0])


@pytest.mark.parametrize(
    "warmup, total", [(5, 25), (0, 10), (1, 10), (2, 3), (10, 10), (12, 8), (3, 200)]
)
def test_recursive_and_closed_forms_agree_at_every_step(warmup, total):
    optimizer, scheduler = make(
        (0.1, 0.03), warmup_epochs=warmup, max_epochs=total,
        warmup_start_lr=0.002, eta_min=0.001,
    )
    for step in range(total + 5):
        assert scheduler.last_epoch == step
        assert scheduler.get_last_lr() == pytest.approx(
            scheduler.closed_form_lr(), rel=1e-9, abs=1e-15
        ), step
        assert scheduler.closed_form_lr(step) == scheduler.closed_form_lr()
        optimizer.step()
        scheduler.step()


def test_get_lr_outside_step_warns():
    _, scheduler = make(warmup_epochs=2, max_epochs=5)
    with pytest.warns(UserWarning, match="get_last_lr"):
        scheduler.get_lr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(warmup_epochs=2, max_epochs=5)  # construction steps without warning


def test_step_with_an_epoch_jumps_to_the_closed_form():
    optimizer, scheduler = make(warmup_epochs=2, max_epochs=10)
    optimizer.step()
    with pytest.warns(UserWarning):  # torch deprecates step(epoch)
        scheduler.step(6)
    assert scheduler.get_last_lr() == pytest.approx(scheduler.closed_form_lr(6))
    assert scheduler.get_last_lr()[0] == pytest.approx(
        0.1 * (1 + math.cos(math.pi * 4 / 8)) / 2
    )


def test_resumes_from_its_state_dict():
    optimizer, scheduler = make(warmup_epochs=3, max_epochs=12)
    run(optimizer, scheduler, 5)
    states = optimizer.state_dict(), scheduler.state_dict()
    expected = [r[0] for r in run(optimizer, scheduler, 7)]
    # As a checkpoint is restored: scheduler first, then the states.
    new_optimizer, new_scheduler = make(warmup_epochs=3, max_epochs=12)
    new_optimizer.load_state_dict(states[0])
    new_scheduler.load_state_dict(states[1])
    rates = [r[0] for r in run(new_optimizer, new_scheduler, 7)]
    assert rates == pytest.approx(expected)
    assert expected[0] < 0.1 and expected[-1] > 0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"warmup_epochs": -1, "max_epochs": 5}, ValueError, "warmup_epochs"),
        ({"warmup_epochs": 1.5, "max_epochs": 5}, TypeError, "warmup_epochs"),
        ({"warmup_epochs": 1, "max_epochs": 0}, ValueError, "max_epochs"),
        ({"warmup_epochs": 1, "max_epochs": 5, "eta_min": -0.1}, ValueError,
         "eta_min"),
        ({"warmup_epochs": 1, "max_epochs": 5, "warmup_start_lr": -1},
         ValueError, "warmup_start_lr"),
    ],
)
def test_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        make(**kwargs)
