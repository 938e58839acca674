"""The code that runs inside a student's grading process (copied into its sandbox as ``cvgrade_child``).

Rule of this package: it holds no reference solution, no threshold and no expected value -- only the wire
format (:mod:`.wire`), the stand-in model both sides must agree on (:mod:`.standin`), the limits and the audit
hook (:mod:`.audit`), the bindings the request loop trusts (:mod:`.bindings`), the operations it answers
(:mod:`.operations`), its start-up (:mod:`.harness`) and the jobs that run student code (:mod:`.worker`). Every
comparison happens in the grader's process. It imports nothing from ``autograder`` outside this package, so it
works both as ``autograder.child`` (in the grader) and as the top-level ``cvgrade_child`` (in the sandbox).

The facts both sides share live here.
"""

LOSS = "class_visualization_loss_and_gradient"
"""Name of the graded loss-and-gradient function: ``(model, X, target_y, l2_reg) -> (loss, dX)``."""
UPDATE = "class_visualization_update_step"
"""Name of the graded update step: ``(model, X, target_y, l2_reg, learning_rate) -> X_new``."""
GRADED = (LOSS, UPDATE)
MAX_ELEMENTS = 10_000_000
"""Largest array (elements) a student's function may hand back; larger ones are refused, never copied."""
