import numpy as np
import pytest

from pose2gloss.evaluation.metrics import (
    classification_metrics,
    confusion_figure,
    confusion_matrix,
    distribution_gate,
    export_gates,
    failed_gates_message,
    fp16_agreement_gate,
    fp32_agreement_gate,
    per_class_accuracy,
    top2_margin,
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


def softmax_rows(n: int, classes: int = 5, seed: int = 0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(0, 3, size=(n, classes))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_top2_margin():
    np.testing.assert_allclose(top2_margin(SCORES), [0.3, 0.2, 0.2])


def test_fp32_gate_reports_near_ties_instead_of_failing_on_them():
    reference = softmax_rows(50)
    reference[7] = [0.4, 0.40005, 0.2, 0.0, 0.0]  # a near-tie: top-2 margin 5e-5
    exported = reference.copy()
    exported[7] = [0.40005, 0.4, 0.2, 0.0, 0.0]  # flipped by rounding
    result = fp32_agreement_gate(exported, reference)
    assert result.passed
    assert result.rows == [7]
    assert result.metrics["near_ties"] == 1 and result.metrics["compared"] == 49
    assert "1 near-ties" in result.reason


def test_fp32_gate_fails_on_a_decisive_disagreement():
    reference = softmax_rows(50)
    exported = reference.copy()
    exported[3] = np.roll(exported[3], 1)  # a different top-1 where Keras was decisive
    result = fp32_agreement_gate(exported, reference)
    assert not result.passed
    assert result.rows == [3]
    assert "differs on 1 of" in result.reason


def test_fp16_gate_threshold():
    reference = softmax_rows(200)
    exported = reference.copy()
    exported[:2] = np.roll(exported[:2], 1, axis=1)
    assert fp16_agreement_gate(exported, reference).passed  # 198/200 = 0.99
    exported[:3] = np.roll(reference[:3], 1, axis=1)
    result = fp16_agreement_gate(exported, reference)
    assert not result.passed and result.rows == [0, 1, 2]
    assert result.metrics["decisive_agreement"] == pytest.approx(0.985)


def test_fp16_gate_does_not_count_near_ties_at_half_precision():
    reference = softmax_rows(80)
    reference[9, :2] = [0.4, 0.3995]  # a call closer than half precision can resolve
    reference[9, 2:] = 0.2005 / (reference.shape[1] - 2)
    exported = reference.copy()
    exported[9, :2] = [0.3995, 0.4]  # FP16 orders the near-tie the other way: 79/80 overall
    result = fp16_agreement_gate(exported, reference)
    assert result.passed
    assert result.rows == [9] and result.metrics["near_ties"] == 1
    assert result.metrics["top1_agreement"] == pytest.approx(79 / 80)
    assert "1 near-ties not compared" in result.reason
    exported[3] = np.roll(reference[3], 1)  # a decisive disagreement still counts
    assert not fp16_agreement_gate(exported, reference).passed


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ([0.5, np.nan, 0.5, 0.0, 0.0], "1 non-finite"),
        ([1.2, -0.2, 0.0, 0.0, 0.0], "1 negative"),
        ([2.0, 1.0, 0.5, 0.1, 0.1], "1 summing off 1"),
    ],
)
def test_distribution_gate_catches_outputs_that_are_not_probabilities(row, problem):
    scores = softmax_rows(10)
    assert distribution_gate("fp32", scores).passed
    scores[4] = row
    result = distribution_gate("fp32", scores)
    assert not result.passed and result.rows == [4]
    assert problem in result.reason


def test_export_gates_and_failure_message_name_the_rows():
    reference = softmax_rows(20)
    logits = np.log(reference)  # an export that forgot its softmax
    results = export_gates(reference, fp32=reference.copy(), fp16=logits)
    assert [r.passed for r in results] == [True, False, True, True]
    message = failed_gates_message(results, {i: 1000 + i for i in range(20)})
    assert message.startswith("fp16_distribution:") and "1000" in message
    assert "fp32" not in message.split(":")[0]


def test_gates_reject_mismatched_scores():
    with pytest.raises(ValueError, match="equal"):
        fp32_agreement_gate(softmax_rows(3), softmax_rows(4))
