"""Synthetic datasets for unit 10 (applications), generated offline from a seed.

Every generator takes ``rng``: a NumPy Generator or an int seed, and the same
seed always gives the same data. Each one is built so that the *order* of the
sequence carries the answer, which is what the recurrent models of the unit
exploit and what the order-blind baselines cannot see.

=====================  ==================================================  ==========================
generator              returns                                             task shape
=====================  ==================================================  ==========================
``sentiment_reviews``  texts (list of str), y (n,) 0/1, kind (n,) str      many-to-one
``encode_reviews``     ids (n, T) int64, left-padded with 0                (helper)
``tagging_sentences``  tokens (list of lists), tags (list of lists)        many-to-many, aligned
``melodies``           notes (n, T) int64 in [0, N_PITCHES)                one-to-many (generation)
``date_pairs``         human (list of str), iso (list of str)              sequence-to-sequence
``sunspots``           years (309,), activity (309,)                       forecasting (real data)
``har_windows``        X (n, 200, 3) float32, y (n,) in [0, 12)            many-to-one, long series
``speech_commands``    X (n, T, F) float32 log-spectrograms, y (n,)        many-to-one, audio-like
=====================  ==================================================  ==========================
"""

import datetime
from importlib import resources

import numpy as np


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _pick(rng, options):
    """One item of a tuple, as a plain Python object (rng.choice would give np.str_)."""
    return options[rng.integers(len(options))]


# =========================================================================== sentiment
ASPECTS = ("film", "plot", "acting", "story", "music", "ending", "cast", "script")
POSITIVE = ("good", "great", "fine", "brilliant", "fun")
NEGATIVE = ("bad", "awful", "dull", "boring", "poor")
INTENSIFIERS = ("very", "really", "quite")
REVIEW_KINDS = ("plain", "negated", "contrast", "and")


def _clause(rng, polarity, negate):
    """'the plot was [not] [very] good' whose meaning has sign ``polarity``."""
    # a negated clause reaches its polarity through the opposite adjective
    adj_sign = -polarity if negate else polarity
    adj = _pick(rng, POSITIVE if adj_sign > 0 else NEGATIVE)
    words = ["the", _pick(rng, ASPECTS), "was"]
    if negate:
        words.append("not")
    if rng.random() < 0.4:
        words.append(_pick(rng, INTENSIFIERS))
    words.append(adj)
    return words


def sentiment_reviews(n, rng=0):
    """``n`` short movie reviews whose label depends on word order.

    Four kinds, about equally often (``kind`` says which):

    * ``plain``: one clause, "the film was very good" (label = the adjective);
    * ``negated``: one clause with "not", "the plot was not bad" (positive);
    * ``contrast``: two clauses of opposite meaning joined by "but"; the
      second one wins: "the cast was great but the ending was dull" (negative);
    * ``and``: two clauses of the same meaning joined by "and".

    A linear bag-of-words model cannot solve ``negated`` (XOR of "not" and
    the adjective) nor ``contrast`` (both orders have the same bag).

    Returns texts (list of n str, words separated by spaces), y (n,) int64 in
    {0 negative, 1 positive}, kind (n,) array of str from ``REVIEW_KINDS``.
    """
    rng = _rng(rng)
    texts, labels, kinds = [], [], []
    for _ in range(n):
        label = int(rng.integers(2))
        pol = 1 if label else -1
        kind = REVIEW_KINDS[rng.integers(len(REVIEW_KINDS))]
        if kind == "plain":
            words = _clause(rng, pol, False)
        elif kind == "negated":
            words = _clause(rng, pol, True)
        elif kind == "contrast":
            words = _clause(rng, -pol, rng.random() < 0.3) + ["but"] + _clause(rng, pol, rng.random() < 0.3)
        else:
            words = _clause(rng, pol, rng.random() < 0.3) + ["and"] + _clause(rng, pol, rng.random() < 0.3)
        texts.append(" ".join(words))
        labels.append(label)
        kinds.append(kind)
    return texts, np.array(labels, dtype=np.int64), np.array(kinds)


def sentiment_vocab():
    """The review vocabulary: a list of words, index 0 is the padding token "<pad>"."""
    words = ["the", "was", "not", "but", "and"] + list(ASPECTS) + list(POSITIVE) + list(NEGATIVE) + list(INTENSIFIERS)
    return ["<pad>"] + words


