"""Smoke tests of the speed benchmark: every row measured, nothing timed.

The benchmark's throughputs are printed for people to read; these tests only
check that the script runs on tiny sizes and fills its table with positive,
finite numbers, and that the plain loop starts from nidl's weights.
"""

import copy
import importlib.util
import math
import re
import sys
from pathlib import Path

import pytest
import torch
from pytorch_lightning import Callback

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_vae_speed.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_vae_speed", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def tiny(bench):
    return bench.Sizes(mlp_samples=300, mlp_epochs=2, conv_samples=4, conv_epochs=2,
                       volume_shape=(16, 16, 16), repeats=1, transform_repeats=1)


NUMBERS = ("fit", "plain_fit", "fit_ratio", "transform", "plain_transform",
           "transform_ratio")


def check_rows(bench, results, expected):
    assert [(r["case"], r["input"], r["options"]) for r in results] == expected
    for result in results:
        if result["note"]:
            continue
        for key in NUMBERS:
            assert math.isfinite(result[key]) and result[key] > 0, (result, key)
        for key in ("fit_mib", "plain_fit_mib", "transform_mib", "plain_transform_mib"):
            assert math.isfinite(result[key]) and result[key] >= 0, (result, key)
        assert math.isfinite(result["setup"])
    table = bench.format_table(results)
    assert len(table.splitlines()) == len(results) + 2
    for case, kind, options in expected:
        assert any(case in line and kind in line and options in line
                   for line in table.splitlines()[2:])


def test_every_row_measured(bench):
    results = bench.run(tiny(bench), bf16=True, compile=False, log=lambda _: None)
    check_rows(bench, results, [
        ("mlp", "ndarray", "default"),
        ("mlp", "tensor", "default"),
        ("mlp", "DataLoader", "default"),
        ("mlp", "ndarray", "bf16-mixed"),
        ("conv3d", "ndarray", "default"),
        ("conv3d", "tensor", "default"),
        ("conv3d", "DataLoader", "default"),
        ("conv3d", "ndarray", "channels_last=False"),
        ("conv3d", "ndarray", "bf16-mixed"),
    ])


@pytest.mark.slow
def test_compile_row_measured(bench):
    results = bench.run(tiny(bench), cases=("mlp",), log=lambda _: None)
    check_rows(bench, results, [
        ("mlp", "ndarray", "default"),
        ("mlp", "tensor", "default"),
        ("mlp", "DataLoader", "default"),
        ("mlp", "ndarray", "compile=True"),
    ])


def test_missing_option_gives_a_skipped_row(bench, monkeypatch):
    # As with a version of nidl that has no compile option.
    supported = bench.supported_option
    monkeypatch.setattr(bench, "supported_option", lambda name: name != "compile"
                        and supported(name))
    assert bench.missing_options({"compile": True, "precision": "bf16-mixed"}) == [
        "compile"
    ]
    results = bench.run(tiny(bench), cases=("mlp",), log=lambda _: None)
    skipped = [r for r in results if r["options"] == "compile=True"]
    assert len(skipped) == 1 and "compile" in skipped[0]["note"]
    assert "fit" not in skipped[0]
    assert skipped[0]["note"] in bench.format_table(results)


class _InitialHeads(Callback):
    def __init__(self):
        self.weights = None

    def __deepcopy__(self, memo):
        return self

    def on_train_start(self, trainer, pl_module):
        self.weights = [copy.deepcopy(p.detach()) for p in pl_module.parameters()]


@pytest.mark.parametrize("case_name", ["mlp_case", "conv_case"])
def test_plain_loop_starts_from_nidl_weights(bench, case_name):
    case = getattr(bench, case_name)(tiny(bench))
    recorder = _InitialHeads()
    vae = bench.make_vae(case, {"max_steps": 1, "channels_last": False},
                         torch.device("cpu"), recorder)
    vae.fit(case.X)
    fc_mu, fc_logvar = bench.plain_heads(case)
    plain = [*case.encoder.parameters(), *case.decoder.parameters(),
             *fc_mu.parameters(), *fc_logvar.parameters()]
    assert len(plain) == len(recorder.weights)
    for expected, got in zip(plain, recorder.weights):
        torch.testing.assert_close(got, expected.detach(), rtol=0, atol=0)


