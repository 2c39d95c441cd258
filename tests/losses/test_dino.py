import math

import numpy as np
import pytest
import torch

from nidl.losses import DINOLoss

D = 4


def softmax(row, temperature):
    top = max(row)
    exps = [math.exp((x - top) / temperature) for x in row]
    return [e / sum(exps) for e in exps]


def dino_by_hand(teacher, student, center, teacher_temp, student_temp):
    """Caron et al.'s loss: every teacher view against every other student view."""
    teacher, student, center = teacher.tolist(), student.tolist(), center.tolist()
    total, n_pairs = 0.0, 0
    for t, teacher_view in enumerate(teacher):
        for s, student_view in enumerate(student):
            if s == t:
                continue
            n_pairs += 1
            for g, h in zip(teacher_view, student_view):
                p = softmax([x - c for x, c in zip(g, center)], teacher_temp)
                q = softmax(h, student_temp)
                total += -sum(pi * math.log(qi) for pi, qi in zip(p, q))
    return total / (n_pairs * len(teacher[0]))


def outputs(n_teacher=2, n_student=4, batch_size=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(n_teacher, batch_size, D, generator=generator,
                        dtype=torch.float64),
            torch.randn(n_student, batch_size, D, generator=generator,
                        dtype=torch.float64))


def make_loss(**params):
    params = {"output_dim": D, "warmup_teacher_temp": 0.04, "teacher_temp": 0.07,
              "warmup_teacher_temp_epochs": 3, **params}
    return DINOLoss(**params).double()


@pytest.mark.parametrize("epoch, teacher_temp", [(0, 0.04), (1, 0.055), (2, 0.07),
                                                 (5, 0.07), (None, 0.07)])
@pytest.mark.parametrize("n_teacher, n_student", [(2, 2), (2, 5), (1, 3)])
def test_matches_the_formula_pair_by_pair(epoch, teacher_temp, n_teacher, n_student):
    teacher, student = outputs(n_teacher, n_student)
    loss = make_loss()
    center = torch.tensor([0.3, -0.2, 0.1, 0.0], dtype=torch.float64)
    loss.center.copy_(center.view(1, 1, D))
    expected = dino_by_hand(teacher, student, center, teacher_temp, 0.1)
    value = loss(teacher, student, epoch=epoch)
    assert value.ndim == 0
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_teacher_temperature_schedule():
    loss = make_loss()
    schedule = loss.teacher_temp_schedule
    assert len(schedule) == 3
    assert schedule[0] == 0.04 and schedule[-1] == 0.07
    assert len(DINOLoss().teacher_temp_schedule) == 30


def test_first_epoch_uses_the_warmup_temperature():
    teacher, student = outputs()
    warming = make_loss()
    constant = make_loss(teacher_temp=float(warming.teacher_temp_schedule[0]),
                         warmup_teacher_temp_epochs=0)
    assert warming(teacher, student, epoch=0).item() == pytest.approx(
        constant(teacher, student, epoch=0).item(), rel=1e-12
    )


def test_after_the_warmup_the_temperature_is_constant():
    teacher, student = outputs()
    loss = make_loss().eval()  # keeps the centre
    assert loss(teacher, student, epoch=3).item() == loss(teacher, student, 4).item()
    assert loss(teacher, student, epoch=3).item() == loss(teacher, student).item()


def test_the_loss_uses_the_centre_before_its_update():
    teacher, student = outputs()
    loss = make_loss()
    first = loss(teacher, student, epoch=10)
    assert torch.any(loss.center != 0)
    second = loss(teacher, student, epoch=10)
    assert first.item() != pytest.approx(second.item())
    fresh = make_loss()(teacher, student, epoch=10)
    assert first.item() == fresh.item()


def test_swapping_global_views_consistently_keeps_the_loss():
    teacher, student = outputs(2, 4)
    loss = make_loss().eval()
    reference = loss(teacher, student, epoch=10)
    swapped = loss(teacher[[1, 0]], student[[1, 0, 2, 3]], epoch=10)
    assert swapped.item() == pytest.approx(reference.item(), rel=1e-12)
    mismatched = loss(teacher[[1, 0]], student, epoch=10)
    assert mismatched.item() != pytest.approx(reference.item())


def test_update_center_is_a_moving_average_of_the_batch_mean():
    m = 0.9
    loss = make_loss(center_momentum=m)
    first, second = outputs(seed=1)[0], outputs(seed=2)[0]
    loss.update_center(first)
    expected = (1 - m) * first.mean(dim=(0, 1))
    np.testing.assert_allclose(loss.center.view(-1), expected, atol=1e-7)
    loss.update_center(second)
    expected = m * expected + (1 - m) * second.mean(dim=(0, 1))
    np.testing.assert_allclose(loss.center.view(-1), expected, atol=1e-7)


def test_a_training_call_updates_the_centre_and_trains_the_student_only():
    teacher, student = outputs()
    teacher.requires_grad_()
    student.requires_grad_()
    loss = make_loss(center_momentum=0.5)
    value = loss(teacher, student)
    assert value.ndim == 0 and torch.isfinite(value)
    np.testing.assert_allclose(loss.center.view(-1).numpy(),
                               0.5 * teacher.detach().mean(dim=(0, 1)).numpy(),
                               atol=1e-7)
    value.backward()
    assert torch.isfinite(student.grad).all() and student.grad.abs().sum() > 0
    assert teacher.grad is None
    assert not loss.center.requires_grad


def test_evaluation_mode_leaves_the_centre():
    teacher, student = outputs()
    loss = make_loss().eval()
    loss(teacher, student)
    assert torch.all(loss.center == 0)


def test_the_centre_is_saved_with_the_state():
    loss = make_loss()
    loss.update_center(outputs()[0])
    restored = make_loss()
    restored.load_state_dict(loss.state_dict())
    assert torch.equal(restored.center, loss.center)


def test_repr():
    assert repr(DINOLoss()) == (
        "DINOLoss(output_dim=4096, warmup_teacher_temp=0.04, teacher_temp=0.07, "
        "warmup_teacher_temp_epochs=30, student_temp=0.1, center_momentum=0.9)"
    )


@pytest.mark.parametrize("teacher, student, match", [
    (torch.randn(2, 3, D + 1), torch.randn(4, 3, D + 1), "output_dim=4"),
    (torch.randn(3, D), torch.randn(3, D), "n_views, batch_size"),
    (torch.randn(2, 3, D), torch.randn(4, 2, D), "same batch"),
    (torch.randn(1, 3, D), torch.randn(1, 3, D), "at least 2 views"),
])
def test_bad_outputs_are_refused(teacher, student, match):
    with pytest.raises(ValueError, match=match):
        make_loss()(teacher, student)


def test_a_negative_epoch_is_refused():
    with pytest.raises(ValueError, match="epoch"):
        make_loss()(*outputs(), epoch=-1)


@pytest.mark.parametrize("params, name", [
    ({"output_dim": 0}, "output_dim"),
    ({"teacher_temp": 0.0}, "teacher_temp"),
    ({"warmup_teacher_temp": -0.1}, "warmup_teacher_temp"),
    ({"student_temp": -1.0}, "student_temp"),
    ({"warmup_teacher_temp_epochs": -1}, "warmup_teacher_temp_epochs"),
    ({"center_momentum": 1.5}, "center_momentum"),
])
def test_bad_parameters_are_refused(params, name):
    with pytest.raises(ValueError, match=name):
        DINOLoss(**params)
