"""The course kit: two editions of the notebook series and an autograder for its exercises.

* ``python -m course student``    -> ``dist/student/``: the notebooks without their solution
  cells (removed, not collapsed), a ``grader.check("qk")`` cell under each exercise, and the
  public tests those cells run (Otter-Grader test files).
* ``python -m course instructor`` -> ``dist/instructor/``: the notebooks with their solutions
  expanded and checked, every test (hidden ones too), ``ANSWER_KEY.md`` (solutions, what the
  tests check, expected answers, common mistakes, minutes) and the teaching guide.
* ``python -m course grade DIR``  -> a CSV with one row per student and exercise.

The source of both editions is ``notebooks/NN_*.ipynb`` (exercise cells tagged ``exercise``,
solution cells tagged ``solution``), the Otter-Grader test files in ``course/checks/`` and the
instructor notes in ``course/notes.yaml``.  ``make student``, ``make instructor`` and ``make
grade SUBMISSIONS=DIR`` run these; ``docs/teaching.md`` is the instructor's guide.
"""
