"""The feedback page a student reads: what it says of a graded and of an ungradable submission."""

from course.instructor.feedback import page

TESTS = [
    ("test_perceptron_predict", 0.0, 2.0, "perceptron_predict returns 1 for x = [0, 0]"),
    ("test_fit", 3.0, 3.0, None),
]


def test_a_graded_submission_shows_each_failed_tests_message_and_says_the_hidden_tests_ran():
    html = page("01_perceptron", "alice", "perceptron", TESTS, 3.0, 5.0)
    assert "perceptron_predict returns 1 for x = [0, 0]" in html
    assert "The hidden tests ran too" in html and "could not be graded" not in html


def test_an_ungradable_submission_says_so_with_its_reason_and_claims_no_test_ran():
    reason = "the kernel died while running cell answer_perceptron_fit (memory limit: 4096 MiB)"
    html = page("01_perceptron", "alice", "perceptron", TESTS, 0.0, 5.0, error=reason)
    assert "Could not be graded: " + reason in html
    assert "hidden tests ran" not in html, "the page must not claim the tests ran when the notebook was not graded"
    assert html.count("not run: the notebook could not be graded") == len(TESTS)
    assert "perceptron_predict returns 1" not in html  # no stale per-test message beside the real reason
