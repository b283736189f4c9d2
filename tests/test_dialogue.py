"""The task-oriented assistant's intent classifier (llmbook.models.classifier.NearestCentroid)
against scikit-learn's NearestCentroid, on random clusters and on real BANKING77 embeddings."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestCentroid as SklearnNearestCentroid

from llmbook import data
from llmbook.models.classifier import NearestCentroid


def test_nearest_centroid_equals_scikit_learn_on_overlapping_clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 8))
    labels = rng.integers(0, 5, size=300) * 3 + 2  # labels 2, 5, ..., 14: not 0..n-1
    x = centres[(labels - 2) // 3] + rng.normal(scale=1.5, size=(300, 8))  # overlap: errors
    ours, reference = NearestCentroid(x[:200], labels[:200]), SklearnNearestCentroid()
    reference.fit(x[:200], labels[:200])
    predicted = ours.predict(torch.tensor(x[200:], dtype=torch.float32))
    np.testing.assert_array_equal(predicted, reference.predict(x[200:].astype(np.float32)))
    np.testing.assert_allclose(ours.centroids, reference.centroids_, rtol=1e-12)
    assert 0.3 < (predicted == labels[200:]).mean() < 1.0  # neither trivial nor perfect
    assert ours.scores(x[:3]).shape == (3, 5)


def test_nearest_centroid_on_minilm_embeddings_of_banking77():
    from llmbook.pretrained import PretrainedMissing, load_minilm
    from llmbook.retrieval import DenseRetriever

    try:
        encoder, tokenizer = load_minilm()
    except PretrainedMissing:  # pragma: no cover
        pytest.skip("MiniLM is not installed")
    rows = [r for r in data.load("banking77", "train") if r["label"] < 6]
    rows = rows[::8]  # about 20 per intent
    vectors = DenseRetriever(encoder.eval(), tokenizer, [r["text"] for r in rows]).embeddings
    labels = np.array([r["label"] for r in rows])
    train, test = slice(0, None, 2), slice(1, None, 2)
    ours = NearestCentroid(vectors[train], labels[train])
    reference = SklearnNearestCentroid().fit(vectors[train].numpy(), labels[train])
    np.testing.assert_array_equal(ours.predict(vectors[test]),
                                  reference.predict(vectors[test].numpy()))
    assert (ours.predict(vectors[test]) == labels[test]).mean() > 0.6  # MiniLM separates intents


def test_nearest_centroid_refuses_bad_input():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match="at least 2 classes"):
        NearestCentroid(x, [1, 1, 1, 1])
    with pytest.raises(ValueError, match="labels must be 4 integers"):
        NearestCentroid(x, [0, 1])
    with pytest.raises(ValueError, match="labels must be 4 integers"):
        NearestCentroid(x, [0.5, 1, 0, 1])
    with pytest.raises(ValueError, match=r"features must be a 2-D array \(n, 3\)"):
        NearestCentroid(x, [0, 1, 0, 1]).predict(np.zeros((2, 5)))
