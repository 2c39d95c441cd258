"""Pretrained weights from local folders and hubs (a stand-in for the hub)."""

import sys
import types

import pytest
import pytorch_lightning as pl
import torch

from nidl.utils import Weights


class TinyModule(pl.LightningModule):
    def __init__(self, n_features=3, **trainer_options):
        super().__init__()
        self.save_hyperparameters("n_features")
        self.trainer_options = trainer_options
        self.layer = torch.nn.Linear(n_features, 2)


@pytest.fixture
def state_dict_folder(tmp_path):
    torch.manual_seed(0)
    source = torch.nn.Linear(3, 2)
    torch.save(source.state_dict(), tmp_path / "linear.pt")
    return tmp_path, source


def test_local_state_dict_round_trip(state_dict_folder):
    folder, source = state_dict_folder
    weights = Weights(str(folder), data_dir="unused", filepath="linear.pt")
    assert weights.dtype == "local" and not weights.is_lightning_ckpt
    assert weights.weight_file == folder / "linear.pt"
    model = torch.nn.Linear(3, 2)
    assert weights.load_pretrained(model) is None
    assert torch.equal(model.weight, source.weight)
    assert torch.equal(model.bias, source.bias)
    # Strict loading: another architecture is refused.
    with pytest.raises(RuntimeError, match="size mismatch"):
        weights.load_pretrained(torch.nn.Linear(4, 2))
    with pytest.warns(UserWarning, match="load_pretrained"):
        assert weights.load_checkpoint(TinyModule) is None


def test_repr(state_dict_folder):
    folder, _ = state_dict_folder
    weights = Weights(folder, data_dir="cache", filepath="linear.pt")
    assert repr(weights) == f"Weights<name={folder},data_dir=cache,filepath=linear.pt>"


def test_lightning_checkpoint(tmp_path):
    torch.manual_seed(0)
    source = TinyModule(n_features=4)
    torch.save({"state_dict": source.state_dict(),
                "hyper_parameters": dict(source.hparams),
                "pytorch-lightning_version": pl.__version__},
               tmp_path / "last.ckpt")
    weights = Weights(tmp_path, data_dir=tmp_path, filepath="last.ckpt")
    assert weights.is_lightning_ckpt
    model = weights.load_checkpoint(TinyModule)
    assert isinstance(model, TinyModule) and model.hparams.n_features == 4
    assert torch.equal(model.layer.weight, source.layer.weight)
    # devices and accelerator default to "auto" and can be given.
    assert model.trainer_options == {"devices": "auto", "accelerator": "auto"}
    model = weights.load_checkpoint(TinyModule, devices=1)
    assert model.trainer_options["devices"] == 1
    with pytest.warns(UserWarning, match="load_checkpoint"):
        assert weights.load_pretrained(torch.nn.Linear(4, 2)) is None


def test_missing_local_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        Weights(tmp_path, data_dir=tmp_path, filepath="missing.pt")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("hf-hub:org/repo", ("org/repo", None)),
        ("hf-hub:org/repo@v2", ("org/repo", "v2")),
        ("ns-hub:group/model", ("group/model", None)),
    ],
)
def test_hub_split(name, expected):
    assert Weights.hub_split(name) == expected


@pytest.mark.parametrize("name", ["org/repo", "hf-hub:", "hf-hub:a@b@c"])
def test_hub_split_errors(name):
    with pytest.raises(ValueError, match="hub name"):
        Weights.hub_split(name)


def fake_hub(monkeypatch, download):
    module = types.ModuleType("huggingface_hub")
    module.hf_hub_download = download
    monkeypatch.setitem(sys.modules, "huggingface_hub", module)


def test_hf_hub_download_arguments(monkeypatch, tmp_path):
    calls = []

    def download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        path = tmp_path / kwargs["filename"]
        torch.save(torch.nn.Linear(3, 2).state_dict(), path)
        return str(path)

    fake_hub(monkeypatch, download)
    weights = Weights("hf-hub:org/repo@v1", data_dir=tmp_path, filepath="w.pt")
    assert calls == [("org/repo", {"filename": "w.pt", "revision": "v1",
                                   "repo_type": "model", "local_dir": str(tmp_path),
                                   "force_download": False})]
    assert weights.dtype == "hf-hub" and weights.weight_file == tmp_path / "w.pt"
    weights.load_pretrained(torch.nn.Linear(3, 2))


def test_hf_hub_unreachable(monkeypatch, tmp_path):
    def download(repo_id, **kwargs):
        raise ConnectionError("Max retries exceeded with url")

    fake_hub(monkeypatch, download)
    with pytest.raises(OSError, match="cannot be reached.*local folder") as info:
        Weights("hf-hub:org/repo", data_dir=tmp_path, filepath="w.pt")
    assert isinstance(info.value.__cause__, ConnectionError)


def test_hf_hub_without_huggingface_hub(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails
    with pytest.raises(ModuleNotFoundError, match=r"nidl\[openbhb\]"):
        Weights("hf-hub:org/repo", data_dir=tmp_path, filepath="w.pt")


def test_ns_hub_is_not_downloaded(tmp_path):
    with pytest.raises(FileNotFoundError, match="not reachable.*folder"):
        Weights("ns-hub:group/model", data_dir=tmp_path, filepath="w.pt")
    # A file already put where the hub would have downloaded it is used.
    (tmp_path / "group" / "model").mkdir(parents=True)
    torch.save({}, tmp_path / "group" / "model" / "w.pt")
    weights = Weights("ns-hub:group/model", data_dir=tmp_path, filepath="w.pt")
    assert weights.dtype == "ns-hub"
    assert weights.weight_file == tmp_path / "group" / "model" / "w.pt"