def encode_reviews(texts, vocab=None, length=None):
    """Word ids of ``texts``, LEFT-padded with 0 so that ``ids[:, -1]`` is always the last word.

    texts: list of n str; vocab: list of words (default ``sentiment_vocab()``);
    length: T (default: the longest text). Returns ids (n, T) int64.
    """
    vocab = sentiment_vocab() if vocab is None else vocab
    index = {w: i for i, w in enumerate(vocab)}
    seqs = [[index[w] for w in t.split()] for t in texts]
    T = max(len(s) for s in seqs) if length is None else length
    ids = np.zeros((len(seqs), T), dtype=np.int64)
    for i, s in enumerate(seqs):
        s = s[-T:]
        ids[i, T - len(s) :] = s
    return ids


# =========================================================================== tagging
ENTITY_TYPES = ("PER", "LOC", "ORG", "DATE")
TAGS = ("O",) + tuple(f"{p}-{e}" for e in ENTITY_TYPES for p in ("B", "I"))
_FIRST = ("Anna", "Omar", "Li", "Maria", "Ken", "Sara", "June", "May", "April")  # three are also months
_LAST = ("Smith", "Garcia", "Chen", "Okafor", "Novak", "Berg", "Sato", "Rossi")
_CITY = ("Paris", "Lagos", "Lima", "Oslo", "Kyoto", "Dakar", "Quito", "Perth")
_ORG_SUFFIX = ("Bank", "Group", "Labs", "Motors", "Foods")
_MONTHS = ("January", "March", "April", "May", "June", "July", "October", "December")
_TEMPLATES = (
    "{PER} visited {LOC} on {DATE} .",
    "{PER} joined {ORG} in {DATE} .",
    "{ORG} opened an office in {LOC} .",
    "on {DATE} , {PER} spoke to {ORG} .",
    "{PER} said that {ORG} will move to {LOC} .",
    "{PER} met {PER} in {LOC} .",
    "in {LOC} , {ORG} hired {PER} on {DATE} .",
    "{ORG} and {ORG} signed a deal on {DATE} .",
    "{PER} left {LOC} for {LOC} .",
)


def _entity(rng, kind):
    """The words of one entity of type ``kind``. Some first words are ambiguous on purpose:
    a surname or a city starts organisations ("Smith Bank", "Lima Foods") and May, June and
    April are both first names and months: only the NEXT word tells which."""
    if kind == "PER":
        return [_pick(rng, _FIRST), _pick(rng, _LAST)] if rng.random() < 0.7 else [_pick(rng, _LAST)]
    if kind == "LOC":
        return [_pick(rng, _CITY)]
    if kind == "ORG":
        head = _pick(rng, _LAST) if rng.random() < 0.6 else _pick(rng, _CITY)
        return [head, _pick(rng, _ORG_SUFFIX)]
    day, year = str(rng.integers(1, 29)), str(rng.integers(1990, 2030))
    month = _pick(rng, _MONTHS)
    return [[month, day], [month, year], [day, month, year]][rng.integers(3)]


def tagging_sentences(n, rng=0):
    """``n`` sentences with person, place, organisation and date entities, tagged per token (BIO).

    Returns tokens (list of n lists of str) and tags (list of n lists of str
    from ``TAGS``, one per token): "B-ORG" on an entity's first word, "I-ORG"
    on the following ones, "O" outside entities. Lengths vary (about 5 to 14).
    """
    rng = _rng(rng)
    tokens, tags = [], []
    for _ in range(n):
        toks, tgs = [], []
        for part in _TEMPLATES[rng.integers(len(_TEMPLATES))].split():
            if part.startswith("{"):
                kind = part[1:-1]
                words = _entity(rng, kind)
                toks += words
                tgs += [f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1)
            else:
                toks.append(part)
                tgs.append("O")
        tokens.append(toks)
        tags.append(tgs)
    return tokens, tags


def entity_spans(tags):
    """The entities of one BIO tag sequence as a set of (type, start, end) with end exclusive.

    An "I-X" that does not continue an X entity starts a new one (as in CoNLL's evaluation).
    """
    spans, kind, start = set(), None, 0
    for t, tag in enumerate(list(tags) + ["O"]):
        continues = kind is not None and tag == f"I-{kind}"
        if not continues:
            if kind is not None:
                spans.add((kind, start, t))
            kind, start = (tag[2:], t) if tag != "O" else (None, t)
    return spans


