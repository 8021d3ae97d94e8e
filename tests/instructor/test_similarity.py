"""``course similarity UNIT``: a disguised copy is flagged, independent answers (even identical short
canonical ones) are not, identical wrong results are, and the page is the instructor's alone.

The class is unit 1's: students' answer cells written here in several independent styles, one of
them copied with renamed variables, new comments and reordered lines. The precision and recall on
units 4-8 are measured by bench/similarity_eval.py, not here.
"""

import json
import stat

import pytest

from course.grading.submission import cells_by_role, grade_id
from course.instructor import similarity
from course.programs import cli

from helpers import ROOT

UNIT = "01_perceptron"
PREDICT = [  # short and canonical: independent students write these alike
    "def perceptron_predict(X, w, b):\n    return (X @ w + b > 0).astype(int)\n",
    "def perceptron_predict(X, w, b):\n    return np.where(X.dot(w) + b > 0, 1, 0)\n",
    "def perceptron_predict(X, w, b):\n    s = X @ w + b\n    return (s > 0).astype(int)\n",
]
FIT = [
    """def perceptron_fit(X, y, lr=1.0, epochs=10):
    w = np.zeros(X.shape[1])
    b = 0.0
    for _ in range(epochs):
        for xi, yi in zip(X, y):
            err = yi - perceptron_predict(xi[None], w, b)[0]
            w = w + lr * err * xi
            b = b + lr * err
    return w, float(b)
""",
    """def perceptron_fit(X, y, lr=1.0, epochs=10):
    n, d = X.shape
    weights, bias = np.zeros(d), 0.0
    epoch = 0
    while epoch < epochs:
        for i in range(n):
            pred = 1 if X[i] @ weights + bias > 0 else 0
            delta = lr * (y[i] - pred)
            weights += delta * X[i]
            bias += delta
        epoch += 1
    return weights, bias
""",
    """def perceptron_fit(X, y, lr=1.0, epochs=10):
    params = np.zeros(X.shape[1] + 1)  # bias last
    Xb = np.hstack([X, np.ones((len(X), 1))])
    for epoch in range(epochs):
        for row, target in zip(Xb, y):
            guess = int(row @ params > 0)
            params = params + lr * (target - guess) * row
    return params[:-1].copy(), float(params[-1])
""",
    """def perceptron_fit(X, y, lr=1.0, epochs=10):
    w = [0.0] * X.shape[1]
    b = 0.0
    for e in range(epochs):
        for k in range(len(y)):
            act = sum(wj * xj for wj, xj in zip(w, X[k])) + b
            update = lr * (y[k] - (1 if act > 0 else 0))
            w = [wj + update * xj for wj, xj in zip(w, X[k])]
            b += update
    return np.array(w), b
""",
    """def perceptron_fit(X, y, lr=1.0, epochs=10):
    theta = np.zeros(X.shape[1])
    offset = 0.0
    for _epoch in range(epochs):
        for idx in range(X.shape[0]):
            fired = float(np.dot(theta, X[idx]) + offset > 0)
            if fired != y[idx]:
                theta = theta + lr * (y[idx] - fired) * X[idx]
                offset = offset + lr * (y[idx] - fired)
    return theta, offset
""",
    """def perceptron_fit(X, y, lr=1.0, epochs=10):
    coef = np.zeros(len(X[0]))
    intercept = 0.0
    passes = 0
    for passes in range(epochs):
        mistakes = [(x_, t_) for x_, t_ in zip(X, y)]
        for sample, label in mistakes:
            e = label - perceptron_predict(sample.reshape(1, -1), coef, intercept).item()
            coef, intercept = coef + lr * e * sample, intercept + lr * e
    return coef, float(intercept)
""",
]
# FIT[1] copied: names changed, comments added, two independent lines swapped
COPY = """def perceptron_fit(X, y, lr=1.0, epochs=10):
    # my own implementation
    num, dim = X.shape
    bias_term, W = 0.0, np.zeros(dim)
    ep = 0
    while ep < epochs:
        for j in range(num):
            # predict then update
            out = 1 if X[j] @ W + bias_term > 0 else 0
            change = lr * (y[j] - out)
            W += change * X[j]
            bias_term += change
        ep += 1
    return W, bias_term
"""


