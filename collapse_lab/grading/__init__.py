"""Grading learners' notebooks: verdicts decided in the grader's process, kernels in sandboxes, a gradebook.

See ``docs/grading.md``. :func:`grade_batch` (:mod:`.batch`) grades a class in parallel; :mod:`.grader` grades one
notebook; :mod:`.lms` reads who a submission is from and writes the Canvas and Moodle import files; :mod:`.rubric`
merges the written answers' scores; :mod:`.similarity` reports copied code; :mod:`.gradebook` writes the long and
wide CSVs and the feedback files.
"""
__all__ = ["Options", "Solution", "Submission", "Verdict", "exercises_of", "grade_batch", "load_solution"]


def __getattr__(name):
    # loaded on first use: a graded kernel imports .shim (and .wire) from this package and nothing else of it
    if name in __all__:
        from . import grader

        return getattr(grader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