def entity_f1(true_tags, pred_tags):
    """Per-type and overall F1 of exact entity spans (CoNLL style).

    true_tags, pred_tags: lists of n tag sequences. Returns a dict
    {type: F1} for every type of ``ENTITY_TYPES`` plus "all" (micro average).
    """
    counts = {k: [0, 0, 0] for k in ENTITY_TYPES + ("all",)}  # true positives, predicted, true
    for t, p in zip(true_tags, pred_tags):
        ts, ps = entity_spans(t), entity_spans(p)
        for k in ENTITY_TYPES:
            tk, pk = {s for s in ts if s[0] == k}, {s for s in ps if s[0] == k}
            for key in (k, "all"):
                counts[key][0] += len(tk & pk)
                counts[key][1] += len(pk)
                counts[key][2] += len(tk)
    return {k: (2 * tp / (npred + ntrue) if npred + ntrue else 1.0) for k, (tp, npred, ntrue) in counts.items()}


# =========================================================================== melodies
LOWEST_PITCH = 60  # MIDI middle C
N_PITCHES = 25  # two octaves of semitones, C4 .. C6
_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_PROGRESSIONS = ((0, 3, 4, 0), (0, 5, 3, 4), (0, 3, 0, 4), (5, 3, 0, 4))  # scale degrees of chord roots


def _degree_pitch(degree):
    """Semitone above C4 of a scale degree (0 = C4; 7 = C5; may be negative or above 24)."""
    return 12 * (degree // 7) + _MAJOR[degree % 7]


def melodies(n, bars=4, rng=0):
    """``n`` C-major melodies of ``bars`` bars of 8 eighth notes: notes (n, 8*bars) int64.

    A note is a semitone above C4 (MIDI 60) in [0, N_PITCHES). Each melody
    follows a chord progression (e.g. I-IV-V-I) and each bar plays one
    pattern on its chord: arpeggio up or down, a scale run, or root-fifth
    alternation. So notes depend on the bar's chord and on the previous
    notes: learnable structure for a next-note model.
    """
    rng = _rng(rng)
    out = np.zeros((n, 8 * bars), dtype=np.int64)
    for i in range(n):
        prog = _PROGRESSIONS[rng.integers(len(_PROGRESSIONS))]
        for b in range(bars):
            root = prog[b % len(prog)]
            if root == 0 and rng.random() < 0.5:
                root = 7  # the tonic an octave up
            chord = [root, root + 2, root + 4, root + 7]
            pattern = rng.integers(4)
            if pattern == 0:
                degrees = chord + chord[::-1]
            elif pattern == 1:
                degrees = chord[::-1] + chord
            elif pattern == 2:
                degrees = [root + k for k in range(5)] + [root + 4, root + 2, root]
            else:
                degrees = [root, root + 4] * 4
            out[i, 8 * b : 8 * b + 8] = [_degree_pitch(d) for d in degrees]
    return np.clip(out, 0, N_PITCHES - 1)


def melody_audio(notes, rate=8000, note_seconds=0.2):
    """A waveform of a melody (1-D ints, semitones above C4): float32 (len(notes) * rate * note_seconds,).

    Each note is a sine with two harmonics and a short fade, for IPython.display.Audio.
    """
    t = np.arange(int(rate * note_seconds)) / rate
    env = np.minimum(1.0, np.minimum(t / 0.01, (note_seconds - t) / 0.05))
    parts = []
    for p in np.asarray(notes):
        f = 440.0 * 2 ** ((LOWEST_PITCH + int(p) - 69) / 12)
        parts.append(env * (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)))
    return (0.3 * np.concatenate(parts)).astype(np.float32)


# =========================================================================== dates
_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _ordinal(d):
    return f"{d}{'th' if 10 <= d % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th')}"


def date_pairs(n, rng=0):
    """``n`` dates written by humans and in ISO 8601: human (list of str), iso (list of str).

    Dates are uniform between 1950-01-01 and 2049-12-31; the human formats
    vary: "3 march 2021", "march 3, 2021", "3rd of march 2021", "mar 3 2021",
    "wednesday, march 3, 2021", "2021 march 03", "03.03.2021" (day first).
    The ISO form is always "2021-03-03" (10 characters). Lower case only.
    """
    rng = _rng(rng)
    start = datetime.date(1950, 1, 1).toordinal()
    span = datetime.date(2049, 12, 31).toordinal() - start + 1
    human, iso = [], []
    for _ in range(n):
        d = datetime.date.fromordinal(start + int(rng.integers(span)))
        month = _MONTH_NAMES[d.month - 1]
        formats = (
            f"{d.day} {month} {d.year}",
            f"{month} {d.day}, {d.year}",
            f"{_ordinal(d.day)} of {month} {d.year}",
            f"{month[:3]} {d.day} {d.year}",
            f"{_WEEKDAYS[d.weekday()]}, {month} {d.day}, {d.year}",
            f"{d.year} {month} {d.day:02d}",
            f"{d.day:02d}.{d.month:02d}.{d.year}",
        )
        human.append(formats[rng.integers(len(formats))])
        iso.append(d.isoformat())
    return human, iso


