import pytest
import torch
from torch.distributions import Normal

from nidl.losses import BetaVAELoss, CyclicalSchedule, LinearWarmup


@pytest.mark.parametrize(
    "step, expected",
    [(0, 0.0), (10, 1.0), (20, 2.0), (39, 3.9), (40, 4.0), (41, 4.0), (10_000, 4.0)],
)
def test_linear_warmup_values(step, expected):
    assert LinearWarmup(max_value=4.0, warmup_steps=40)(step) == pytest.approx(expected)


def test_linear_warmup_without_warmup_is_constant():
    schedule = LinearWarmup(max_value=2.0, warmup_steps=0)
    assert schedule(0) == schedule(7) == 2.0


@pytest.mark.parametrize(
    "step, expected",
    [
        (0, 0.0),  # start of the first cycle
        (10, 0.5),  # mid-rise: 10 of the 20 rising steps
        (20, 1.0),  # top of the rise
        (39, 1.0),  # end of the first cycle: flat at the top
        (40, 0.0),  # start of the second cycle
        (50, 0.5),
        (159, 1.0),  # end of the last cycle
        (160, 1.0),  # after the last cycle: max_value
        (1000, 1.0),
    ],
)
def test_cyclical_schedule_values(step, expected):
    # 160 steps in 4 cycles of 40; rising over the first half (20 steps).
    schedule = CyclicalSchedule(max_value=1.0, total_steps=160, n_cycles=4, ratio=0.5)
    assert schedule(step) == pytest.approx(expected)


def test_cyclical_schedule_with_full_ratio_rises_all_cycle():
    schedule = CyclicalSchedule(max_value=3.0, total_steps=30, n_cycles=3, ratio=1.0)
    # Cycles of 10 steps, each a rise over the whole cycle.
    assert [schedule(s) for s in (0, 5, 9, 10, 15)] == pytest.approx(
        [0.0, 1.5, 2.7, 0.0, 1.5]
    )


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: LinearWarmup(-1.0, 10), "max_value"),
        (lambda: LinearWarmup(1.0, -1), "warmup_steps"),
        (lambda: LinearWarmup(1.0, 2.5), "warmup_steps"),
        (lambda: CyclicalSchedule(1.0, 0), "total_steps"),
        (lambda: CyclicalSchedule(1.0, 100, n_cycles=0), "n_cycles"),
        (lambda: CyclicalSchedule(1.0, 100, ratio=0.0), "ratio"),
        (lambda: CyclicalSchedule(1.0, 100, ratio=1.5), "ratio"),
    ],
)
def test_invalid_schedule_parameters_name_the_parameter(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


@pytest.mark.parametrize("schedule", [LinearWarmup(1.0, 10), CyclicalSchedule(1.0, 10)])
def test_negative_step_is_refused(schedule):
    with pytest.raises(ValueError, match="step"):
        schedule(-1)


def test_schedules_compare_and_print_by_parameters():
    assert LinearWarmup(1.0, 10) == LinearWarmup(1.0, 10) != LinearWarmup(2.0, 10)
    assert repr(CyclicalSchedule(1.0, 100)) == (
        "CyclicalSchedule(max_value=1.0, total_steps=100, n_cycles=4, ratio=0.5)"
    )


X = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
Q = Normal(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.ones(2, 2))  # KL 0.5


@pytest.mark.parametrize("step, beta", [(0, 0.0), (5, 1.0), (10, 2.0), (50, 2.0)])
def test_beta_vae_loss_evaluates_a_schedule_at_the_step(step, beta):
    loss = BetaVAELoss(beta=LinearWarmup(max_value=2.0, warmup_steps=10))
    terms = loss(X, torch.zeros(2, 2), Q, step=step)
    # Squared errors 5 and 25 averaged: 15; KL 0.5.
    assert terms["loss"].item() == pytest.approx(15.0 + beta * 0.5)
    assert set(terms) == {"loss", "rec_loss", "kl_loss"}


def test_beta_vae_loss_with_number_ignores_the_step():
    loss = BetaVAELoss(beta=3.0)
    assert loss(X, torch.zeros(2, 2), Q, step=7)["loss"].item() == pytest.approx(16.5)
    assert loss(X, torch.zeros(2, 2), Q)["loss"].item() == pytest.approx(16.5)


def test_scheduled_beta_without_step_says_how_to_call():
    loss = BetaVAELoss(beta=LinearWarmup(2.0, 10))
    with pytest.raises(ValueError, match=r"beta is a schedule .*step=step"):
        loss(X, torch.zeros(2, 2), Q)


@pytest.mark.parametrize(
    "beta, error",
    [(-1.0, ValueError), ("4", TypeError), (lambda step: -1.0, ValueError)]
)
def test_invalid_beta_is_refused(beta, error):
    with pytest.raises(error, match="beta"):
        BetaVAELoss(beta=beta)
