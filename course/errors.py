"""The errors a user of the course's tools sees as one line: every layer may import them.

A :class:`CourseError` is a mistake in how a command was called or in what it was given (a wrong
folder, nothing to grade, a gradebook or cluster that cannot be reached): the ``course`` command
prints its message, which says what to do, instead of a traceback. Each layer raises its own
subclass where it has one (``course.instructor.gradebook.GradebookError``,
``course.grading.cluster.ClusterError``, ``course.instructor.intake.UnsafeArchive``); this module imports
nothing of the course, so the engine (``course.grading``) need not import the instructor's layer
for it.
"""


class CourseError(Exception):
    """A mistake in how a command was called (wrong folder, nothing to grade); its message says what to do."""