# =========================================================================== forecasting
def sunspots():
    """Yearly mean sunspot numbers 1700-2008 (309 values), shipped inside statsmodels.

    Returns years (309,) int64 and activity (309,) float64. Read straight from
    the CSV file of ``statsmodels.datasets.sunspots`` (no download, no pandas).
    Source: NOAA's National Geophysical Data Center; "This data is public
    domain" (statsmodels' notice; statsmodels itself is BSD-licensed).
    """
    path = resources.files("statsmodels.datasets.sunspots") / "sunspots.csv"
    data = np.loadtxt(str(path), delimiter=",", skiprows=1)
    return data[:, 0].astype(np.int64), data[:, 1]


# =========================================================================== activity recognition
HAR_ACTIVITIES = (
    "walking",
    "walking upstairs",
    "walking downstairs",
    "running",
    "cycling",
    "jumping",
    "skipping rope",
    "rowing",
    "sitting",
    "standing",
    "lying down",
    "brushing teeth",
)
# per class: gravity direction (3,), step frequency (Hz), amplitude per axis (3,), y-axis phase lag (rad)
_HAR_PARAMS = (
    ((0, 0, 1), 1.8, (0.30, 0.15, 0.40), 1.6),
    ((0, 0.3, 0.95), 1.5, (0.30, 0.15, 0.50), 1.6),
    ((0, -0.3, 0.95), 2.0, (0.35, 0.15, 0.60), 1.6),
    ((0, 0, 1), 2.8, (0.60, 0.30, 1.00), 1.6),
    ((0.7, 0, 0.7), 1.2, (0.10, 0.30, 0.10), 0.0),
    ((0, 0, 1), 1.0, (0.10, 0.10, 1.20), 0.0),
    ((0, 0, 1), 2.2, (0.10, 0.10, 0.80), 0.0),
    ((0.7, 0.7, 0), 0.5, (0.60, 0.20, 0.20), 3.1),
    ((0.5, 0, 0.85), 0.0, (0.00, 0.00, 0.00), 0.0),
    ((0, 0, 1), 0.0, (0.00, 0.00, 0.00), 0.0),
    ((1, 0, 0), 0.0, (0.00, 0.00, 0.00), 0.0),
    ((0, 0.8, 0.6), 4.0, (0.30, 0.05, 0.05), 0.0),
)


def har_windows(n, T=200, rate=50.0, rng=0):
    """``n`` windows of a 3-axis accelerometer (in g) during one of 12 activities.

    Each activity has a gravity direction (how the phone is held), a step
    frequency, an amplitude per axis and a phase lag between the axes; every
    window draws its own frequency (+-10%), amplitude (+-20%), start phase,
    a small tilt of the gravity vector and noise (std 0.05 g, 0.02 g for the
    static activities). Classes are balanced.

    Returns X (n, T, 3) float32 (T samples at ``rate`` Hz: 200 = 4 s) and
    y (n,) int64 in [0, 12), class names in ``HAR_ACTIVITIES``.
    """
    rng = _rng(rng)
    y = rng.permutation(np.arange(n) % len(HAR_ACTIVITIES))
    t = np.arange(T) / rate
    X = np.zeros((n, T, 3), dtype=np.float32)
    for i, c in enumerate(y):
        gravity, freq, amp, lag = _HAR_PARAMS[c]
        g = np.array(gravity, dtype=float) + rng.normal(scale=0.05, size=3)
        f = freq * rng.uniform(0.9, 1.1)
        a = np.array(amp) * rng.uniform(0.8, 1.2)
        phase = rng.uniform(0, 2 * np.pi)
        lags = np.array([0.0, lag, 0.5 * lag])
        wave = np.sin(2 * np.pi * f * t[:, None] + phase + lags)
        # a second harmonic makes steps peaky, as real footfalls are
        wave = wave + 0.3 * np.sin(4 * np.pi * f * t[:, None] + 2 * phase + lags)
        noise = 0.02 if freq == 0 else 0.05
        X[i] = g + a * wave + rng.normal(scale=noise, size=(T, 3))
    return X, y.astype(np.int64)


