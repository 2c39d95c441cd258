"""The DINO loss: self-distillation of a teacher into a student, no labels."""

import numbers

import numpy as np
import torch
from sklearn.utils import check_scalar
from torch import nn

from ._contrastive import check_positive
from ._distributed import sum_over_processes


class DINOLoss(nn.Module):
    r"""DINO loss: cross-entropy between teacher and student across views.

    In DINO [1]_ a student network learns to predict, from every view of an
    image, the output of a teacher network (a moving average of the student)
    on the other global views. The teacher's output is centred and sharpened
    into a distribution over ``output_dim`` prototypes, which avoids
    collapse:

    .. math::

        P_t = \operatorname{softmax}\Big(\frac{g_t - c}{\tau_t}\Big),
        \qquad
        Q_s = \operatorname{softmax}\Big(\frac{h_s}{\tau_s}\Big),
        \qquad
        \mathcal{L} = \frac{1}{|\Pi| \, B} \sum_{(t, s) \in \Pi}
            \sum_{b=1}^{B} -\sum_{d} P_{t, b d} \log Q_{s, b d},

    where :math:`g_t` are the teacher outputs of the :math:`T` global views,
    :math:`h_s` the student outputs of the :math:`S` views (the global ones
    first, then the local ones), :math:`B` the batch size, and :math:`\Pi`
    the pairs :math:`(t, s)` of different views (:math:`t \neq s`). The
    teacher's temperature rises linearly from ``warmup_teacher_temp`` to
    ``teacher_temp`` over the first ``warmup_teacher_temp_epochs`` epochs.
    After each training call, the centre :math:`c` moves towards the batch
    mean of the teacher outputs: :math:`c \leftarrow m c + (1 - m)
    \bar g`.

    Parameters
    ----------
    output_dim : int, default=4096
        Dimension :math:`D` of the outputs (number of prototypes).
    warmup_teacher_temp : float, default=0.04
        Teacher temperature at the first epoch.
    teacher_temp : float, default=0.07
        Teacher temperature after the warm-up.
    warmup_teacher_temp_epochs : int, default=30
        Number of epochs of the temperature warm-up.
    student_temp : float, default=0.1
        Student temperature :math:`\tau_s`.
    center_momentum : float, default=0.9
        Momentum :math:`m` of the centre's moving average, in [0, 1].

    Attributes
    ----------
    center : torch.Tensor of shape (1, 1, output_dim)
        The centre :math:`c`, a buffer (saved with the module's state), zeros
        at first.
    teacher_temp_schedule : ndarray of shape (warmup_teacher_temp_epochs,)
        Teacher temperature of each warm-up epoch.

    Raises
    ------
    ValueError
        If a temperature is not > 0, ``output_dim`` < 1,
        ``warmup_teacher_temp_epochs`` < 0 or ``center_momentum`` is outside
        [0, 1].

    Notes
    -----
    The teacher's distribution is detached, as in the paper: gradients reach
    the student only. The centre moves only in training mode
    (``module.train()``, the default): in evaluation mode (``module.eval()``,
    which Lightning sets for validation) the loss leaves it as it is, so that
    validation batches do not change training. Under ``torch.distributed``,
    the batch mean of the update is over the batches of every process.

    References
    ----------
    .. [1] M. Caron, H. Touvron, I. Misra, H. Jégou, J. Mairal, P. Bojanowski
       and A. Joulin, "Emerging Properties in Self-Supervised Vision
       Transformers", ICCV 2021.

    Examples
    --------
    Two global views of a batch of one, as the teacher and the student see
    them; the student agrees with the teacher's most likely prototype:

    >>> import torch
    >>> from nidl.losses import DINOLoss
    >>> loss = DINOLoss(output_dim=3, warmup_teacher_temp_epochs=2)
    >>> loss.teacher_temp_schedule
    array([0.04, 0.07])
    >>> teacher = torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 0.0, 0.0]]])
    >>> student = torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 0.0, 0.0]]])
    >>> value = loss(teacher, student, epoch=0)
    >>> round(float(value), 4)
    0.0001

    The call moved the centre towards the teacher's mean output:

    >>> loss.center
    tensor([[[0.1000, 0.0000, 0.0000]]])
    """

    def __init__(self, output_dim=4096, warmup_teacher_temp=0.04, teacher_temp=0.07,
                 warmup_teacher_temp_epochs=30, student_temp=0.1,
                 center_momentum=0.9):
        super().__init__()
        check_scalar(output_dim, "output_dim", numbers.Integral, min_val=1)
        check_positive(warmup_teacher_temp, "warmup_teacher_temp")
        check_positive(teacher_temp, "teacher_temp")
        check_scalar(warmup_teacher_temp_epochs, "warmup_teacher_temp_epochs",
                     numbers.Integral, min_val=0)
        check_positive(student_temp, "student_temp")
        check_scalar(center_momentum, "center_momentum", numbers.Real, min_val=0,
                     max_val=1)
        self.output_dim = output_dim
        self.warmup_teacher_temp = warmup_teacher_temp
        self.teacher_temp = teacher_temp
        self.warmup_teacher_temp_epochs = warmup_teacher_temp_epochs
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.register_buffer("center", torch.zeros(1, 1, output_dim))
        self.teacher_temp_schedule = np.linspace(
            warmup_teacher_temp, teacher_temp, warmup_teacher_temp_epochs
        )

    def forward(self, teacher_out, student_out, epoch=None):
        """DINO loss of a batch; in training mode, then update the centre.

        Parameters
        ----------
        teacher_out : torch.Tensor, shape (n_global_views, batch_size, output_dim)
            Teacher outputs of the global views.
        student_out : torch.Tensor, shape (n_views, batch_size, output_dim)
            Student outputs of every view, the global views first, in the
            teacher's order.
        epoch : int, default=None
            Training epoch (from 0), which sets the teacher temperature during
            the warm-up; None uses ``teacher_temp``.

        Returns
        -------
        loss : torch.Tensor
            0-dim tensor, computed with the centre as it was before the call.

        Raises
        ------
        ValueError
            If the outputs are not 3-D with ``output_dim`` features and one
            batch size, if there is no pair of different views, or if
            ``epoch`` is negative.
        """
        self._check_outputs(teacher_out, "teacher_out")
        self._check_outputs(student_out, "student_out")
        n_teacher, batch_size = teacher_out.shape[:2]
        n_student = len(student_out)
        if student_out.shape[1] != batch_size:
            raise ValueError(
                f"teacher_out and student_out must hold the same batch: got "
                f"{batch_size} and {student_out.shape[1]} samples (dimension 1)."
            )
        different = ~torch.eye(n_teacher, n_student, dtype=torch.bool,
                               device=teacher_out.device)
        if not different.any():
            raise ValueError(
                "DINOLoss compares each teacher view with the other student views: "
                "one teacher view and one student view make no pair. Give the "
                "student at least 2 views."
            )
        temperature = self.teacher_temp
        if epoch is not None:
            check_scalar(epoch, "epoch", numbers.Integral, min_val=0)
            if epoch < self.warmup_teacher_temp_epochs:
                temperature = float(self.teacher_temp_schedule[epoch])
        teacher = torch.softmax((teacher_out - self.center) / temperature, dim=-1)
        log_student = torch.log_softmax(student_out / self.student_temp, dim=-1)
        # cross[t, s]: cross-entropy of student view s against teacher view t,
        # summed over the batch.
        cross = -torch.einsum("tbd,sbd->ts", teacher.detach(), log_student)
        loss = cross[different].sum() / (different.sum() * batch_size)
        if self.training:
            self.update_center(teacher_out)
        return loss

    @torch.no_grad()
    def update_center(self, teacher_out):
        """Move the centre towards the mean teacher output of the batch.

        ``center <- m * center + (1 - m) * mean``, the mean over the views and
        the samples (of every process under ``torch.distributed``).

        Parameters
        ----------
        teacher_out : torch.Tensor, shape (n_global_views, batch_size, output_dim)
            Teacher outputs of the global views.

        Examples
        --------
        >>> import torch
        >>> from nidl.losses import DINOLoss
        >>> loss = DINOLoss(output_dim=2, center_momentum=0.5)
        >>> loss.update_center(torch.tensor([[[2.0, 0.0]], [[4.0, 2.0]]]))
        >>> loss.center
        tensor([[[1.5000, 0.5000]]])
        """
        self._check_outputs(teacher_out, "teacher_out")
        count = teacher_out.shape[0] * teacher_out.shape[1]
        totals = torch.cat([
            teacher_out.sum(dim=(0, 1), dtype=self.center.dtype),
            self.center.new_tensor([count]),
        ])
        totals = sum_over_processes(totals)
        mean = totals[:-1] / totals[-1]
        momentum = self.center_momentum
        self.center.mul_(momentum).add_(mean.view_as(self.center), alpha=1 - momentum)

    def _check_outputs(self, out, name):
        if not isinstance(out, torch.Tensor) or out.ndim != 3 or (
            out.shape[-1] != self.output_dim
        ):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out)
            raise ValueError(
                f"{name} must be a tensor of shape (n_views, batch_size, "
                f"output_dim={self.output_dim}); got {shape}. Stack the views' "
                "outputs along a first dimension, and set output_dim to the "
                "head's output dimension."
            )

    def extra_repr(self):
        return (
            f"output_dim={self.output_dim!r}, "
            f"warmup_teacher_temp={self.warmup_teacher_temp!r}, "
            f"teacher_temp={self.teacher_temp!r}, "
            f"warmup_teacher_temp_epochs={self.warmup_teacher_temp_epochs!r}, "
            f"student_temp={self.student_temp!r}, "
            f"center_momentum={self.center_momentum!r}"
        )
