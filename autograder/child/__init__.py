"""The code that runs inside a student's grading process (copied into its sandbox as ``cvgrade_child``).

Rule of this package: it holds no reference solution, no threshold and no expected value -- only the wire
format (:mod:`.wire`), the stand-in model both sides must agree on (:mod:`.standin`) and the request loop that
calls the student's functions and sends their raw outputs back (:mod:`.harness`). Every comparison happens in
the grader's process. It imports nothing from ``autograder`` outside this package, so it works both as
``autograder.child`` (in the grader) and as the top-level ``cvgrade_child`` (in the sandbox).
"""
