"""Find pretrained weights, on disk or on a model hub, and load them."""

import importlib
import warnings
from pathlib import Path

import torch

__all__ = ["Weights"]

_INSTALL_HUB = (
    'install it with `pip install "nidl[openbhb]"` (or `pip install huggingface_hub`)'
)


class Weights:
    """Pretrained weights: where their file is, and how to load them.

    ``name`` says where the weights are:

    - a local folder: the file is ``Path(name) / filepath``;
    - ``"hf-hub:<org>/<repo>"`` or ``"hf-hub:<org>/<repo>@<revision>"``: the
      file ``filepath`` of that model repository, downloaded into
      ``data_dir`` by ``huggingface_hub.hf_hub_download`` (imported only
      then; it comes with the ``openbhb`` extra) unless already there;
    - ``"ns-hub:<a>/<b>"``: the file ``data_dir/<a>/<b>/filepath``, which
      must already be on disk: nidl does not download from that hub, which
      is not reachable from outside its network.

    Parameters
    ----------
    name : str or path-like
        A local folder, or a hub name as above.
    data_dir : str or path-like
        Folder where hub files are downloaded or looked for; unused for a
        local folder.
    filepath : str
        Path of the weight file in the folder or repository, e.g.
        ``"model.pt"`` (a ``state_dict``) or ``"last.ckpt"`` (a Lightning
        checkpoint).

    Attributes
    ----------
    weight_file : pathlib.Path
        The weight file on disk.
    dtype : {"local", "hf-hub", "ns-hub"}
        Where the weights come from.
    is_lightning_ckpt : bool
        Whether ``weight_file`` is a Lightning checkpoint (``.ckpt``), for
        :meth:`load_checkpoint`; other files go to :meth:`load_pretrained`.

    Raises
    ------
    FileNotFoundError
        If the weight file does not exist (some implementations raise an
        ``AssertionError`` here; this one names the missing file), or if an
        ``ns-hub`` file was not put in ``data_dir`` beforehand.
    ModuleNotFoundError
        For an ``hf-hub`` name without ``huggingface_hub`` installed.
    OSError
        If the download from the hub fails (no network, unknown repository
        or file); the message says to pass a local folder instead.

    Examples
    --------
    >>> import tempfile
    >>> import torch
    >>> from nidl.utils import Weights
    >>> folder = tempfile.mkdtemp()
    >>> torch.save(torch.nn.Linear(3, 2).state_dict(), f"{folder}/linear.pt")
    >>> weights = Weights(folder, data_dir=folder, filepath="linear.pt")
    >>> weights.dtype, weights.is_lightning_ckpt, weights.weight_file.name
    ('local', False, 'linear.pt')
    >>> model = torch.nn.Linear(3, 2)
    >>> weights.load_pretrained(model)
    >>> Weights.hub_split("hf-hub:org/repo@v1.0")
    ('org/repo', 'v1.0')
    """

    def __init__(self, name, data_dir, filepath):
        self.name = name
        self.data_dir = Path(data_dir)
        self.filepath = filepath
        name = str(name)
        prefix = name.split(":", 1)[0]
        self.dtype = prefix if prefix in ("hf-hub", "ns-hub") else "local"
        if self.dtype == "hf-hub":
            self.weight_file = self._hf_download(name)
        elif self.dtype == "ns-hub":
            self.weight_file = self._ns_file(name)
        else:
            self.weight_file = Path(name) / filepath
            if not self.weight_file.is_file():
                raise FileNotFoundError(
                    f"no weight file {str(self.weight_file)!r}: name={name!r} is "
                    f"read as a local folder holding filepath={filepath!r}; give "
                    "the folder of an existing file, or a hub name "
                    "'hf-hub:<org>/<repo>[@<revision>]'."
                )
        self.is_lightning_ckpt = self.weight_file.suffix == ".ckpt"

    @staticmethod
    def hub_split(name):
        """Split a hub name into its repository id and revision.

        Parameters
        ----------
        name : str
            ``"<hub>:<id>"`` or ``"<hub>:<id>@<revision>"``.

        Returns
        -------
        hub_id : str
            The repository id, e.g. ``"org/repo"``.
        revision : str or None
            The revision (a branch, tag or commit), or None.

        Raises
        ------
        ValueError
            If ``name`` has no ``<hub>:`` prefix, an empty id or more than one
            ``@``.

        Examples
        --------
        >>> from nidl.utils import Weights
        >>> Weights.hub_split("hf-hub:org/repo")
        ('org/repo', None)
        """
        prefix, colon, rest = str(name).partition(":")
        parts = rest.split("@")
        if not colon or not prefix or not parts[0] or len(parts) > 2:
            raise ValueError(
                f"{name!r} is not a hub name; write it '<hub>:<org>/<repo>' or "
                "'<hub>:<org>/<repo>@<revision>', e.g. 'hf-hub:org/repo@main'."
            )
        return parts[0], (parts[1] or None) if len(parts) > 1 else None

    def _hf_download(self, name):
        repo_id, revision = self.hub_split(name)
        try:
            huggingface_hub = importlib.import_module("huggingface_hub")
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError(
                f"weights {name!r} are downloaded with the huggingface_hub "
                f"package, which is not installed; {_INSTALL_HUB}, or download "
                f"{self.filepath!r} yourself and pass its folder as name."
            ) from exc
        try:
            path = huggingface_hub.hf_hub_download(
                repo_id, filename=self.filepath, revision=revision,
                repo_type="model", local_dir=str(self.data_dir),
                force_download=False,
            )
        except Exception as exc:  # network, missing repository or file
            raise OSError(
                f"could not download {self.filepath!r} of {repo_id!r}"
                f"{'' if revision is None else f' at revision {revision!r}'} "
                f"({type(exc).__name__}: {exc}). The hub cannot be reached from "
                "this machine, or the repository has no such file; download the "
                "file elsewhere and pass its local folder as name."
            ) from exc
        return Path(path)

    def _ns_file(self, name):
        hub_id, _ = self.hub_split(name)
        weight_file = self.data_dir / hub_id / self.filepath
        if not weight_file.is_file():
            raise FileNotFoundError(
                f"weights {name!r} are not on disk at {str(weight_file)!r}, and "
                "nidl cannot download them: that hub is not reachable from "
                "outside its network. Copy the file there, or pass the folder "
                "that holds it as name."
            )
        return weight_file

    def load_checkpoint(self, model, *, map_location="cpu", **kwargs):
        """Load a Lightning checkpoint through ``model.load_from_checkpoint``.

        Parameters
        ----------
        model : type or pytorch_lightning.LightningModule
            Usually the LightningModule class; its ``load_from_checkpoint``
            builds a model from the checkpoint's hyperparameters and weights.
        map_location : str or torch.device, default="cpu"
            Where to load the tensors.
        **kwargs
            Passed to ``load_from_checkpoint`` (they override hyperparameters);
            ``devices`` and ``accelerator`` default to ``"auto"``.

        Returns
        -------
        model : pytorch_lightning.LightningModule or None
            The loaded model; None (with a warning) if ``weight_file`` is not
            a ``.ckpt`` file.
        """
        if not self.is_lightning_ckpt:
            warnings.warn(
                f"{str(self.weight_file)!r} is not a Lightning checkpoint (.ckpt); "
                "use load_pretrained to load a state_dict.",
                UserWarning, stacklevel=2,
            )
            return None
        kwargs.setdefault("devices", "auto")
        kwargs.setdefault("accelerator", "auto")
        return model.load_from_checkpoint(
            checkpoint_path=self.weight_file, map_location=map_location, **kwargs
        )

    def load_pretrained(self, model, weights_only=True):
        """Load a saved ``state_dict`` into ``model``, in place.

        Parameters
        ----------
        model : torch.nn.Module
            The model, whose ``load_state_dict`` receives the weights
            (strictly: the keys must match).
        weights_only : bool, default=True
            Passed to :func:`torch.load`: True refuses files that hold
            arbitrary Python objects, which is safe for files from elsewhere.

        Returns
        -------
        None
            Nothing, with a warning, for a ``.ckpt`` file (use
            :meth:`load_checkpoint`).
        """
        if self.is_lightning_ckpt:
            warnings.warn(
                f"{str(self.weight_file)!r} is a Lightning checkpoint; use "
                "load_checkpoint to load it.",
                UserWarning, stacklevel=2,
            )
            return
        # On the CPU first: weights saved on a GPU load on any machine, and
        # load_state_dict copies them to the model's device.
        state_dict = torch.load(self.weight_file, map_location="cpu",
                                weights_only=weights_only)
        model.load_state_dict(state_dict)

    def __repr__(self):
        return (f"{type(self).__name__}<name={self.name},data_dir={self.data_dir},"
                f"filepath={self.filepath}>")