def test_step_overhead_script_measures_every_variant(bench):
    spec = importlib.util.spec_from_file_location(
        "bench_step_overhead", PATH.parent / "bench_step_overhead.py"
    )
    overhead = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(overhead)
    X = torch.randn(4 * overhead.BATCH, 1)
    timings = [
        overhead.tiny_plain_us(X, n_batches=4),
        overhead.tiny_trainer_us(X, manual=False),
        overhead.tiny_trainer_us(X, manual=True),
    ]
    case = bench.mlp_case(tiny(bench), compile=False)
    timings += [overhead.mlp_step_ms(case, "eager", fused) for fused in (False, True)]
    assert all(math.isfinite(t) and t > 0 for t in timings)


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, PATH.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nifti_cache_benchmark_measures_every_condition(tmp_path):
    pytest.importorskip("nibabel")
    pytest.importorskip("nilearn")
    bench_nifti = load_script("bench_nifti_cache")
    info, results = bench_nifti.run(n_subjects=6, resolution=4, epochs=2,
                                    out_dir=str(tmp_path / "cohort"),
                                    log=lambda _: None)
    cached, in_memory, naive = results
    # The cache's second epoch opens no NIfTI file; the naive Dataset opens
    # every file in every epoch; the tensor none.
    assert cached["loads"][2:] == [0]
    assert sum(in_memory["loads"]) == 0
    assert naive["loads"][-1] == 6
    assert info["cache_entries"] == 6
    assert "(a)/(b) throughput" in bench_nifti.report(info, results)


def test_normative_benchmark_scores_every_model():
    pytest.importorskip("nilearn")

    bench_normative = load_script("bench_normative")
    results = [
        bench_normative.run(
            strength=0.8, n_train=10, n_calibration=8, n_test=6, n_patients=3,
            n_regions=8, seed=seed, latent_dim=2, hidden=8, epochs=1, batch_size=5,
        )
        for seed in (0, 1)
    ]
    for result_of_seed in results:
        assert set(result_of_seed) == {"VAE", "cVAE", "PCA", "linear"}
        for name, result in result_of_seed.items():
            if result is None:  # a version of nidl without the conditional VAE
                assert name == "cVAE"
                continue
            assert 0 <= result["subject"] <= 1 and 0.5 < result["voxel"] <= 1, name
            for key, value in result.items():
                if "false positives" in key or "patients at" in key:
                    assert 0 <= value <= 1, (name, key)
            assert ("conformal latent false positives at 0.05" in result) == (
                name != "linear"
            )
    one, pooled = (bench_normative.format_lines(r) for r in (results[:1], results))
    number = r"(\d+\.\d\d|n/a|inf)"
    models = ", ".join(f"{name} {number}" for name in ("VAE", "cVAE", "PCA", "linear"))
    assert re.fullmatch(f"subject AUC: {models}; voxel AUC: {models}", one[0]), one[0]
    latent = ", ".join(f"{name} {number}" for name in ("VAE", "cVAE", "PCA"))
    assert re.fullmatch(
        "false positives at p < 0.05 among new controls: "
        f"latent {latent}; subject {models}", one[1]
    ), one[1]
    # Over several seeds, each AUC is a mean and a standard deviation.
    assert re.match(r"subject AUC: VAE \d\.\d\d ± \d\.\d\d, ", pooled[0]), pooled[0]


def test_brain_vae_benchmark_measures_every_figure():
    pytest.importorskip("nilearn")
    import numpy as np

    bench_brain = load_script("bench_brain_vae")
    settings = {**bench_brain.SETTINGS, "epochs": 1, "hidden": 8, "decoder_hidden": 8,
                "nonlinear_decoder": True}
    figures = bench_brain.run(0, n_subjects=30, n_train=20, settings=settings,
                              log=lambda _: None)
    for name in ("age_vae", "age_pca", "rec_vae", "rec_pca", "site_vae", "site_cvae",
                 "site_pca", "rec_kernel"):
        assert np.isfinite(figures[name]), name
    assert 0 <= figures["site_cvae"] <= 1
    line = bench_brain.format_figures(figures).splitlines()[0]
    assert line.startswith("seed 0: age R^2: VAE ")
    assert "held-out reconstruction R^2: VAE" in line
    third = bench_brain.format_figures(figures).splitlines()[2]
    assert "through a nonlinear decoder" in third


def test_ssl_brain_benchmark_scores_every_model():
    pytest.importorskip("nilearn")
    import numpy as np

    bench_ssl = load_script("bench_ssl_brain")
    settings = {**bench_ssl.SETTINGS, "epochs": 1, "widths": (4, 4, 4)}
    lines = []
    figures = bench_ssl.run(0, n_subjects=24, n_train=16, settings=settings,
                            log=lines.append)
    for name in bench_ssl.MODELS:
        assert np.isfinite(figures["age"][name]), name
        assert 0 <= figures["site"][name] <= 1, name
    models = ", ".join(rf"{name} -?\d\.\d\d" for name in bench_ssl.MODELS)
    assert re.fullmatch(rf"seed 0: age R\^2 \(ridge probe\): {models}; "
                        r"site accuracy: .* \(chance 0\.33\)", lines[0]), lines[0]
