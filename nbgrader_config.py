"""nbgrader's configuration for this course (the course root is this folder).

solutions/ is nbgrader's source directory (instructor notebooks with
solutions and hidden tests), exercises/ its release directory (what students
get, committed). One assignment per unit: 01_perceptron, 02_backprop, ...
`course release` regenerates exercises/; `course grade` and
`course autograde` read these settings too.
"""

import os

c = get_config()  # noqa: F821  (injected by traitlets when nbgrader loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
# Only notebooks reach students: nbgrader would copy any other file of a
# source folder (a solved helper .py, say) into the release unchanged.
# (timestamp.txt and submission_secret.txt: what `nbgrader collect` must keep for release_feedback)
c.CourseDirectory.include = ["*.ipynb", "timestamp.txt", "submission_secret.txt"]
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")
# Keep the exchange inside the course instead of /usr/local/share.
c.Exchange.root = os.path.join(c.CourseDirectory.root, "nbgrader_exchange")

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# Per-cell execution limit when autograding (seconds); `course grade --timeout` overrides it.
c.Execute.timeout = 60
# Whatever nbgrader renders of a submission (the formgrader, its feedback) is sanitised first: no script,
# link or HTML of the student's renders live (course/grading/outputs.py; `course autograde` stores it so).
c.HTMLExporter.preprocessors = ["course.grading.outputs.SanitiseNotebook"]
# nbgrader's own feedback (the formgrader's button) shows the whole autograded notebook, hidden tests
# included; the course's preprocessor removes them (`course feedback` writes its own pages instead).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "course.instructor.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
