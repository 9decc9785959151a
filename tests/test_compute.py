"""The 6 x params x tokens compute convention (forecast/compute.py)."""
import numpy as np

from forecast.compute import log10_size_on_path, log10_training_flops, tokens_from_flops, training_flops


def test_training_flops_is_six_params_tokens_and_inverts() -> None:
    params, tokens = np.array([1.5e8, 7e9]), np.array([3e9, 4e12])
    flops = training_flops(params, tokens)
    np.testing.assert_allclose(flops, [2.7e18, 1.68e23])
    np.testing.assert_allclose(tokens_from_flops(flops, params), tokens)
    np.testing.assert_allclose(log10_training_flops(np.log10(params), np.log10(tokens)), np.log10(flops))


def test_size_on_a_tokens_per_param_path_spends_the_compute() -> None:
    log10_flops, ratio = np.array([18.0, 21.5, 24.0]), 20.0
    log10_params, log10_tokens = log10_size_on_path(log10_flops, ratio)
    np.testing.assert_allclose(log10_tokens - log10_params, np.log10(ratio))
    np.testing.assert_allclose(log10_training_flops(log10_params, log10_tokens), log10_flops)
