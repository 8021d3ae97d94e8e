"""Fixtures of the package's tests: the checks with live torch references and with the saved ones."""

import pytest

from course.references import use_saved


@pytest.fixture(params=["torch", "saved"])
def both_references(request):
    """Run the test twice: with the torch references computed live, then read back from the saved
    files (course.references), as where torch is not installed. A hint table marked with it
    (``pytestmark = pytest.mark.usefixtures("both_references")``) shows the hints are the same in both."""
    if request.param == "saved":
        with use_saved():
            yield request.param
    else:
        yield request.param
