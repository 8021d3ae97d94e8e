"""exercises/ is exactly what `course release` makes from solutions/."""

import pytest

from course.instructor.release import out_of_sync


@pytest.mark.slow
def test_exercises_are_in_sync_with_solutions(root):
    stale = out_of_sync(root)
    assert not stale, f"exercises/ is out of sync with solutions/ ({stale}): run `course release` and commit"
