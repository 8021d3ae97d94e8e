"""The programs around the course's three parts: what a person runs. Read in this order.

1. :mod:`~course.programs.cli` -- the ``course`` command: each subcommand parses its options and
   calls the part that does the work (the engine, :mod:`course.grading`; the instructor's
   pipeline, :mod:`course.instructor`; the programs below); the instructor's subcommands are in
   :mod:`~course.programs.course_commands`, the options both kinds of grading share in
   :mod:`~course.programs.grading_options`, the install profile each command needs (one line
   when it is missing) in :mod:`~course.programs.extras`;
2. :mod:`~course.programs.lab` -- ``course lab``: JupyterLab with nbgrader's extensions at a
   student's own copy of the lectures (``my-work/``);
3. :mod:`~course.programs.site` -- ``course site``: the lectures as a static website, offline;
4. :mod:`~course.programs.hub` -- ``course hub``: the course on a JupyterHub of local accounts,
   each server in a private view of the machine; :mod:`~course.programs.hub_server` runs first in
   each user's server (``python -m course.programs.hub_server``);
5. :mod:`~course.programs.prose_numbers` -- the numbers a lecture's prose takes from a
   computation, checked when nbval runs a lecture (``lectures/conftest.py``).

Nothing below imports this part: the programs are the top layer (``tests/project/test_layers.py``).
"""
