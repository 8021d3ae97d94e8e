"""The synthetic datasets of unit 10 are deterministic, well-shaped, and mean what their docstrings say."""

import datetime

import numpy as np
import pytest

from course.datasets import synthetic as s


def test_sentiment_is_deterministic_and_balanced():
    a, b = s.sentiment_reviews(300, rng=3), s.sentiment_reviews(300, rng=3)
    assert a[0] == b[0] and np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])
    assert s.sentiment_reviews(300, rng=4)[0] != a[0]
    _, y, kind = a
    assert y.dtype == np.int64 and set(y) == {0, 1} and 0.35 < y.mean() < 0.65
    assert set(kind) == set(s.REVIEW_KINDS)


def _clause_polarity(words):
    adj = words[-1]
    pol = 1 if adj in s.POSITIVE else -1
    return -pol if "not" in words else pol


def test_sentiment_labels_follow_the_rules():
    texts, y, kind = s.sentiment_reviews(500, rng=0)
    for t, label, k in zip(texts, y, kind):
        words = t.split()
        want = 1 if label else -1
        if k in ("plain", "negated"):
            assert ("not" in words) == (k == "negated")
            assert _clause_polarity(words) == want, t
        else:
            joiner = "but" if k == "contrast" else "and"
            i = words.index(joiner)
            first, second = _clause_polarity(words[:i]), _clause_polarity(words[i + 1 :])
            assert second == want, t
            assert first == (-want if k == "contrast" else want), t


def test_encode_reviews_left_pads():
    ids = s.encode_reviews(["the film was good", "the plot was not very bad"])
    vocab = s.sentiment_vocab()
    assert ids.shape == (2, 6) and ids.dtype == np.int64
    assert list(ids[0, :2]) == [0, 0] and vocab[ids[0, -1]] == "good" and vocab[ids[1, -1]] == "bad"
    short = s.encode_reviews(["the film was good"], length=3)  # too long: the start is cut
    assert short.tolist() == [[vocab.index(w) for w in ("film", "was", "good")]]


def test_tagging_tags_align_and_round_trip():
    tokens, tags = s.tagging_sentences(200, rng=1)
    assert tokens == s.tagging_sentences(200, rng=1)[0]
    for tok, tag in zip(tokens, tags):
        assert len(tok) == len(tag) and all(isinstance(w, str) for w in tok)
        assert set(tag) <= set(s.TAGS)
        for kind, start, end in s.entity_spans(tag):
            assert tag[start] == f"B-{kind}" and all(t == f"I-{kind}" for t in tag[start + 1 : end])
    # the ambiguity that needs right context is there: the same word starts different entity types
    starts = {}
    for tok, tag in zip(tokens, tags):
        for kind, start, _ in s.entity_spans(tag):
            starts.setdefault(tok[start], set()).add(kind)
    assert any(len(v) > 1 for v in starts.values())


def test_entity_spans_and_f1_by_hand():
    true = ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "B-LOC"]
    assert s.entity_spans(true) == {("PER", 0, 2), ("ORG", 3, 5), ("LOC", 6, 7)}
    assert s.entity_spans(["I-LOC", "B-LOC", "I-LOC"]) == {("LOC", 0, 1), ("LOC", 1, 3)}
    pred = ["B-PER", "I-PER", "O", "B-PER", "I-ORG", "O", "B-LOC"]  # ORG span broken
    f1 = s.entity_f1([true], [pred])
    assert f1["PER"] == pytest.approx(2 * 1 / (2 + 1)) and f1["LOC"] == 1.0 and f1["ORG"] == 0.0
    assert f1["all"] == pytest.approx(2 * 2 / (4 + 3))
    assert s.entity_f1([true], [true])["all"] == 1.0


def test_melodies_range_and_structure():
    m = s.melodies(50, bars=4, rng=2)
    assert m.shape == (50, 32) and m.dtype == np.int64 and m.min() >= 0 and m.max() < s.N_PITCHES
    assert np.array_equal(m, s.melodies(50, bars=4, rng=2))
    c_major = {0, 2, 4, 5, 7, 9, 11}
    assert set((m % 12).ravel().tolist()) <= c_major
    wave = s.melody_audio(m[0, :4], rate=8000, note_seconds=0.1)
    assert wave.shape == (3200,) and np.abs(wave).max() <= 1.0


def test_date_pairs_agree():
    human, iso = s.date_pairs(300, rng=5)
    assert (human, iso) == s.date_pairs(300, rng=5)
    assert len({h.split()[0] for h in human}) > 5  # several formats
    for h, d in zip(human, iso):
        date = datetime.date.fromisoformat(d)
        assert len(d) == 10 and 1950 <= date.year <= 2049
        assert str(date.year) in h and (s._MONTH_NAMES[date.month - 1][:3] in h or f"{date.month:02d}" in h)


def test_sunspots_ship_offline():
    years, activity = s.sunspots()
    assert years.shape == activity.shape == (309,)
    assert years[0] == 1700 and years[-1] == 2008 and activity.min() >= 0


def test_har_windows_shapes_and_classes():
    X, y = s.har_windows(48, rng=0)
    assert X.shape == (48, 200, 3) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y, minlength=12).tolist() == [4] * 12
    assert np.array_equal(X, s.har_windows(48, rng=0)[0])
    # static activities barely move; dynamic ones do
    static = [s.HAR_ACTIVITIES.index(a) for a in ("sitting", "standing", "lying down")]
    std = X.std(axis=1).mean(axis=1)
    assert std[np.isin(y, static)].max() < std[~np.isin(y, static)].min()


def test_speech_commands_shapes():
    X, y = s.speech_commands(20, rng=0)
    assert X.shape == (20, 49, 32) and X.dtype == np.float32 and np.isfinite(X).all()
    assert np.bincount(y, minlength=10).tolist() == [2] * 10
    assert np.array_equal(X, s.speech_commands(20, rng=0)[0])
    assert s.spectrogram(np.zeros(1000), frame=200, hop=100, bands=4).shape == (9, 4)
