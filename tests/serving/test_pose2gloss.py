"""The FastAPI server: every endpoint, every kind of bad input, model sources, API key, a real uvicorn."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from pose2gloss.bundle.files import BundleError, record_production
from pose2gloss.data.gislr import load_sequence
from pose2gloss.data.signs import GISLR_SIGNS
from serving.decode import Limits, landmarks_to_array
from serving.model_source import ModelNotFound, ModelUnavailable, load_model, load_path
from serving.pose2gloss import create_app
from serving.settings import Settings
from tests.gislr_files import random_sequence, sequence_frame, write_sequence

ROOT = Path(__file__).resolve().parents[2]
N_CLASSES = 250
JSON = {"content-type": "application/json"}
NPY = {"content-type": "application/x-npy"}
NPZ = {"content-type": "application/x-npz"}
PARQUET = {"content-type": "application/vnd.apache.parquet"}


# ---------------------------------------------------------------------------------------------
# Fixtures: one small exported model for the whole module


@pytest.fixture(scope="module")
def keras_model():
    import keras

    from pose2gloss.preprocessing.features import FeatureConfig
    from pose2gloss.training.registry import build_model

    keras.utils.set_random_seed(7)
    return build_model(
        "GISLR", (FeatureConfig().max_len, FeatureConfig().n_features), N_CLASSES, {"dim": 32, "num_blocks": 1}
    )


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory, keras_model) -> Path:
    from pose2gloss.bundle.export import export_bundle
    from pose2gloss.preprocessing.features import FeatureConfig

    directory = tmp_path_factory.mktemp("bundle")
    sign_map = {sign: i for i, sign in enumerate(GISLR_SIGNS)}
    return export_bundle(keras_model, FeatureConfig(), directory, sign_map, {"model_id": "serving-test"})


@pytest.fixture(scope="module")
def served(bundle_dir):
    return load_path(bundle_dir, "test")


@pytest.fixture(scope="module")
def client(served):
    with TestClient(create_app(Settings(), served=served)) as test_client:
        yield test_client


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def as_json(sequence: np.ndarray, **extra) -> bytes:
    return orjson.dumps({"landmarks": np.where(np.isnan(sequence), None, sequence).tolist(), **extra})


def as_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def as_parquet(tmp_path: Path, sequence: np.ndarray) -> bytes:
    return write_sequence(tmp_path / "one.parquet", sequence).read_bytes()


def scores_of(response: httpx.Response) -> dict[str, float]:
    assert response.status_code == 200, response.text
    return {p["gloss"]: p["score"] for p in response.json()["predictions"]}


# ---------------------------------------------------------------------------------------------
# Endpoints


def test_health_and_ready(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/", follow_redirects=False).headers["location"] == "/docs"
    ready = client.get("/ready").json()
    assert ready["ready"] is True
    assert ready["model_id"] == "serving-test"
    assert ready["num_classes"] == N_CLASSES
    assert ready["source"] == "test"
    assert ready["created"]


def test_model_card_and_signs_come_from_the_bundle(client):
    body = client.get("/model").json()
    assert body["signs"] == list(GISLR_SIGNS)
    assert body["card"]["files"]["model.tflite"]


def test_predict_json(client, rng):
    sequence = random_sequence(rng, 20)
    response = client.post("/predict", content=as_json(sequence), headers=JSON)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_id"] == "serving-test" and body["frames"] == 20 and body["inference_ms"] > 0
    scores = [p["score"] for p in body["predictions"]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    assert all(p["gloss"] in GISLR_SIGNS for p in body["predictions"])


def test_every_input_form_gives_the_same_scores(client, rng, tmp_path):
    sequence = random_sequence(rng, 12)
    reference = scores_of(client.post("/predict?top_k=10", content=as_json(sequence), headers=JSON))
    forms = {
        "npy": client.post("/predict?top_k=10", content=as_npy(sequence), headers=NPY),
        "npy float64": client.post("/predict?top_k=10", content=as_npy(sequence.astype(np.float64)), headers=NPY),
        "npy fortran": client.post("/predict?top_k=10", content=as_npy(np.asfortranarray(sequence)), headers=NPY),
        "parquet": client.post("/predict?top_k=10", content=as_parquet(tmp_path, sequence), headers=PARQUET),
        "upload npy": client.post("/predict?top_k=10", files={"file": ("s.npy", as_npy(sequence))}),
        "upload parquet": client.post(
            "/predict?top_k=10", files={"file": ("s.parquet", as_parquet(tmp_path, sequence))}
        ),
        "upload json": client.post("/predict", files={"file": ("s.json", as_json(sequence, top_k=10))}),
        "octet-stream npy": client.post(
            "/predict?top_k=10", content=as_npy(sequence), headers={"content-type": "application/octet-stream"}
        ),
    }
    for name, response in forms.items():
        got = scores_of(response)
        assert list(got) == list(reference), name
        np.testing.assert_allclose(list(got.values()), list(reference.values()), rtol=1e-5, err_msg=name)


def test_concurrent_requests_get_the_same_answers_as_sequential_ones(client, rng):
    sequences = [random_sequence(rng, n) for n in (5, 40, 64, 200)]
    bodies = [as_npy(s) for s in sequences]
    expected = [scores_of(client.post("/predict?top_k=5", content=b, headers=NPY)) for b in bodies]
    with ThreadPoolExecutor(8) as pool:
        got = list(
            pool.map(
                lambda i: scores_of(client.post("/predict?top_k=5", content=bodies[i % 4], headers=NPY)), range(32)
            )
        )
    for i, scores in enumerate(got):
        assert list(scores) == list(expected[i % 4])
        np.testing.assert_allclose(list(scores.values()), list(expected[i % 4].values()), rtol=1e-6)


def test_top_k_from_body_and_query(client, rng):
    sequence = random_sequence(rng, 4)
    assert len(scores_of(client.post("/predict?top_k=2", content=as_json(sequence), headers=JSON))) == 2
    assert len(scores_of(client.post("/predict?top_k=2", content=as_json(sequence, top_k=3), headers=JSON))) == 3
    assert len(scores_of(client.post("/predict", content=as_json(sequence, top_k=4.0), headers=JSON))) == 4
    assert len(scores_of(client.post("/predict?top_k=2", content=as_json(sequence, top_k=None), headers=JSON))) == 2
    everything = scores_of(client.post(f"/predict?top_k={N_CLASSES}", content=as_npy(sequence), headers=NPY))
    assert len(everything) == N_CLASSES and sum(everything.values()) == pytest.approx(1.0, abs=1e-4)


def test_batch_json_and_npz_match_single_requests(client, rng):
    sequences = [random_sequence(rng, n) for n in (3, 30, 70)]
    singles = [scores_of(client.post("/predict?top_k=3", content=as_npy(s), headers=NPY)) for s in sequences]
    body = orjson.dumps(
        {"sequences": [{"landmarks": np.where(np.isnan(s), None, s).tolist()} for s in sequences], "top_k": 3}
    )
    buffer = io.BytesIO()
    np.savez(buffer, *sequences)
    for response in (
        client.post("/predict/batch", content=body, headers=JSON),
        client.post("/predict/batch?top_k=3", content=buffer.getvalue(), headers=NPZ),
    ):
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["frames"] for r in results] == [3, 30, 70]
        for result, single in zip(results, singles, strict=True):
            got = {p["gloss"]: p["score"] for p in result["predictions"]}
            assert list(got) == list(single)
            np.testing.assert_allclose(list(got.values()), list(single.values()), rtol=1e-5)


def test_served_top1_equals_keras_top1_on_sample_sequences(client, keras_model, tmp_path):
    from pose2gloss.data.synthetic import generate_sample
    from pose2gloss.preprocessing.features import FeatureConfig, preprocess_numpy

    root = generate_sample(tmp_path / "sample", n_signs=4, n_participants=1, sequences_per_sign=2, seed=3)
    paths = sorted(root.rglob("*.parquet"))
    sequences = [load_sequence(p) for p in paths]
    frames = np.concatenate(sequences)
    lengths = np.asarray([len(s) for s in sequences])
    expected = np.asarray(keras_model(preprocess_numpy(frames, lengths, FeatureConfig()), training=False))
    for path, sequence, keras_scores in zip(paths, sequences, expected, strict=True):
        response = client.post(f"/predict?top_k={N_CLASSES}", content=path.read_bytes(), headers=PARQUET)
        served = scores_of(response)
        assert next(iter(served)) == GISLR_SIGNS[int(np.argmax(keras_scores))]
        in_order = np.asarray([served[sign] for sign in GISLR_SIGNS])
        np.testing.assert_allclose(in_order, keras_scores, rtol=1e-4, atol=1e-7)
        assert len(sequence) == response.json()["frames"]


def test_scores_are_the_models_outputs_as_they_are(tmp_path, rng):
    """A model whose outputs are not probabilities is served as it is (step 7 catches such exports)."""
    import keras

    from pose2gloss.bundle.export import export_bundle
    from pose2gloss.preprocessing.features import FeatureConfig

    keras.utils.set_random_seed(3)
    inputs = keras.Input((FeatureConfig().max_len, FeatureConfig().n_features))
    logits = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling1D()(inputs))  # no softmax
    signs = {"a": 0, "b": 1, "c": 2, "d": 3}
    directory = export_bundle(keras.Model(inputs, logits), FeatureConfig(), tmp_path, signs, {"model_id": "logits"})
    logits_model = load_path(directory, "test")
    sequence = random_sequence(rng, 9)
    raw = logits_model.classifier.predict(sequence).reshape(-1)
    assert raw.min() < 0 or abs(raw.sum() - 1) > 0.01  # really not a distribution
    with TestClient(create_app(Settings(), served=logits_model)) as logits_client:
        served = scores_of(logits_client.post("/predict?top_k=4", content=as_npy(sequence), headers=NPY))
    np.testing.assert_allclose([served[sign] for sign in signs], raw, rtol=1e-6)


def test_metrics(client, rng):
    client.post("/predict", content=as_npy(random_sequence(rng, 5)), headers=NPY)
    client.post("/predict", content=b"{", headers=JSON)
    text = client.get("/metrics").text
    assert "pose2gloss_inference_seconds_count" in text
    assert 'pose2gloss_decode_seconds_count{format="x-npy"}' in text
    assert "pose2gloss_predictions_total{gloss=" in text
    assert 'pose2gloss_rejected_requests_total{reason="json"}' in text
    assert 'http_requests_total{handler="/predict",method="POST",status="200"}' in text
    assert 'http_requests_total{handler="/predict",method="POST",status="400"}' in text
    assert 'pose2gloss_model_info{model_id="serving-test",source="test"} 1.0' in text


def test_openapi_documents_every_input_form(client):
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-npy", "application/vnd.apache.parquet", "multipart/form-data"} <= set(
        content
    )
    example = content["application/json"]["examples"]["one frame"]["value"]
    assert len(example["landmarks"][0]) == 543
    assert "application/x-npz" in spec["paths"]["/predict/batch"]["post"]["requestBody"]["content"]
    assert {"/health", "/ready", "/metrics", "/model"} <= set(spec["paths"])
    assert "422" in spec["paths"]["/predict"]["post"]["responses"]


def test_openapi_example_is_accepted(client):
    spec = client.get("/openapi.json").json()
    example = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    response = client.post("/predict", json=example["one frame"]["value"])
    assert len(scores_of(response)) == 3
    batch = spec["paths"]["/predict/batch"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert client.post("/predict/batch", json=batch["two sequences"]["value"]).status_code == 200


# ---------------------------------------------------------------------------------------------
# Bad input: a clear 4xx, and the server keeps serving


def _frame(value=0.5):
    return [[value, value, value]] * 543


def _npy_header_only() -> bytes:
    full = as_npy(np.zeros((2, 543, 3), np.float32))
    return full[: len(full) - 100]


def _npy_claiming_huge_shape() -> bytes:
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 543, 3), }"
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()


def _pickled_npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def _parquet_missing_column(tmp_path: Path) -> bytes:
    frame = sequence_frame(np.zeros((1, 543, 3), np.float32)).drop(columns=["landmark_index"])
    frame.to_parquet(tmp_path / "bad.parquet", index=False)
    return (tmp_path / "bad.parquet").read_bytes()


def _parquet_duplicate_landmark(tmp_path: Path) -> bytes:
    frame = sequence_frame(np.zeros((1, 543, 3), np.float32))
    frame.loc[5, "landmark_index"] = 4
    frame.to_parquet(tmp_path / "dup.parquet", index=False)
    return (tmp_path / "dup.parquet").read_bytes()


def _npz(*arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, *arrays)
    return buffer.getvalue()


def _batch(n: int) -> bytes:
    return orjson.dumps({"sequences": [{"landmarks": [_frame()]}] * n})


all_null = [[[None, None, None]] * 543] * 3

# (name, path, headers, body, status, words the message must contain)
BAD_INPUTS = [
    ("empty body", "/predict", JSON, b"", 400, "empty body"),
    ("whitespace body", "/predict", JSON, b"  \n", 400, "empty body"),
    ("not JSON", "/predict", JSON, b"landmarks=1", 400, "not valid JSON"),
    ("truncated JSON", "/predict", JSON, b'{"landmarks": [[[0.1, 0.2', 400, "not valid JSON"),
    ("wrong content type", "/predict", {"content-type": "text/plain"}, b"{}", 415, "text/plain"),
    ("no content type", "/predict", {}, b"{}", 415, "no Content-Type"),
    ("form-encoded", "/predict", {"content-type": "application/x-www-form-urlencoded"}, b"a=1", 415, "not supported"),
    ("JSON array, not object", "/predict", JSON, b"[1, 2]", 422, "expected a JSON object"),
    ("missing landmarks", "/predict", JSON, b'{"top_k": 3}', 422, 'missing field "landmarks"'),
    ("unknown field", "/predict", JSON, orjson.dumps({"landmarks": [_frame()], "fps": 30}), 422, "unknown field"),
    ("0 frames", "/predict", JSON, b'{"landmarks": []}', 422, "0 frames"),
    ("landmarks not a list", "/predict", JSON, b'{"landmarks": {"x": 1}}', 422, "expected a list of frames"),
    (
        "542 landmarks",
        "/predict",
        JSON,
        orjson.dumps({"landmarks": [_frame()[:-1]]}),
        422,
        "expected 543 landmarks per frame, got 542",
    ),
    (
        "ragged frames",
        "/predict",
        JSON,
        orjson.dumps({"landmarks": [_frame(), _frame()[:500]]}),
        422,
        "landmarks[1]: expected 543 landmarks per frame, got 500",
    ),
    (
        "2 coordinates",
        "/predict",
        JSON,
        orjson.dumps({"landmarks": [[[0.5, 0.5]] * 543]}),
        422,
        "expected 3 coordinates",
    ),
    (
        "4 coordinates",
        "/predict",
        JSON,
        orjson.dumps({"landmarks": [_frame()[:10] + [[1, 2, 3, 4]] + _frame()[11:]]}),
        422,
        "landmarks[0][10]: expected 3 coordinates [x, y, z], got 4",
    ),
    (
        "string coordinate",
        "/predict",
        JSON,
        orjson.dumps({"landmarks": [_frame()[:7] + [[0.1, "abc", 0]] + _frame()[8:]]}),
        422,
        "landmarks[0][7][1]: expected a number or null, got a string ('abc')",
    ),
    (
        "numeric string",
        "/predict",
        JSON,
        orjson.dumps({"landmarks": [[["0.5", 0.5, 0.5]] * 543]}),
        422,
        "landmarks[0][0][0]: expected a number or null, got a string ('0.5')",
    ),
    (
        "boolean coordinate",
        "/predict",
        JSON,
        orjson.dumps({"landmarks": [[[True, 0.5, 0.5]] + _frame()[1:]]}),
        422,
        "got a boolean (true)",
    ),
    (
        "object as point",
        "/predict",
        JSON,
        orjson.dumps({"landmarks": [[{"x": 1}] + _frame()[1:]]}),
        422,
        "landmarks[0][0]: expected a point [x, y, z], got an object",
    ),
    (
        "frames not nested (one frame only)",
        "/predict",
        JSON,
        orjson.dumps({"landmarks": _frame()}),
        422,
        "landmarks[0]: expected 543 landmarks per frame, got 3",
    ),
    (
        "nested one level too deep",
        "/predict",
        JSON,
        orjson.dumps({"landmarks": [[[[0.1], [0.2], [0.3]]] * 543]}),
        422,
        "expected a number or null, got a list of 1",
    ),
    ("NaN literal", "/predict", JSON, b'{"landmarks": [[[NaN, 0.1, 0.1]]]}', 400, "use null for a missing point"),
    ("Infinity literal", "/predict", JSON, b'{"landmarks": [[[Infinity, 0.1, 0.1]]]}', 400, "NaN and Infinity"),
    ("1e999 overflows", "/predict", JSON, b'{"landmarks": [[[1e999, 0.1, 0.1]]]}', 400, "not valid JSON"),
    (
        "huge number",
        "/predict",
        JSON,
        orjson.dumps({"landmarks": [[[1e30, 0.5, 0.5]] + _frame()[1:]]}),
        422,
        "landmarks[0][0][0]: 1e+30 is out of range",
    ),
    (
        "beyond float32",
        "/predict",
        JSON,
        orjson.dumps({"landmarks": [_frame()[:2] + [[0.5, 1e39, 0.5]] + _frame()[3:]]}),
        422,
        "landmarks[0][2][1]: infinite value",
    ),
    (
        "64-bit integer",
        "/predict",
        JSON,
        orjson.dumps({"landmarks": [[[2**62, 0.5, 0.5]] + _frame()[1:]]}),
        422,
        "out of range",
    ),
    ("all landmarks missing", "/predict", JSON, orjson.dumps({"landmarks": all_null}), 422, "every landmark"),
    ("top_k zero in body", "/predict", JSON, orjson.dumps({"landmarks": [_frame()], "top_k": 0}), 422, "top_k"),
    ("top_k string in body", "/predict", JSON, orjson.dumps({"landmarks": [_frame()], "top_k": "5"}), 422, "top_k"),
    ("top_k above classes", "/predict?top_k=251", JSON, orjson.dumps({"landmarks": [_frame()]}), 422, "250 glosses"),
    ("top_k fraction in body", "/predict", JSON, orjson.dumps({"landmarks": [_frame()], "top_k": 2.5}), 422, "top_k"),
    (
        "query top_k above classes, body top_k fine",
        "/predict?top_k=251",
        JSON,
        orjson.dumps({"landmarks": [_frame()], "top_k": 3}),
        422,
        "250 glosses",
    ),
    ("top_k not a number", "/predict?top_k=abc", JSON, orjson.dumps({"landmarks": [_frame()]}), 422, "top_k"),
    ("npy: empty", "/predict", NPY, b"", 400, "empty body"),
    ("npy: not npy", "/predict", NPY, b"hello world", 400, "not a .npy file"),
    ("npy: corrupt header", "/predict", NPY, b"\x93NUMPY\x01\x00\x10\x00{'descr': garbage", 400, "corrupt .npy header"),
    ("npy: truncated data", "/predict", NPY, _npy_header_only(), 400, "truncated"),
    ("npy: header claims 10^9 frames", "/predict", NPY, _npy_claiming_huge_shape(), 422, "more than the limit of 1024"),
    (
        "npy: too many frames",
        "/predict",
        NPY,
        as_npy(np.zeros((1025, 543, 3), np.float32)),
        422,
        "1025 frames, more than the limit of 1024",
    ),
    ("npy: int64 dtype", "/predict", NPY, as_npy(np.zeros((2, 543, 3), np.int64)), 422, "dtype int64 not accepted"),
    ("npy: complex dtype", "/predict", NPY, as_npy(np.zeros((2, 543, 3), np.complex64)), 422, "not accepted"),
    ("npy: pickled objects", "/predict", NPY, _pickled_npy(), 422, "dtype object not accepted"),
    ("npy: wrong shape", "/predict", NPY, as_npy(np.zeros((2, 543, 2), np.float32)), 422, "shape (2, 543, 2)"),
    ("npy: 2-D", "/predict", NPY, as_npy(np.zeros((543, 3), np.float32)), 422, "expected (frames, 543, 3)"),
    ("npy: infinity", "/predict", NPY, as_npy(np.full((2, 543, 3), np.inf, np.float32)), 422, "npy[0][0][0]: infinite"),
    ("npy: all NaN", "/predict", NPY, as_npy(np.full((2, 543, 3), np.nan, np.float32)), 422, "every landmark"),
    ("parquet: not parquet", "/predict", PARQUET, b"PAR0 something", 400, "not a parquet file"),
    ("parquet: corrupt", "/predict", PARQUET, b"PAR1" + b"\x00" * 100 + b"PAR1", 422, "parquet"),
    ("multipart without file", "/predict", None, {"files": {"upload": ("x.npy", b"1")}}, 422, 'field named "file"'),
    ("multipart unknown file", "/predict", None, {"files": {"file": ("x.txt", b"hello")}}, 415, "not a .npy"),
    ("batch: too large", "/predict/batch", JSON, _batch(33), 422, "33 sequences, more than the limit of 32"),
    ("batch: empty", "/predict/batch", JSON, b'{"sequences": []}', 422, "no sequences"),
    ("batch: not a list", "/predict/batch", JSON, b'{"sequences": 3}', 422, "expected a list"),
    (
        "batch: bad item",
        "/predict/batch",
        JSON,
        orjson.dumps({"sequences": [{"landmarks": [_frame()]}, {"landmarks": [_frame()[:3]]}]}),
        422,
        "sequences[1].landmarks[0]: expected 543 landmarks",
    ),
    (
        "batch: item unknown field",
        "/predict/batch",
        JSON,
        orjson.dumps({"sequences": [{"landmarks": [_frame()], "id": 1}]}),
        422,
        "unknown field",
    ),
    (
        "batch: single-sequence body",
        "/predict/batch",
        JSON,
        orjson.dumps({"landmarks": [_frame()]}),
        422,
        "unknown field",
    ),
    ("batch: npy content type", "/predict/batch", NPY, as_npy(np.zeros((1, 543, 3), np.float32)), 415, "not supported"),
    ("npz: corrupt", "/predict/batch", NPZ, b"PK\x03\x04 not really a zip", 400, "not a readable .npz"),
    ("npz: too many", "/predict/batch", NPZ, _npz(*[np.zeros((1, 543, 3), np.float32)] * 33), 422, "33 sequences"),
    (
        "npz: bad member",
        "/predict/batch",
        NPZ,
        _npz(np.full((1, 543, 3), 0.5, np.float32), np.zeros((1, 543), np.float32)),
        422,
        "npz['arr_1.npy']: shape (1, 543)",
    ),
]


@pytest.mark.parametrize("name,path,headers,body,status,words", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gets_a_clear_4xx(client, name, path, headers, body, status, words):
    multipart = isinstance(body, dict)
    response = client.post(path, **body) if multipart else client.post(path, content=body, headers=headers)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and words in detail, detail


def test_bad_parquet_files_are_explained(client, tmp_path):
    response = client.post("/predict", content=_parquet_missing_column(tmp_path), headers=PARQUET)
    assert response.status_code == 422 and "missing columns ['landmark_index']" in response.json()["detail"]
    response = client.post("/predict", content=_parquet_duplicate_landmark(tmp_path), headers=PARQUET)
    assert response.status_code == 422 and "repeats a landmark" in response.json()["detail"]
    assert "/tmp" not in response.json()["detail"]  # the server's temporary path is not leaked


def test_the_server_keeps_serving_after_bad_input(client, rng):
    for _, path, headers, body, _, _ in BAD_INPUTS:
        if isinstance(body, dict):
            client.post(path, **body)
        else:
            client.post(path, content=body, headers=headers)
    assert client.get("/health").status_code == 200
    assert len(scores_of(client.post("/predict", content=as_json(random_sequence(rng, 8)), headers=JSON))) == 5


def test_missing_points_are_fine(client, rng):
    sequence = random_sequence(rng, 6)
    sequence[:, 489:] = np.nan  # pose and right hand missing too: only face left
    sequence[2] = np.nan  # one empty frame
    sequence[0, 0, 2] = np.nan  # a single missing coordinate
    assert client.post("/predict", content=as_json(sequence), headers=JSON).status_code == 200
    assert client.post("/predict", content=as_npy(sequence), headers=NPY).status_code == 200


def test_integers_are_accepted_as_coordinates():
    array = landmarks_to_array([[[0, 1, 0]] * 543], Limits())
    assert array.dtype == np.float32 and array.shape == (1, 543, 3)


def test_frame_limit_is_configurable(served):
    with TestClient(create_app(Settings(max_frames=4), served=served)) as small:
        ok = small.post("/predict", content=orjson.dumps({"landmarks": [_frame()] * 4}), headers=JSON)
        assert ok.status_code == 200
        response = small.post("/predict", content=orjson.dumps({"landmarks": [_frame()] * 5}), headers=JSON)
        assert response.status_code == 422 and "5 frames, more than the limit of 4" in response.json()["detail"]


def test_oversized_body_gets_413_declared_or_streamed(served):
    with TestClient(create_app(Settings(max_body_bytes=50_000), served=served)) as small:
        body = as_npy(np.zeros((20, 543, 3), np.float32))  # 130 kB
        declared = small.post("/predict", content=body, headers=NPY)
        assert declared.status_code == 413 and "larger than 50000 bytes" in declared.json()["detail"]
        chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))  # chunked: no Content-Length
        streamed = small.post("/predict", content=chunks, headers=NPY)
        assert streamed.status_code == 413 and "larger than 50000 bytes" in streamed.json()["detail"]
        upload = small.post("/predict", files={"file": ("big.npy", body)})
        assert upload.status_code == 413
        fits = small.post("/predict", content=as_npy(np.full((2, 543, 3), 0.5, np.float32)), headers=NPY)
        assert fits.status_code == 200
        assert 'pose2gloss_rejected_requests_total{reason="too_large"} 3.0' in small.get("/metrics").text


# ---------------------------------------------------------------------------------------------
# API key


def test_openapi_declares_the_key_only_when_one_is_configured(client, served):
    for path in ("/predict", "/predict/batch"):
        operation = client.get("/openapi.json").json()["paths"][path]["post"]
        assert "security" not in operation and "401" not in operation["responses"]
    with TestClient(create_app(Settings(api_key="s3cret"), served=served)) as secured:
        for path in ("/predict", "/predict/batch"):
            operation = secured.get("/openapi.json").json()["paths"][path]["post"]
            assert operation["security"] == [{"APIKeyHeader": []}] and "401" in operation["responses"]


def test_api_key(served, rng):
    body = as_npy(random_sequence(rng, 3))
    with TestClient(create_app(Settings(api_key="s3cret"), served=served)) as secured:
        assert secured.post("/predict", content=body, headers=NPY).status_code == 401
        wrong = secured.post("/predict", content=body, headers={**NPY, "X-API-Key": "nope"})
        assert wrong.status_code == 401 and "X-API-Key" in wrong.json()["detail"]
        assert secured.post("/predict/batch", content=_npz(random_sequence(rng, 2)), headers=NPZ).status_code == 401
        assert secured.post("/predict", content=body, headers={**NPY, "X-API-Key": "s3cret"}).status_code == 200
        assert secured.get("/health").status_code == 200 and secured.get("/ready").status_code == 200
        security = secured.get("/openapi.json").json()["components"]["securitySchemes"]
        assert security["APIKeyHeader"]["name"] == "X-API-Key"


def test_no_api_key_configured_means_open(client, rng):
    assert client.post("/predict", content=as_npy(random_sequence(rng, 3)), headers=NPY).status_code == 200


# ---------------------------------------------------------------------------------------------
# Where the model comes from


def test_model_from_explicit_path_and_fp16_file(bundle_dir):
    assert load_model(Settings(model=str(bundle_dir))).source == "POSE2GLOSS_MODEL"
    fp16 = load_model(Settings(model=str(bundle_dir / "model_fp16.tflite")))
    assert fp16.model_file.name == "model_fp16.tflite" and len(fp16.signs) == N_CLASSES


def test_model_from_production_pointer(bundle_dir, tmp_path):
    record_production(bundle_dir, tmp_path / "runs", run="test")
    served = load_model(Settings(runs_dir=tmp_path / "runs", clearml="off"))
    assert served.source == "runs/production.json" and served.model_id == "serving-test"


def test_no_model_anywhere_says_what_was_tried(tmp_path):
    with pytest.raises(ModelNotFound, match="POSE2GLOSS_MODEL: not set.*production.json: not found"):
        load_model(Settings(runs_dir=tmp_path / "runs", clearml="off"))


def test_tampered_bundle_is_refused(bundle_dir, tmp_path):
    import shutil

    copy = Path(shutil.copytree(bundle_dir, tmp_path / "copy"))
    sign_map = json.loads((copy / "sign_to_prediction_index_map.json").read_text())
    sign_map["hello"], sign_map["bye"] = sign_map["bye"], sign_map["hello"]
    (copy / "sign_to_prediction_index_map.json").write_text(json.dumps(sign_map))
    with pytest.raises(BundleError, match="checksum does not match"):
        load_model(Settings(model=str(copy)))
    with pytest.raises(BundleError, match="no such bundle"):
        load_model(Settings(model=str(tmp_path / "nowhere")))


def test_bundle_without_checksums_is_refused(bundle_dir, tmp_path):
    import shutil

    for dropped in ("files", "sign_to_prediction_index_map.json"):
        copy = Path(shutil.copytree(bundle_dir, tmp_path / dropped))
        card = json.loads((copy / "model_card.json").read_text())
        if dropped == "files":
            del card["files"]
        else:
            del card["files"][dropped]
        (copy / "model_card.json").write_text(json.dumps(card))
        with pytest.raises(BundleError, match="no checksum for"):
            load_model(Settings(model=str(copy)))


def _fake_clearml(monkeypatch, bundle_dir: Path, downloads: list[str], calls: list, models=None, projects=None):
    """A stand-in for the ClearML SDK boundary: projects (hidden ones included) and tagged models.

    ``models`` are ``(id, project id)``, newest first, as ``Model.query_models`` returns them;
    ``projects`` are ``(id, name)``. The fake answers ``get_projects`` the way the server does:
    hidden projects only with ``search_hidden``, names matched as a regular expression.
    """
    import re

    models = [("abc123", "p-pipe")] if models is None else models
    projects = (
        [("p-root", "pose2gloss"), ("p-pipe", "pose2gloss/.pipelines/pose2gloss")] if projects is None else projects
    )

    class FakeModel:
        def __init__(self, model_id, project):
            self.id, self.project = model_id, project

        @staticmethod
        def query_models(**kwargs):
            calls.append(("query_models", kwargs))
            return [FakeModel(*m) for m in models]

        def get_local_copy(self, extract_archive, raise_on_error):
            downloads.append(self.id)
            return str(bundle_dir)  # a weights package comes back as the extracted folder

    class FakeTask:
        @staticmethod
        def get_projects(**kwargs):
            calls.append(("get_projects", kwargs))
            visible = [(i, n) for i, n in projects if kwargs.get("search_hidden") or "/." not in n]
            return [types.SimpleNamespace(id=i, name=n) for i, n in visible if re.search(kwargs["name"], n)]

    module = types.ModuleType("clearml")
    module.Model, module.Task = FakeModel, FakeTask
    monkeypatch.setitem(sys.modules, "clearml", module)


def test_model_from_clearml_is_cached_and_verified(bundle_dir, tmp_path, monkeypatch):
    downloads: list[str] = []
    _fake_clearml(monkeypatch, bundle_dir, downloads, [])
    settings = Settings(clearml="on", cache_dir=tmp_path / "cache", runs_dir=tmp_path / "runs")
    first = load_model(settings)
    assert first.source == "clearml" and "abc123" in first.location and downloads == ["abc123"]
    second = load_model(settings)
    assert second.model_id == "serving-test" and downloads == ["abc123"]  # served from the cache
    (tmp_path / "cache" / "model-abc123" / "model.tflite").write_bytes(b"corrupt")
    assert load_model(settings).model_id == "serving-test" and downloads == ["abc123", "abc123"]  # fetched again


def test_clearml_search_finds_the_bundle_published_by_a_pipeline_step(bundle_dir, tmp_path, monkeypatch):
    """Pipeline steps publish into the hidden ``pose2gloss/.pipelines/<name>`` project."""
    downloads: list[str] = []
    calls: list = []
    projects = [
        ("p-root", "pose2gloss"),
        ("p-pipe", "pose2gloss/.pipelines/pose2gloss"),
        ("p-other", "pose2gloss-old"),
        ("p-else", "someone-else"),
    ]
    models = [("newest-elsewhere", "p-else"), ("old-project", "p-other"), ("step7", "p-pipe"), ("older", "p-root")]
    _fake_clearml(monkeypatch, bundle_dir, downloads, calls, models, projects)
    served = load_model(Settings(clearml="on", cache_dir=tmp_path / "cache"))
    assert served.source == "clearml" and served.location == "ClearML model step7" and downloads == ["step7"]
    (_, project_query), (_, model_query) = calls
    assert project_query["search_hidden"] is True  # .pipelines projects are hidden
    assert model_query["model_name"] == "pose2gloss-bundle" and model_query["tags"] == ["production"]
    assert "project_name" not in model_query  # one exact project would miss the pipeline's
    assert model_query["only_published"] is True and model_query["include_archived"] is False


def test_clearml_without_a_tagged_bundle_names_what_it_looked_for(bundle_dir, tmp_path, monkeypatch):
    _fake_clearml(monkeypatch, bundle_dir, [], [], models=[("elsewhere", "p-else")])
    with pytest.raises(
        ModelUnavailable, match="no published ClearML model named 'pose2gloss-bundle' tagged 'production'"
    ):
        load_model(Settings(clearml="on", cache_dir=tmp_path / "cache", runs_dir=tmp_path / "runs"))
    _fake_clearml(monkeypatch, bundle_dir, [], [], projects=[("p-else", "someone-else")])
    with pytest.raises(ModelUnavailable, match="no ClearML project 'pose2gloss'"):
        load_model(Settings(clearml="on", cache_dir=tmp_path / "cache", runs_dir=tmp_path / "runs"))


def _clearml_down(monkeypatch) -> None:
    """A configured ClearML server that cannot be reached."""
    module = types.ModuleType("clearml")

    class Broken:
        @staticmethod
        def get_projects(**kwargs):
            raise ConnectionError("server unreachable")

    module.Model, module.Task = Broken, Broken
    monkeypatch.setitem(sys.modules, "clearml", module)
    monkeypatch.setenv("CLEARML_API_HOST", "http://clearml.invalid:8008")
    monkeypatch.setenv("CLEARML_API_ACCESS_KEY", "key")
    monkeypatch.delenv("CLEARML_OFFLINE_MODE", raising=False)


def test_clearml_failure_leaves_the_server_unready_with_the_reason(bundle_dir, tmp_path, monkeypatch, caplog, rng):
    _clearml_down(monkeypatch)
    record_production(bundle_dir, tmp_path / "runs")  # present, but not asked for: no silent fallback
    settings = Settings(runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache")  # clearml="auto": configured
    with caplog.at_level("ERROR", logger="uvicorn.error.pose2gloss"), TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        reason = ready.json()["reason"]
        assert "ClearML model lookup failed" in reason and "server unreachable" in reason
        assert "POSE2GLOSS_MODEL_FALLBACK=local" in reason
        refused = client.post("/predict", content=as_npy(random_sequence(rng, 3)), headers=NPY)
        assert refused.status_code == 503 and "server unreachable" in refused.json()["detail"]
        assert client.get("/model").status_code == 503
    assert "server unreachable" in caplog.text


def test_local_fallback_only_when_asked(bundle_dir, tmp_path, monkeypatch):
    _clearml_down(monkeypatch)
    record_production(bundle_dir, tmp_path / "runs")
    settings = Settings.from_env({"POSE2GLOSS_MODEL_FALLBACK": "local"}, runs_dir=tmp_path / "runs")
    with TestClient(create_app(settings)) as client:
        ready = client.get("/ready").json()
        assert ready["source"] == "runs/production.json" and "server unreachable" in ready["fallback_reason"]
    with pytest.raises(ModelUnavailable, match="FALLBACK=local, but .*nothing/production.json: not found"):
        load_model(Settings(runs_dir=tmp_path / "nothing", model_fallback="local"))
    monkeypatch.setenv("CLEARML_OFFLINE_MODE", "1")  # no server: the local pointer is the embedded default
    assert load_model(Settings(runs_dir=tmp_path / "runs")).source == "runs/production.json"
    with pytest.raises(ValueError, match="POSE2GLOSS_MODEL_FALLBACK must be empty or local"):
        Settings.from_env({"POSE2GLOSS_MODEL_FALLBACK": "anything"})


def test_app_fails_to_start_without_a_model(tmp_path):
    app = create_app(Settings(runs_dir=tmp_path / "runs", clearml="off"))
    with pytest.raises(ModelNotFound), TestClient(app):
        pass


def test_settings_from_environment(tmp_path):
    settings = Settings.from_env(
        {
            "POSE2GLOSS_MAX_FRAMES": "64",
            "POSE2GLOSS_API_KEY": "k",
            "POSE2GLOSS_RUNS_DIR": str(tmp_path),
            "POSE2GLOSS_MAX_ABS_COORD": "5.5",
        }
    )
    got = (settings.max_frames, settings.api_key, settings.runs_dir, settings.max_abs_coord)
    assert got == (64, "k", tmp_path, 5.5)
    with pytest.raises(ValueError, match="POSE2GLOSS_MAX_FRAMES='many': not a valid int"):
        Settings.from_env({"POSE2GLOSS_MAX_FRAMES": "many"})
    with pytest.raises(ValueError, match="POSE2GLOSS_MAX_BATCH must be positive"):
        Settings.from_env({"POSE2GLOSS_MAX_BATCH": "0"})


def test_serving_does_not_import_tensorflow():
    code = "import sys, serving.pose2gloss; bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; print(bad)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# The OpenAPI schema, fuzzed (slow: a few hundred generated requests)

FUZZ_EXAMPLES = 150  # generated requests per run, spread over every operation and media type


@pytest.mark.slow
@pytest.mark.parametrize("api_key", ["", "fuzz-key"], ids=["no key", "api key"])
def test_the_schema_matches_behaviour_under_a_fuzzer(served, api_key):
    """Schemathesis, in-process: no 5xx, every status, response and content type as documented,
    schema-violating requests refused with a 4xx, and the API key enforced only where declared.

    Any bytes fit ``format: binary``, so for binary and multipart bodies the fuzzer cannot tell
    valid from invalid: there, "schema-valid" random bytes are not expected to be accepted.
    """
    import schemathesis
    from hypothesis import HealthCheck, given, settings, strategies
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    app = create_app(Settings(api_key=api_key, max_frames=4, max_batch=3), served=served)  # small bodies
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    if api_key:
        schema.config.update(headers={"X-API-Key": api_key})
    schemathesis.serializer.alias(
        ["application/x-npy", "application/vnd.apache.parquet", "application/x-npz"], "application/octet-stream"
    )
    cases = strategies.one_of([schema.as_strategy(mode) for mode in GenerationMode])

    @given(cases)
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every CI run
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    def check(case):
        binary = case.media_type not in (None, "application/json")
        case.call_and_validate(excluded_checks=[positive_data_acceptance] if binary else [])

    check()


# ---------------------------------------------------------------------------------------------
# A real server over HTTP (slow: starts processes)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{process.stdout.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("server did not answer /health within 60 s")


def _stop(process: subprocess.Popen) -> str:
    process.terminate()
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


@pytest.mark.slow
def test_uvicorn_over_http_with_bad_requests_mixed_in(bundle_dir, rng):
    port = _free_port()
    process = _start(
        [sys.executable, "-m", "uvicorn", "serving.pose2gloss:app", "--host", "127.0.0.1", "--port", str(port)],
        {"POSE2GLOSS_MODEL": str(bundle_dir)},
        port,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert httpx.get(f"{base}/ready").json()["model_id"] == "serving-test"
        sequence = random_sequence(rng, 30)
        reference = scores_of(httpx.post(f"{base}/predict", content=as_json(sequence), headers=JSON))
        npy = scores_of(httpx.post(f"{base}/predict", content=as_npy(sequence), headers=NPY))
        assert npy == pytest.approx(reference)

        bad = [b for b in BAD_INPUTS if not isinstance(b[3], dict)]

        def one(i: int) -> tuple[bool, int]:
            with httpx.Client(base_url=base, timeout=30) as http:
                if i % 3:
                    _, path, headers, body, status, _ = bad[i % len(bad)]
                    return False, http.post(path, content=body, headers=headers).status_code
                return True, http.post("/predict", content=as_npy(sequence), headers=NPY).status_code

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(one, range(150)))
        assert all(code == 200 for valid, code in outcomes if valid)
        assert all(400 <= code < 500 for valid, code in outcomes if not valid)
        # a streamed (chunked) body over the limit is cut off with 413
        huge = (b"\x00" * 65536 for _ in range(1100))  # 72 MB, over the 64 MiB default
        assert httpx.post(f"{base}/predict", content=huge, headers=NPY, timeout=60).status_code == 413
        assert httpx.get(f"{base}/health").status_code == 200
        assert "pose2gloss_rejected_requests_total" in httpx.get(f"{base}/metrics").text
    finally:
        output = _stop(process)
    assert "Traceback" not in output, output


@pytest.mark.slow
def test_python_script_entry_point(bundle_dir, rng):
    port = _free_port()
    process = _start(
        [sys.executable, "serving/pose2gloss.py", "--port", str(port), "--model", str(bundle_dir)],
        {"POSE2GLOSS_API_KEY": "k"},
        port,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/ready").json()["source"] == "POSE2GLOSS_MODEL"
        body = as_npy(random_sequence(rng, 5))
        assert httpx.post(f"{base}/predict", content=body, headers=NPY).status_code == 401
        assert httpx.post(f"{base}/predict", content=body, headers={**NPY, "X-API-Key": "k"}).status_code == 200
    finally:
        _stop(process)
