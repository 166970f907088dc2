"""core.metrics against figures computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mnistedge.core import metrics

LABELS = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
KERAS = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 0])  # 9/10
QUANT = np.array([0, 1, 1, 1, 2, 2, 3, 3, 4, 4])  # 9/10, two flips vs keras


def test_accuracy_and_per_class() -> None:
    assert metrics.accuracy(QUANT, LABELS) == pytest.approx(0.9)
    per_class = metrics.per_class_accuracy(QUANT, LABELS)
    assert per_class[:5] == [0.5, 1.0, 1.0, 1.0, 1.0]
    assert per_class[5:] == [None] * 5  # digits absent from the labels


def test_against_a_reference() -> None:
    assert metrics.accuracy_delta_pp(QUANT, KERAS, LABELS) == 0.0
    assert metrics.agreement(QUANT, KERAS) == pytest.approx(0.8)
    assert metrics.flipped_indices(QUANT, KERAS).tolist() == [1, 9]
    delta = metrics.per_class_delta_pp(QUANT, KERAS, LABELS)
    assert delta[0] == pytest.approx(-50.0) and delta[4] == pytest.approx(50.0) and delta[9] is None
    # From counts: 3 more right out of 10,000 is exactly +0.03 pp.
    labels = np.zeros(10_000, np.int64)
    better, worse = labels.copy(), labels.copy()
    better[:7] = 1
    worse[:10] = 1
    assert metrics.accuracy_delta_pp(better, worse, labels) == 0.03


def test_confusion_matrix_rows_are_true_digits() -> None:
    matrix = metrics.confusion_matrix(QUANT, LABELS)
    assert matrix.shape == (10, 10) and matrix.sum() == 10
    assert matrix[0, 1] == 1 and matrix[0, 0] == 1 and matrix[4, 4] == 2


def test_max_abs_diff_treats_nan_as_infinite() -> None:
    p = np.full((2, 10), 0.1, np.float32)
    q = p.copy()
    q[1, 3] = 0.35
    assert metrics.max_abs_diff(p, q) == pytest.approx(0.25)
    q[0, 0] = np.nan
    assert metrics.max_abs_diff(p, q) == float("inf")


def test_bad_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="must be the same length"):
        metrics.accuracy(QUANT[:3], LABELS)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        metrics.accuracy(np.array([]), np.array([]))
