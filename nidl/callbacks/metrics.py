"""A Lightning callback that computes metrics on the outputs of the steps.

:class:`MetricsCallback` reads the dictionaries that ``training_step``,
``validation_step`` and ``test_step`` return, feeds the named entries to
one or several metrics and logs the results as ``"<metric>/<stage>"``.
"""

import copy
import inspect
import numbers

import numpy as np
import torch
from pytorch_lightning.callbacks import Callback

__all__ = ["MetricsCallback"]

_STAGES = ("train", "val", "test")


def _is_stateful(metric):
    """Whether ``metric`` looks like a torchmetrics metric (duck typing)."""
    return all(
        callable(getattr(metric, name, None))
        for name in ("update", "compute", "reset")
    )


def _metric_name(metric):
    name = getattr(metric, "__name__", None)
    return name if isinstance(name, str) else type(metric).__name__


def _check_frequency(value, name):
    """``None``, ``False`` and ``0`` switch a schedule off; else a positive int."""
    if value is None or value is False:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer or None; got {value!r}.")
    if value < 0:
        raise ValueError(f"{name} must be a positive integer or None; got {value!r}.")
    return int(value) or None


def _check_entry(entry, where):
    if not (isinstance(entry, str) or callable(entry)):
        raise TypeError(
            f"{where}: every entry of needs must be an output key (str) or a "
            f"callable on the step's outputs; got {entry!r}."
        )
    return entry


def _check_spec(spec, where):
    """A list of entries (positional) or a dict parameter -> entry (keyword)."""
    if isinstance(spec, (list, tuple)):
        return ("args", [_check_entry(entry, where) for entry in spec])
    if isinstance(spec, dict):
        return ("kwargs", {
            str(param): _check_entry(entry, where) for param, entry in spec.items()
        })
    raise TypeError(
        f"{where}: needs must be a list or a dict; got {type(spec).__name__}."
    )


def _infer_spec(name, metric):
    """Map the parameters without defaults to the output keys of the same names."""
    function = metric.update if _is_stateful(metric) else metric
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as error:
        raise RuntimeError(
            f"The parameters of metric {name!r} cannot be inspected; give its "
            "inputs with needs."
        ) from error
    kinds = {param.kind for param in signature.parameters.values()}
    if kinds & {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}:
        raise RuntimeError(
            f"Metric {name!r} takes *args or **kwargs, so its inputs cannot be "
            "inferred; give them with needs."
        )
    required = {
        param.name: param.name
        for param in signature.parameters.values()
        if param.default is inspect.Parameter.empty
    }
    if not required:
        raise RuntimeError(
            f"Metric {name!r} has no parameter without a default; give its "
            "inputs with needs."
        )
    return ("kwargs", required)