# =========================================================================== speech-like
SPEECH_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# phonemes: (kind, formant 1, formant 2) in Hz; "v" voiced (harmonics of the pitch), "f" fricative (noise band)
_PHONEMES = {
    "a": ("v", 750, 1200),
    "i": ("v", 300, 2300),
    "u": ("v", 320, 800),
    "e": ("v", 500, 1900),
    "o": ("v", 500, 900),
    "s": ("f", 3000, 3800),
    "f": ("f", 1500, 2500),
    "n": ("v", 250, 1000),
}
# ten "words", three phonemes each; several are permutations of each other, so order matters
_WORDS = ("sio", "ois", "nae", "ean", "fua", "auf", "sen", "nes", "iuf", "fiu")


def speech_audio(word, rng=0, rate=8000, seconds=0.8):
    """A waveform of one synthetic word (index into ``SPEECH_WORDS``): float64 (rate*seconds,).

    Three phonemes in a row (vowels: harmonics of a speaker's pitch shaped by two
    formant resonances; fricatives: band-passed noise), with random speaker
    pitch (90-250 Hz), formant shift (+-15%), phoneme durations (60-200 ms), start time and
    white noise (std 0.3 of the peak).
    """
    rng = _rng(rng)
    n_total = int(rate * seconds)
    f0 = rng.uniform(90, 250)
    shift = rng.uniform(0.85, 1.15)
    durations = rng.uniform(0.06, 0.20, size=3)
    start = int(rng.uniform(0.0, seconds - durations.sum() - 0.02) * rate)
    wave = np.zeros(n_total)
    pos = start
    freqs = np.fft.rfftfreq(n_total, 1 / rate)
    for ph, dur in zip(_WORDS[word], durations):
        kind, f1, f2 = _PHONEMES[ph]
        m = int(dur * rate)
        t = np.arange(m) / rate
        if kind == "v":
            seg = sum(
                np.sin(2 * np.pi * k * f0 * t)
                * (np.exp(-(((k * f0 - f1 * shift) / 120) ** 2)) + 0.6 * np.exp(-(((k * f0 - f2 * shift) / 160) ** 2)))
                for k in range(1, int(3500 / f0))
            )
        else:
            spec = np.fft.rfft(rng.normal(size=n_total))
            spec *= (freqs > f1 * shift) & (freqs < f2 * shift)
            seg = 0.5 * np.fft.irfft(spec, n_total)[:m] / 0.3
        env = np.minimum(1.0, np.minimum(t / 0.015, (dur - t) / 0.015))
        wave[pos : pos + m] += env * seg
        pos += m
    return wave / (np.abs(wave).max() + 1e-9) + rng.normal(scale=0.3, size=n_total)


def spectrogram(wave, frame=256, hop=128, bands=32, rate=8000):
    """Log-magnitude spectrogram of a waveform (L,) in ``bands`` equal-width bands: (frames, bands).

    Hann-windowed frames of ``frame`` samples every ``hop`` samples; frames = 1 + (L - frame) // hop.
    """
    n_frames = 1 + (len(wave) - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n_frames)[:, None]
    mag = np.abs(np.fft.rfft(wave[idx] * np.hanning(frame), axis=1))[:, : frame // 2]
    return np.log1p(mag.reshape(n_frames, bands, -1).mean(axis=2))


def speech_commands(n, rng=0):
    """``n`` spoken-word-like examples as spectrograms: X (n, 49, 32) float32, y (n,) int64 in [0, 10).

    0.8 s of 8 kHz audio from ``speech_audio`` per example (classes balanced),
    turned into 49 frames of 32 log-magnitude bands by ``spectrogram``.
    Words are named in ``SPEECH_WORDS``; pairs such as "sio"/"ois" use the
    same sounds in a different order, so a bag of frames is not enough.
    """
    rng = _rng(rng)
    y = rng.permutation(np.arange(n) % len(SPEECH_WORDS))
    X = np.stack([spectrogram(speech_audio(int(c), rng)) for c in y]).astype(np.float32)
    return X, y.astype(np.int64)
