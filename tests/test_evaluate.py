import numpy as np
import pytest

from pose2gloss.evaluate import (
    classification_metrics,
    confusion_figure,
    confusion_matrix,
    per_class_accuracy,
    top_k_accuracy,
)

SCORES = np.array(
    [
        [0.1, 0.6, 0.3],  # label 1: top-1 hit
        [0.5, 0.2, 0.3],  # label 2: top-1 miss, top-2 hit
        [0.2, 0.3, 0.5],  # label 0: top-2 miss
    ]
)
LABELS = np.array([1, 2, 0])


def test_top_k_hand_checked():
    assert top_k_accuracy(SCORES, LABELS, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(SCORES, LABELS, 2) == pytest.approx(2 / 3)
    assert top_k_accuracy(SCORES, LABELS, 5) == 1.0  # k above the class count means all classes


def test_top_k_rejects_mismatch_and_empty():
    with pytest.raises(ValueError, match="do not match"):
        top_k_accuracy(SCORES, LABELS[:2])
    with pytest.raises(ValueError, match="no samples"):
        top_k_accuracy(np.zeros((0, 3)), np.zeros(0, int))


def test_per_class_and_confusion():
    predictions = SCORES.argmax(axis=1)
    assert per_class_accuracy(predictions, LABELS) == {0: 0.0, 1: 1.0, 2: 0.0}
    matrix = confusion_matrix(predictions, LABELS, classes=[0, 1, 2])
    assert matrix.tolist() == [[0, 0, 1], [0, 1, 0], [1, 0, 0]]
    assert classification_metrics(SCORES, LABELS)["top1"] == pytest.approx(1 / 3)


def test_confusion_figure_has_one_image_with_row_normalised_values():
    figure = confusion_figure(np.array([[2, 2], [0, 0]]), ["a", "b"])
    image = figure.axes[0].images[0].get_array()
    assert image.tolist() == [[0.5, 0.5], [0.0, 0.0]]