class MetricsCallback(Callback):
    """Compute metrics on the outputs of the training, validation and test steps.

    The steps of the module must return a dictionary of tensors or arrays
    (a step that returns a single tensor is read as ``{"loss": tensor}``).
    The inputs of each metric are taken from this dictionary, and the
    results are logged with ``pl_module.log_dict(..., sync_dist=True)`` as
    ``"<metric>/train"``, ``"<metric>/val"`` and ``"<metric>/test"``.

    Two kinds of metrics are understood:

    - objects with ``update``, ``compute`` and ``reset`` methods, such as
      the metrics of torchmetrics: updated at every step, computed and
      reset when logged. Each stage has its own copy of such a metric.
    - any other callable, such as scikit-learn's ``accuracy_score``: called
      at every step and averaged when per-step computation is asked for
      (``compute_per_*_step``), else its inputs are cached, concatenated
      (and gathered across processes) and the metric called once.

    Parameters
    ----------
    metrics : callable, list of callables or dict of callables
        The metrics. A list names them after their ``__name__`` (or class
        name); repeated names get the suffixes ``_1``, ``_2``, ... A dict
        gives the names.
    needs : None, list, or dict, default=None
        Which outputs each metric takes. Entries are output keys or
        callables applied to the step's outputs.

        - ``None``: inferred from the signature of the metric (of its
          ``update`` method for a stateful metric): every parameter without
          a default takes the output of the same name.
        - a list: the positional arguments of every metric.
        - a dict parameter -> entry: the keyword arguments of every metric.
        - a dict metric name -> list or dict: the inputs of each metric;
          metrics not listed are inferred.
    compute_per_training_step : bool, default=True
        Call plain metrics at every training step and average the results,
        rather than once on the cached inputs.
    compute_per_val_step : bool, default=False
        The same for the validation steps.
    compute_per_test_step : bool, default=False
        The same for the test steps.
    compute_on_cpu : bool, default=False
        Move the inputs of the metrics to the CPU before use (and stateful
        metrics with a ``to`` method too); metrics that read NumPy arrays,
        such as scikit-learn's, need it when training on an accelerator.
    every_n_train_steps : int or None, default=1
        Log the training metrics every that many optimisation steps.
    every_n_train_epochs : int or None, default=None
        Log the training metrics at the end of every that many training
        epochs (starting with the first); needs ``every_n_train_steps=None``.
    every_n_val_epochs : int or None, default=1
        Log the validation metrics every that many validation epochs
        (starting with the first); the sanity-check pass does not count.
        ``None`` switches them off.
    on_test_end : bool, default=False
        Compute and log the metrics on the test steps, at the end of the
        test epoch.
    prog_bar : bool, default=True
        Show the logged metrics in the progress bar.

    Raises
    ------
    ValueError
        If ``metrics`` is empty, if both training schedules are set, if a
        schedule is negative, or if ``needs`` names an unknown metric.
    TypeError
        If a metric is not callable, a schedule is not an integer, or
        ``needs`` is malformed.
    RuntimeError
        If ``needs`` must be inferred from a signature that cannot be read
        or that takes ``*args`` or ``**kwargs``.

    Examples
    --------
    >>> from sklearn.metrics import accuracy_score
    >>> from nidl.callbacks.metrics import MetricsCallback
    >>> callback = MetricsCallback(accuracy_score, needs=["targets", "preds"])
    >>> list(callback.metrics)
    ['accuracy_score']
    """

    def __init__(
        self,
        metrics,
        needs=None,
        compute_per_training_step=True,
        compute_per_val_step=False,
        compute_per_test_step=False,
        compute_on_cpu=False,
        every_n_train_steps=1,
        every_n_train_epochs=None,
        every_n_val_epochs=1,
        on_test_end=False,
        prog_bar=True,
    ):
        self.metrics = self._named_metrics(metrics)
        self.needs = self._resolve_needs(needs)
        self.compute_per_step = {
            "train": bool(compute_per_training_step),
            "val": bool(compute_per_val_step),
            "test": bool(compute_per_test_step),
        }
        self.compute_on_cpu = bool(compute_on_cpu)
        self.every_n_train_steps = _check_frequency(
            every_n_train_steps, "every_n_train_steps")
        self.every_n_train_epochs = _check_frequency(
            every_n_train_epochs, "every_n_train_epochs")
        if self.every_n_train_steps and self.every_n_train_epochs:
            raise ValueError(
                "Give either every_n_train_steps or every_n_train_epochs, not "
                "both; logging per epoch needs every_n_train_steps=None."
            )
        self.every_n_val_epochs = _check_frequency(
            every_n_val_epochs, "every_n_val_epochs")
        self.on_test_end = bool(on_test_end)
        self.prog_bar = bool(prog_bar)
        # One copy of each stateful metric per stage, so stages never mix.
        self._stateful = {
            stage: {
                name: copy.deepcopy(metric)
                for name, metric in self.metrics.items() if _is_stateful(metric)
            }
            for stage in _STAGES
        }
        self._cache = {stage: {} for stage in _STAGES}
        self._val_epochs = 0
        self._logged_step = None

    # -- arguments ---------------------------------------------------------

    @staticmethod
    def _named_metrics(metrics):
        if isinstance(metrics, dict):
            named = {}
            for name, metric in metrics.items():
                if not isinstance(name, str):
                    raise TypeError(
                        f"The names of the metrics must be str; got {name!r}.")
                named[name] = metric
        elif isinstance(metrics, (list, tuple)):
            named, counts = {}, {}
            for metric in metrics:
                base = _metric_name(metric)
                name = base
                while name in named:
                    counts[base] = counts.get(base, 0) + 1
                    name = f"{base}_{counts[base]}"
                named[name] = metric
        else:
            named = {_metric_name(metrics): metrics}
        if not named:
            raise ValueError("metrics is empty; give at least one metric.")
        for name, metric in named.items():
            if not callable(metric) and not _is_stateful(metric):
                raise TypeError(
                    f"Metric {name!r} is not callable and has no update, "
                    f"compute and reset methods; got {type(metric).__name__}."
                )
        return named

    def _resolve_needs(self, needs):
        if needs is None:
            return {
                name: _infer_spec(name, metric)
                for name, metric in self.metrics.items()
            }
        if isinstance(needs, (list, tuple)):
            spec = _check_spec(needs, "needs")
            return dict.fromkeys(self.metrics, spec)
        if not isinstance(needs, dict):
            raise TypeError(
                f"needs must be None, a list or a dict; got {type(needs).__name__}."
            )
        per_metric = any(
            isinstance(value, (list, tuple, dict)) for value in needs.values()
        )
        if not per_metric:
            spec = _check_spec(needs, "needs")
            return dict.fromkeys(self.metrics, spec)
        unknown = sorted(set(needs) - set(self.metrics))
        if unknown:
            raise ValueError(
                f"needs names metrics that do not exist: {unknown}; the metrics "
                f"are {list(self.metrics)}."
            )
        return {
            name: (
                _check_spec(needs[name], f"needs[{name!r}]") if name in needs
                else _infer_spec(name, metric)
            )
            for name, metric in self.metrics.items()
        }

    # -- inputs ------------------------------------------------------------

    def _value(self, outputs, entry, name):
        if callable(entry):
            value = entry(outputs)
        else:
            if entry not in outputs:
                raise KeyError(
                    f"Metric {name!r} needs the output {entry!r}, which the step "
                    f"did not return; it returned {sorted(outputs)}."
                )
            value = outputs[entry]
        if not isinstance(value, (torch.Tensor, np.ndarray)):
            raise TypeError(
                f"The inputs of metric {name!r} must be tensors or arrays; got "
                f"{type(value).__name__} for {entry!r}."
            )
        if isinstance(value, torch.Tensor):
            value = value.detach()
            if self.compute_on_cpu:
                value = value.cpu()
        return value

    def _inputs(self, outputs, name):
        kind, spec = self.needs[name]
        if kind == "args":
            return [self._value(outputs, entry, name) for entry in spec], {}
        return [], {
            param: self._value(outputs, entry, name) for param, entry in spec.items()
        }

    # -- collecting and logging --------------------------------------------

    def _collect(self, stage, outputs):
        if outputs is None:
            return
        if isinstance(outputs, torch.Tensor):
            outputs = {"loss": outputs}
        if not isinstance(outputs, dict):
            raise TypeError(
                "MetricsCallback needs the steps to return a dict of outputs; "
                f"got {type(outputs).__name__}."
            )
        for name, metric in self.metrics.items():
            args, kwargs = self._inputs(outputs, name)
            cache = self._cache[stage].setdefault(name, [])
            if _is_stateful(metric):
                self._stateful[stage][name].update(*args, **kwargs)
            elif self.compute_per_step[stage]:
                cache.append(self._scalar(metric(*args, **kwargs), name))
            else:
                cache.append((args, kwargs))

    @staticmethod
    def _scalar(result, name):
        try:
            value = torch.as_tensor(np.asarray(result) if not isinstance(
                result, torch.Tensor) else result.detach(), dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"Metric {name!r} must return a number; got "
                f"{type(result).__name__}."
            ) from error
        if value.numel() != 1:
            raise TypeError(
                f"Metric {name!r} must return a single number; got "
                f"{value.numel()} values."
            )
        return value.reshape(())

    @staticmethod
    def _concat(values, pl_module):
        is_tensor = isinstance(values[0], torch.Tensor)
        if is_tensor:
            device = values[0].device
            joined = torch.cat([torch.atleast_1d(value).to(device) for value in values])
        else:
            joined = np.concatenate([np.atleast_1d(value) for value in values])
        if getattr(pl_module.trainer, "world_size", 1) > 1:
            # Gathered on the module's device (NCCL needs it), then put back.
            gathered = pl_module.all_gather(
                torch.as_tensor(joined, device=pl_module.device)).flatten(0, 1)
            joined = gathered.to(device) if is_tensor else gathered.cpu().numpy()
        return joined

    def _compute(self, stage, pl_module):
        results = {}
        for name, metric in self.metrics.items():
            cache = self._cache[stage].get(name, [])
            if _is_stateful(metric):
                stateful = self._stateful[stage][name]
                if not cache and name not in self._cache[stage]:
                    continue
                results[name] = self._scalar(stateful.compute(), name)
                stateful.reset()
            elif not cache:
                continue
            elif self.compute_per_step[stage]:
                results[name] = torch.stack(cache).mean()
            else:
                args = [
                    self._concat([step[0][i] for step in cache], pl_module)
                    for i in range(len(cache[0][0]))
                ]
                kwargs = {
                    key: self._concat([step[1][key] for step in cache], pl_module)
                    for key in cache[0][1]
                }
                results[name] = self._scalar(metric(*args, **kwargs), name)
        self._cache[stage] = {}
        return results

    def _log(self, stage, trainer, pl_module, on_step):
        results = self._compute(stage, pl_module)
        if not results:
            return
        pl_module.log_dict(
            {
                f"{name}/{stage}": value.to(pl_module.device)
                for name, value in results.items()
            },
            on_step=on_step,
            on_epoch=not on_step,
            prog_bar=self.prog_bar,
            sync_dist=True,
        )

    # -- hooks -------------------------------------------------------------

    def setup(self, trainer, pl_module, stage):
        """Start afresh, and put stateful metrics on the device of the inputs.

        A stateful metric with a ``to`` method (a torchmetrics metric) is
        moved to the module's device, or to the CPU with ``compute_on_cpu``.
        A new fit starts the caches and the validation-epoch count again.
        """
        device = "cpu" if self.compute_on_cpu else pl_module.device
        for stateful in self._stateful.values():
            for name, metric in stateful.items():
                if callable(getattr(metric, "to", None)):
                    moved = metric.to(device)
                    stateful[name] = metric if moved is None else moved
        for stage_name in {"fit": ("train", "val"), "test": ("test",)}.get(stage, ()):
            self._cache[stage_name] = {}
            for metric in self._stateful[stage_name].values():
                metric.reset()
        if stage == "fit":
            self._val_epochs = 0
            self._logged_step = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        """Collect the step's metric inputs; log them every n training steps."""
        if self.every_n_train_steps:
            self._collect("train", outputs)
            step = trainer.global_step
            # With gradient accumulation, several batches share one step
            # (and the first ones come before any step).
            if (step > 0 and step % self.every_n_train_steps == 0
                    and step != self._logged_step):
                self._logged_step = step
                self._log("train", trainer, pl_module, on_step=True)
        elif (
            self.every_n_train_epochs
            and trainer.current_epoch % self.every_n_train_epochs == 0
        ):
            self._collect("train", outputs)

    def on_train_epoch_end(self, trainer, pl_module):
        """Log the training metrics every n epochs, in epoch mode."""
        if self.every_n_train_epochs and (
            trainer.current_epoch % self.every_n_train_epochs == 0
        ):
            self._log("train", trainer, pl_module, on_step=False)

    def _logs_this_val_epoch(self, trainer):
        return (
            not trainer.sanity_checking
            and self.every_n_val_epochs is not None
            and self._val_epochs % self.every_n_val_epochs == 0
        )

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ):
        """Collect the step's metric inputs (not during the sanity check)."""
        if self._logs_this_val_epoch(trainer):
            self._collect("val", outputs)

    def on_validation_epoch_end(self, trainer, pl_module):
        """Log the validation metrics every n validation epochs."""
        if trainer.sanity_checking:
            return
        if self._logs_this_val_epoch(trainer):
            self._log("val", trainer, pl_module, on_step=False)
        self._val_epochs += 1

    def on_test_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ):
        """Collect the step's metric inputs when ``on_test_end`` is set."""
        if self.on_test_end:
            self._collect("test", outputs)

    def on_test_epoch_end(self, trainer, pl_module):
        """Log the test metrics when ``on_test_end`` is set."""
        if self.on_test_end:
            self._log("test", trainer, pl_module, on_step=False)