def _notebook(predict, fit):
    (source,) = sorted((ROOT / "exercises" / UNIT).glob("*.ipynb"))
    nb = json.loads(source.read_text(encoding="utf-8"))
    for cell in cells_by_role(nb, "answer"):
        cell["source"] = predict if grade_id(cell) == "answer_perceptron_predict" else fit
    return nb


CLASS = {
    "ana": (PREDICT[0], FIT[0]),
    "ben": (PREDICT[1], FIT[1]),
    "cleo": (PREDICT[2], FIT[2]),
    "dan": (PREDICT[0], FIT[3]),
    "eve": (PREDICT[0], COPY),  # copied ben's fit
}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    import shutil

    root = tmp_path_factory.mktemp("similarity") / "course"
    shutil.copytree(ROOT / "solutions" / UNIT, root / "solutions" / UNIT)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for student, (predict, fit) in CLASS.items():
        folder = root / "submitted" / student / UNIT
        folder.mkdir(parents=True)
        (folder / "perceptron.ipynb").write_text(json.dumps(_notebook(predict, fit)))
    # fay and gus failed a hidden test with the very same wrong numbers (their code differs)
    for student, predict in (("fay", PREDICT[1]), ("gus", PREDICT[2])):
        folder = root / "submitted" / student / UNIT
        folder.mkdir(parents=True)
        (folder / "perceptron.ipynb").write_text(json.dumps(_notebook(predict, FIT[4 if student == "fay" else 5])))
        kept = root / "autograded" / student / UNIT
        kept.mkdir(parents=True)
        message = "perceptron_fit: w does not match the reference (worst at index (1,): got 0.41723, expected 1.5)"
        tests = [{"grade_id": "perceptron_fit", "score": 0, "max_score": 3, "error": message}]
        (kept / "course-results.json").write_text(json.dumps({"tests": tests, "error": None}))
    return root


def _pairs(course):
    _, pairs = similarity.unit_similarity(course, UNIT)
    return {frozenset((p.a, p.b)): p for p in pairs}


def test_a_copy_with_new_names_comments_and_order_is_flagged(course):
    pair = _pairs(course)[frozenset(("ben", "eve"))]
    assert pair.flagged and pair.score >= similarity.THRESHOLD, pair


def test_independent_answers_are_not_flagged_even_when_short_and_canonical(course):
    flagged = {tuple(sorted(k)) for k, p in _pairs(course).items() if p.flagged}
    assert flagged == {("ben", "eve"), ("fay", "gus")}, f"only the copy and the shared wrong result: {flagged}"


def test_the_same_wrong_numbers_in_a_failed_test_are_reported_whatever_the_code(course):
    pair = _pairs(course)[frozenset(("fay", "gus"))]
    assert pair.flagged and pair.shared_wrong and pair.score < similarity.THRESHOLD


def test_the_stubs_lines_are_not_compared(course):
    subs, _ = similarity.unit_similarity(course, UNIT)
    for s in subs:
        assert "YOUR CODE HERE" not in s.code and "Perceptron predictions." not in s.code


def test_the_page_is_the_instructors_and_shows_code_as_text(course, capsys):
    evil = course / "submitted" / "hal" / UNIT
    evil.mkdir(parents=True)
    (evil / "perceptron.ipynb").write_text(
        json.dumps(_notebook(PREDICT[0], FIT[1] + "# </pre><script>alert(1)</script>\n"))
    )
    assert cli.main(["similarity", UNIT, "--course", str(course)]) == 0
    page = course / "reports" / f"similarity-{UNIT}.html"
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    text = page.read_text()
    assert "<script>" not in text and "default-src 'none'" in text
    assert "flagged for a look" in capsys.readouterr().out


def test_an_unknown_unit_is_one_line_naming_the_units(course, capsys):
    assert cli.main(["similarity", "99_nothing", "--course", str(course)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "01_perceptron" in err
