"""The seven hidden checks: names, points, thresholds with their reasons, and the decision for each.

Rule of this module: (reference values computed by the grader, raw outputs of the student's functions) =>
(points, feedback). Every check is all-or-nothing, so the nbgrader test cell of a check (which passes when the
check earns its points) and the standalone grader always give the same points. Feedback names the mistake and
where it shows, never the code of the answer. Nothing here runs student code: the outputs arrive as plain
arrays (see :mod:`autograder.child.harness`), and every comparison runs in the grader's process.

The thresholds (``TOL_*``, ``MIN_*``) are documented in :data:`CHECKS` with the reason for each value; they were
set from measurements of correct and wrong answers on SqueezeNet 1.1 (see ``tests/submissions/``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LOSS = "class_visualization_loss_and_gradient"
UPDATE = "class_visualization_update_step"

# ---- thresholds -----------------------------------------------------------------------------------------------
TOL_LOSS_ABS, TOL_LOSS_REL = 1e-3, 1e-4
"""Loss on SqueezeNet: |L - L_ref| <= 1e-3 + 1e-4 |L_ref| (the public check's tolerance)."""
MIN_COSINE, MIN_SIGN_AGREEMENT = 0.99, 0.95
"""Gradient on SqueezeNet: cosine similarity and fraction of pixels with the reference's sign, at every input."""
L2_CHANGE, TOL_L2_RATIO, TOL_L2_RESIDUAL_REL, TOL_L2_RESIDUAL_ABS = 0.1, 1e-3, 1e-3, 1e-5
"""L2 check: l2_reg raised from 0 to 0.1 must change dX by c X with c = -0.2 or -0.1 (relative 1e-3)."""
TOL_RAW_ABS, TOL_RAW_REL, TOL_RAW_GRAD = 1e-5, 1e-5, 1e-3
"""Raw score: |L - s_y| <= 1e-5 + 1e-5 |s_y|; ||dX - c_y P|| <= 1e-3 ||c_y P||."""
TOL_STEP_REL, TOL_STEP_ABS = 1e-3, 1e-5
"""Update step with the student's own gradient: X_new - X = lr dX (the public check's tolerance)."""
TOL_INJECT_REL, TOL_INJECT_ABS = 1e-5, 1e-6
"""Update step with a known injected gradient G: X_new = X + lr G to float32 rounding."""
PLAIN_STEPS, MIN_PLAIN_RISE = 5, 10.0
"""Score increase, part 1: five plain steps from noise raise the raw tarantula score by more than 10."""
MIN_RISE_FRACTION = 0.5
"""Score increase, part 2: the provided loop raises the target score by at least half the reference's rise."""
TOL_COMPILED_REL, TOL_COMPILED_ABS = 1e-3, 1e-5
"""tf.function: the compiled gradient equals the eager one (classviz.visualize.compile_loss_and_gradient's test)."""


@dataclass(frozen=True)
class Check:
    """One hidden check.

    Attributes:
        name: stable identifier (used by the nbgrader test cells and in every output).
        points: points it is worth (all or nothing).
        title: one line saying what it checks.
        criterion: when it passes, with the thresholds.
        why: why those thresholds.
    """
    name: str
    points: int
    title: str
    criterion: str
    why: str


CHECKS = {c.name: c for c in (
    Check("loss_value", 2, "the loss value at fixed inputs, on the real SqueezeNet 1.1",
          "At 3 seeded inputs (noise, blurred noise; classes 76, 130, 963; l2_reg 1e-3, 0, 1e-4; X given as a "
          "NumPy array or a tf.Tensor) the loss is a scalar float32 tf.Tensor within 1e-3 + 1e-4 |L| of "
          "s_y(X) - l2_reg ||X||^2 or of s_y(X) - l2_reg ||X||^2 / 2 (tf.nn.l2_loss).",
          "float32 rounding of a 150528-term sum is ~1e-5 relative; the closest mistakes (softmax, log-softmax, "
          "L2 missing or added) are off by more than 0.5. Same tolerance as the notebook's public check."),
    Check("gradient_sign", 3, "the gradient's direction and signs, on the real SqueezeNet 1.1",
          "At the same 3 inputs, dX is a float32 tf.Tensor of X's shape whose cosine similarity with the "
          "reference gradient (full or half L2 factor) is >= 0.99 and whose sign agrees with it on >= 95% of "
          "the pixels where the reference is not zero.",
          "Correct variants reach 0.9999+ on both; the nearest mistakes measured: L2 missing at l2_reg=1e-4 "
          "(cosine 0.997, signs 94.4%), softmax/log-softmax (cosine <= 0.91 at l2_reg=1e-3, 0.68 at 0), "
          "L2 added (-0.32), negated (-0.95)."),
    Check("l2_regularizer", 2, "the L2 term's part of the gradient (sign and size), on a linear stand-in",
          "On a stand-in whose score gradient is known exactly, raising l2_reg from 0 to 0.1 changes dX by "
          "c X with c = -0.2 (l2_reg ||X||^2) or -0.1 (tf.nn.l2_loss), within 1e-3 relative, and the change "
          "is proportional to X (residual <= 1e-3 |c X| + 1e-5).",
          "The difference cancels the score part, so this isolates the regularizer even when the score part is "
          "wrong; float32 error is ~1e-6; a missing, added or mis-scaled term is off by 50% or more."),
    Check("raw_score", 1, "the raw class score, not a softmax or log-softmax probability",
          "On the linear stand-in (scores spread over +-6, where softmax and log-softmax differ from the "
          "score by more than 0.5) with l2_reg=0, for classes 3, 76, 980: loss within 1e-5 + 1e-5 |s_y| of the "
          "raw score s_y, and dX within 1e-3 (relative) of its exact gradient.",
          "The student's loss calls the same model on the same input, so the values agree to float32 "
          "rounding; the tolerance is the notebook's public check's."),
    Check("update_step", 3, "one step of gradient ascent",
          "On the linear stand-in: returns a new float32 NumPy array of X's shape, X itself unchanged; "
          "X_new - X = 25 dX with the student's own dX (rtol 1e-3, atol 1e-5); and with a known gradient G "
          "substituted for the loss function, X_new = X + 3 G (rtol 1e-5, atol 1e-6).",
          "The substituted gradient separates the step from the loss function, so descent, a missing "
          "learning rate, a sign or a normalized step are each caught even if the loss is wrong."),
    Check("score_increase", 3, "the score goes up on the real SqueezeNet 1.1",
          "Five plain update steps from seeded noise raise the raw tarantula score by more than 10; and the "
          "provided loop create_class_visualization (class 130 flamingo, seed 0, 20 iterations, default "
          "hyper-parameters, the gradient compiled when possible) raises the flamingo score by at least 50% of "
          "the smaller of the two reference rises (full and half L2 factor) and ends with flamingo as top-1.",
          "Measured rises: reference +82, tf.nn.l2_loss +75, L2 missing/added +65..+105; mistakes: "
          "log-softmax +22, learning rate ignored +0.3, softmax +0.2, descent and sign steps go down. Flamingo "
          "has no near-duplicate class, so a correct run ends top-1 with a margin of 15."),
    Check("tf_function", 1, "the gradient function can be compiled with tf.function",
          "classviz.visualize.compile_loss_and_gradient(f, squeezenet) (AutoGraph off, the loop's way) traces "
          "it (a tf.Variable in place of tape.watch is accepted), and the compiled loss and gradient equal the "
          "eager ones (rtol 1e-3, atol 1e-5), and the eager gradient is finite and not zero.",
          "A small deduction (1 of 15) with a warning: a function that cannot be compiled still works, "
          "the loop just runs it about 5 times slower."),
)}
MAX_SCORE = sum(c.points for c in CHECKS.values())


@dataclass
class CheckResult:
    """The outcome of one check for one submission (all or nothing)."""
    name: str
    points: int
    max_points: int
    feedback: str
    details: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.points == self.max_points

    def to_dict(self) -> dict:
        return {"name": self.name, "points": self.points, "max_points": self.max_points, "passed": self.passed,
                "feedback": self.feedback, "details": self.details, "seconds": round(self.seconds, 3)}


def result(name: str, passed: bool, feedback: str, **details) -> CheckResult:
    """A :class:`CheckResult` with the check's full points or none."""
    check = CHECKS[name]
    return CheckResult(name, check.points if passed else 0, check.points, feedback,
                       {k: _jsonable(v) for k, v in details.items()})


def _jsonable(value):
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return float(f"{value:.6g}") if np.isfinite(value) else str(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    return value


# ---- what a call of a student function gave -------------------------------------------------------------------

@dataclass
class Call:
    """The outcome of one request to the student's process.

    Attributes:
        ok: the function returned (``header["ok"]``) and the process answered.
        header: the response header (``error`` when the function raised; type info of the outputs).
        arrays: the returned arrays.
        failure: set when the process did not answer: ``"timeout"``, ``"crashed"``, ``"protocol"``,
            ``"skipped"``, or ``"tampered"`` (the process reported, or the wire showed, tampering: no result of
            it is trusted any more); ``failure_detail`` says more.
    """
    ok: bool
    header: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    failure: str | None = None
    failure_detail: str = ""


def _where(error: dict | None) -> str:
    where = (error or {}).get("where")
    if not where:
        return ""
    code = f": `{where['code']}`" if where.get("code") else ""
    return f" (cell {where['cell']}, line {where['line']}{code})"


def describe_failure(call: Call, function: str, context: str = "") -> str:
    """One sentence saying why a call of ``function`` gave no usable output."""
    context = f" {context}" if context else ""
    if call.failure == "timeout":
        return f"{function} did not finish{context} within the time limit ({call.failure_detail}); an endless loop?"
    if call.failure == "crashed":
        return (f"the grading process ended while running {function}{context} ({call.failure_detail}); "
                "does your code exit, kill its process, or use too much memory?")
    if call.failure == "tampered":
        return (f"{call.failure_detail} (while running {function}{context}); the grader does not trust this "
                "submission's process any more, so this check gets no points")
    if call.failure == "skipped":
        return f"{function} was not run{context}: {call.failure_detail}"
    if call.failure:
        return f"{function} could not be run{context}: {call.failure_detail}"
    error = call.header.get("error") or {}
    kind, message = error.get("type", "Error"), error.get("message", "")
    if kind == "Missing":
        missing = error.get("message", "").split(" is not defined")[0] or function
        hint = f" ({error['hint']})" if error.get("hint") else ""
        return f"{missing} is not defined when the notebook's code cells run{hint}"
    if kind == "NotCallable":
        return f"{message}"
    if kind == "NotImplementedError":
        raiser = ((error.get("where") or {}).get("function")) or function
        called = f", called by {function}" if raiser != function else ""
        return f"{raiser} is still the unmodified stub (it raises NotImplementedError{called}){_where(error)}"
    if kind == "BadReturn":
        return f"{function} {message}"
    if kind in ("SystemExit", "KeyboardInterrupt"):
        return f"{function} tried to stop the program ({kind}{': ' + message if message else ''}){_where(error)}"
    text = f"{kind}: {message}" if message else kind
    raiser = ((error.get("where") or {}).get("function"))
    if raiser in (LOSS, UPDATE) and raiser != function:
        return f"{function} failed{context}: {raiser} raised {text}{_where(error)}"
    return f"{function} raised {text}{_where(error)}{context}"


# ---- helpers on arrays ----------------------------------------------------------------------------------------

def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


def sign_agreement(a, ref) -> float:
    a, ref = np.asarray(a).ravel(), np.asarray(ref).ravel()
    mask = ref != 0
    return float(np.mean(np.sign(a[mask]) == np.sign(ref[mask]))) if mask.any() else 0.0


def close(value, target, rel, abs_) -> bool:
    return bool(np.isfinite(value) and abs(value - target) <= abs_ + rel * abs(target))


def _scalar(call: Call):
    """The student's loss as a float, or (None, reason)."""
    info = call.header.get("loss") or {}
    if "loss" not in call.arrays:
        return None, f"the loss is {info.get('error') or 'missing'} (a {info.get('type', '?')})"
    arr = call.arrays["loss"]
    if arr.size != 1:
        return None, f"the loss has shape {tuple(arr.shape)}; it must be a single number (a scalar)"
    value = float(arr.reshape(-1)[0])
    if not np.isfinite(value):
        return None, f"the loss is {value}"
    return value, None


def _contract_loss(call: Call) -> str | None:
    info = call.header.get("loss") or {}
    if info.get("type") != "tf.Tensor":
        return f"the loss must be a tf.Tensor, but is a {info.get('type')}"
    if info.get("shape") != []:
        return f"the loss must be a scalar tf.Tensor (shape ()), but has shape {tuple(info.get('shape') or ())}"
    if info.get("dtype") != "float32":
        return f"the loss must be float32, but is {info.get('dtype')}"
    return None


def _gradient(call: Call, shape) -> tuple:
    """(dX float64 array, None) or (None, reason)."""
    info = call.header.get("dX") or {}
    if info.get("type") == "NoneType":
        return None, ("dX is None: the loss does not depend on X as recorded by the tape (is X watched, and is "
                      "everything from X to the loss computed with TensorFlow operations, without .numpy()?)")
    if "dX" not in call.arrays:
        return None, f"dX is {info.get('error') or 'missing'} (a {info.get('type', '?')})"
    dX = call.arrays["dX"]
    if tuple(dX.shape) != tuple(shape):
        return None, f"dX has shape {tuple(dX.shape)}, but X has shape {tuple(shape)}"
    dX = dX.astype(np.float64)
    if not np.all(np.isfinite(dX)):
        return None, "dX contains NaN or inf values"
    if not np.any(dX):
        return None, ("dX is all zeros: the loss does not depend on X as recorded by the tape (is X watched, "
                      "and is everything computed with TensorFlow operations?)")
    return dX, None


def _contract_gradient(call: Call, shape) -> str | None:
    info = call.header.get("dX") or {}
    if info.get("type") != "tf.Tensor":
        return (f"dX must be a tf.Tensor, but is a {info.get('type')} (return the tape's gradient as it is, "
                "without converting it)")
    if tuple(info.get("shape") or ()) != tuple(shape):
        return f"dX has shape {tuple(info.get('shape') or ())}, but X has shape {tuple(shape)}"
    if info.get("dtype") != "float32":
        return f"dX must be float32, but is {info.get('dtype')}"
    return None


# ---- diagnoses ------------------------------------------------------------------------------------------------

def diagnose_loss(L: float, case) -> str | None:
    """Name the mistake a loss value matches at a reference case, if any (None: no known mistake matches)."""
    s, R, lam = case.score, case.sq_norm, case.l2_reg
    p, logp = case.prob, case.log_prob
    candidates = []
    for f, label in ((1.0, "l2_reg ||X||^2"), (0.5, "tf.nn.l2_loss")):
        r = f * lam * R
        candidates += [(s + r, "the L2 term is added to the score instead of subtracted (it is a penalty)"),
                       (-(s - r), "the loss has the opposite sign: it is written as a cost to minimize, but this "
                                  "function must return the objective to maximize"),
                       (p - r, "the loss uses the softmax probability of the class instead of its raw score"),
                       (logp - r, "the loss uses the log-softmax of the class instead of its raw score")]
    if lam:
        candidates += [(s, "the L2 term is missing from the loss"),
                       (s - lam * np.sqrt(R), "the L2 term uses the norm ||X|| instead of its square"),
                       (s - lam * R / case.size, "the L2 term averages the squared pixels instead of summing them"),
                       (s - 2 * lam * R, "the L2 term is twice too large"),
                       (s - lam, "the L2 term does not depend on X (l2_reg alone is subtracted)")]
    def badness(value):  # distance in units of the (loose) tolerance
        return abs(L - value) / (10 * TOL_LOSS_ABS + 10 * TOL_LOSS_REL * abs(value))

    best = min(candidates, key=lambda c: badness(c[0]))
    if badness(best[0]) <= 1:
        return best[1]
    for f in (1.0, 0.5):
        others = np.asarray(case.scores, np.float64) - f * lam * R
        others[case.target_y] = np.inf
        k = int(np.argmin(np.abs(others - L)))
        if close(L, float(others[k]), TOL_LOSS_REL, TOL_LOSS_ABS):
            return f"it matches the score of class {k}, not of class {case.target_y}: check the index"
    return None


def check_loss_value(suite, calls: list[Call]) -> CheckResult:
    """Check 1 (see :data:`CHECKS`). ``calls``: the loss calls at ``suite.real_cases``."""
    details = {"inputs": []}
    for case, call in zip(suite.real_cases, calls):
        where = f"at {case.label}"
        if not call.ok:
            return result("loss_value", False, describe_failure(call, LOSS, where), **details)
        L, why = _scalar(call)
        if L is None:
            return result("loss_value", False, f"{why} ({where}).", **details)
        refs = (case.loss_full, case.loss_half)
        details["inputs"].append({"case": case.name, "loss": L, "reference": case.loss_full,
                                  "reference_l2_loss": case.loss_half})
        if not any(close(L, r, TOL_LOSS_REL, TOL_LOSS_ABS) for r in refs):
            mistake = diagnose_loss(L, case)
            text = f"your loss is {L:.4f} {where}, but the objective's value there is {case.loss_full:.4f}"
            if case.l2_reg:
                text += f" ({case.loss_half:.4f} with tf.nn.l2_loss)"
            return result("loss_value", False, f"{text}: {mistake}." if mistake else f"{text}.", **details)
        why = _contract_loss(call)
        if why:
            return result("loss_value", False, f"the value is right, but {why} ({where}).", **details)
    return result("loss_value", True, f"the loss matches the objective at {len(calls)} inputs on SqueezeNet 1.1.",
                  **details)


def check_gradient_sign(suite, calls: list[Call]) -> CheckResult:
    """Check 2 (see :data:`CHECKS`). ``calls``: the loss calls at ``suite.real_cases``."""
    details = {"inputs": []}
    failures = []
    for case, call in zip(suite.real_cases, calls):
        where = f"at {case.label}"
        if not call.ok:
            return result("gradient_sign", False, describe_failure(call, LOSS, where), **details)
        dX, why = _gradient(call, case.X.shape)
        if dX is None:
            return result("gradient_sign", False, f"{why} ({where}).", **details)
        cos_full, cos_half = cosine(dX, case.grad_full), cosine(dX, case.grad_half)
        use_half = cos_half > cos_full
        ref = case.grad_half if use_half else case.grad_full
        cos, agree = max(cos_full, cos_half), sign_agreement(dX, ref)
        details["inputs"].append({"case": case.name, "cosine": cos, "sign_agreement": agree,
                                  "l2_factor": "half" if use_half else "full"})
        if cos < MIN_COSINE or agree < MIN_SIGN_AGREEMENT:
            failures.append((case, dX, cos, agree))
    if failures:
        case, dX, cos, agree = failures[0]
        text = (f"at {case.label}, your gradient has cosine similarity {cos:.3f} with the reference gradient and "
                f"the same sign on {100 * agree:.1f}% of the pixels (at least {MIN_COSINE} and "
                f"{100 * MIN_SIGN_AGREEMENT:.0f}% needed)")
        mistake = diagnose_gradient(dX, case, failures, suite)
        return result("gradient_sign", False, f"{text}: {mistake}." if mistake else f"{text}.", **details)
    why = next((w for w in (_contract_gradient(c, case.X.shape) for case, c in zip(suite.real_cases, calls)) if w),
               None)
    if why:
        return result("gradient_sign", False, f"the gradient's values are right, but {why}.", **details)
    return result("gradient_sign", True, f"the gradient agrees with the reference at {len(calls)} inputs on "
                  f"SqueezeNet 1.1 (cosine >= {min(d['cosine'] for d in details['inputs']):.4f}).", **details)


def diagnose_gradient(dX, case, failures, suite) -> str | None:
    """Name the mistake a wrong gradient matches, if any."""
    if cosine(dX, case.grad_full) < -MIN_COSINE or cosine(dX, case.grad_half) < -MIN_COSINE:
        return "it points the opposite way (the gradient of the negated objective)"
    if case.l2_reg:
        if cosine(dX, case.grad_score) >= MIN_COSINE:
            return "it is the gradient of the score alone: the L2 term is missing from the gradient"
        lam = case.l2_reg
        for f in (2.0, 1.0):
            if cosine(dX, case.grad_score + f * lam * case.X.astype(np.float64)) >= MIN_COSINE:
                return "the L2 term's part of the gradient has the wrong sign (added instead of subtracted)"
    zero_cases = [f for f in failures if not f[0].l2_reg]
    if zero_cases:
        zcase, zdX = zero_cases[0][0], zero_cases[0][1]
        if zcase.grad_softmax is not None and cosine(zdX, zcase.grad_softmax) >= MIN_COSINE:
            return ("even with l2_reg=0 it follows a softmax (or log-softmax) probability of the class, "
                    "not its raw score")
        return "even with l2_reg=0 it differs from the gradient of the raw class score"
    return None


def check_l2_regularizer(suite, call0: Call, call1: Call) -> CheckResult:
    """Check 3 (see :data:`CHECKS`): ``call0``/``call1`` are the loss calls at l2_reg 0 and ``L2_CHANGE``."""
    case = suite.l2_case
    where = f"on the linear stand-in with l2_reg=0 and {L2_CHANGE}"
    for call in (call0, call1):
        if not call.ok:
            return result("l2_regularizer", False, describe_failure(call, LOSS, where))
    g0, why0 = _gradient(call0, case.X.shape)
    g1, why1 = _gradient(call1, case.X.shape)
    if g0 is None or g1 is None:
        if g0 is not None and why1 and "None" in why1:
            why1 = "with l2_reg > 0, " + why1
        return result("l2_regularizer", False, f"{why0 or why1} ({where}).")
    X = case.X.astype(np.float64)
    change = g1 - g0
    c = float(np.sum(change * X) / np.sum(X * X))
    residual = float(np.linalg.norm(change - c * X))
    allowed = TOL_L2_RESIDUAL_REL * abs(c) * float(np.linalg.norm(X)) + TOL_L2_RESIDUAL_ABS * np.sqrt(X.size)
    expected = (-2 * L2_CHANGE, -L2_CHANGE)
    ratio_ok = any(abs(c - e) <= TOL_L2_RATIO * abs(e) for e in expected)
    details = {"c": c, "expected": list(expected), "residual": residual, "allowed_residual": allowed}
    if ratio_ok and residual <= allowed:
        return result("l2_regularizer", True, f"raising l2_reg by {L2_CHANGE} changes the gradient by {c:.4f} X, "
                      "as the L2 term should.", **details)
    text = f"raising l2_reg from 0 to {L2_CHANGE} changes your gradient by about {c:.4g} X"
    if residual > max(allowed, 0.05 * abs(c) * float(np.linalg.norm(X))) and not ratio_ok:
        mistake = "the change is not proportional to X (is the regularizer the squared L2 norm of X?)"
    elif abs(c) < 0.01 * L2_CHANGE:
        L0, _ = _scalar(call0)
        L1, _ = _scalar(call1)
        R = float(np.sum(X * X))
        in_loss = L0 is not None and L1 is not None and any(
            close(L1 - L0, -f * L2_CHANGE * R, 1e-3, 1e-2) for f in (1.0, 0.5))
        mistake = ("the L2 term is in your loss but not in its gradient: it is computed outside the tape or with "
                   "NumPy" if in_loss else "the L2 term does not reach the gradient (missing?)")
    elif c > 0:
        mistake = "the L2 term has the wrong sign: it must lower the objective (it is a penalty)"
    else:
        mistake = (f"the L2 term has the wrong size (expected l2_reg ||X||^2, or half of it with "
                   f"tf.nn.l2_loss)")
    return result("l2_regularizer", False, f"{text}: {mistake}.", **details)


def check_raw_score(suite, calls: list[Call]) -> CheckResult:
    """Check 4 (see :data:`CHECKS`): loss calls at ``suite.raw_cases`` (linear stand-in, l2_reg=0)."""
    details = {"classes": []}
    for case, call in zip(suite.raw_cases, calls):
        where = f"for class {case.target_y} on the linear stand-in with l2_reg=0"
        if not call.ok:
            return result("raw_score", False, describe_failure(call, LOSS, where), **details)
        L, why = _scalar(call)
        if L is None:
            info = call.header.get("loss") or {}
            if info.get("shape") in ([1, 1000], [1000]):
                why = f"the loss has shape {tuple(info['shape'])}: it holds all class scores, not one number"
            return result("raw_score", False, f"{why} ({where}).", **details)
        s = case.score
        details["classes"].append({"class": case.target_y, "loss": L, "raw_score": s})
        if not close(L, s, TOL_RAW_REL, TOL_RAW_ABS):
            if close(L, case.prob, 1e-3, 1e-5):
                mistake = "it is the softmax probability of the class; use the raw score (the logit)"
            elif close(L, case.log_prob, 1e-4, 1e-4):
                mistake = "it is the log-softmax of the class; use the raw score (the logit)"
            elif close(L, -s, 1e-4, 1e-4):
                mistake = "it is the negated raw score"
            elif close(L, float(np.sum(case.scores)), 1e-4, 1e-3):
                mistake = "it is the sum of the scores of all classes"
            else:
                other = [k for k in range(case.scores.size) if k != case.target_y
                         and close(L, float(case.scores[k]), 1e-4, 1e-4)]
                mistake = (f"it is the score of class {other[0]}, not of class {case.target_y}: check the index"
                           if other else None)
            text = f"with l2_reg=0 your loss for class {case.target_y} is {L:.5f}, but its raw score is {s:.5f}"
            return result("raw_score", False, f"{text}: {mistake}." if mistake else f"{text}.", **details)
        dX, why = _gradient(call, case.X.shape)
        if dX is None:
            return result("raw_score", False, f"the loss is the raw score, but {why} ({where}).", **details)
        err = float(np.linalg.norm(dX - case.grad) / np.linalg.norm(case.grad))
        details["classes"][-1]["gradient_error"] = err
        if err > TOL_RAW_GRAD:
            return result("raw_score", False, f"the loss is the raw score, but dX is not its gradient {where} "
                          f"(relative error {err:.3g}).", **details)
    return result("raw_score", True, f"the loss is the raw class score (checked for {len(calls)} classes).",
                  **details)


def _describe_step(delta, target, lr, G) -> str | None:
    """Name what an update step did, from its change X_new - X and the gradient it was given."""
    G = G.astype(np.float64)
    tests = (
        (-lr * G, "it steps against the gradient (descent, but we maximize: gradient ascent)"),
        (G, "the learning rate is not applied"),
        (-G, "it steps against the gradient and without the learning rate"),
        (lr * np.sign(G), "it uses the sign of the gradient instead of the gradient"),
        (lr * G / max(np.linalg.norm(G), 1e-30), "it normalizes the gradient"),
        (lr * lr * G, "the learning rate is applied twice"),
        (np.zeros_like(G), "it returns X unchanged"),
    )
    for candidate, label in tests:
        if np.allclose(delta, candidate, rtol=1e-3, atol=1e-5):
            return label
    return None


def _check_step_output(call: Call, X, shape, what) -> str | None:
    """Contract of the update step's return value; returns what is wrong, or None."""
    if "X_after" in call.arrays and not np.array_equal(call.arrays["X_after"], X):
        return (f"it modifies X in place ({what}); the loop still needs the original X: return a new array "
                "and leave X unchanged")
    info = call.header.get("X_new") or {}
    if info.get("is_input"):
        return f"it returns X itself ({what}); return a new array"
    if info.get("type") != "numpy.ndarray":
        extra = " (convert it with .numpy() or np.asarray)" if str(info.get("type", "")).startswith("tf.") else ""
        return f"it returns a {info.get('type')}, not a NumPy array{extra}"
    if tuple(info.get("shape") or ()) != tuple(shape):
        return f"it returns an array of shape {tuple(info.get('shape') or ())}, not X's shape {tuple(shape)}"
    if info.get("dtype") != "float32":
        return f"it returns an array of dtype {info.get('dtype')}, not float32"
    return None


def check_update_step(suite, own_loss: Call, own: Call, injected: Call) -> CheckResult:
    """Check 5 (see :data:`CHECKS`).

    Args:
        suite: the reference suite (``suite.update``).
        own_loss: the student's loss call at the update case (their own dX).
        own: the update call with the student's own loss function (learning rate ``suite.update.lr``).
        injected: the update call with the known gradient ``suite.update.G`` substituted
            (learning rate ``suite.update.lr_injected``).
    """
    u = suite.update
    where = "on the linear stand-in"
    details = {}
    if not own.ok:
        return result("update_step", False, describe_failure(own, UPDATE, where) + ".", **details)
    why = _check_step_output(own, u.X, u.X.shape, "with your own loss function")
    if why:
        return result("update_step", False, f"{why}.", **details)
    X_new = own.arrays["X_new"].astype(np.float64)
    delta = X_new - u.X.astype(np.float64)
    if own_loss.ok and "dX" in own_loss.arrays and tuple(own_loss.arrays["dX"].shape) == u.X.shape:
        dX = own_loss.arrays["dX"].astype(np.float64)
        ok_own = np.allclose(delta, u.lr * dX, rtol=TOL_STEP_REL, atol=TOL_STEP_ABS) and np.any(dX)
        details["own_gradient_max_error"] = float(np.max(np.abs(delta - u.lr * dX)))
        if not ok_own:
            mistake = _describe_step(delta, None, u.lr, dX) if np.any(dX) else None
            text = (f"X_new - X differs from learning_rate * dX (with learning_rate={u.lr} and your own dX); "
                    f"largest difference {details['own_gradient_max_error']:.3g}")
            if not np.any(dX):
                text = "your loss function returns a zero gradient here, so the step cannot be checked with it"
            return result("update_step", False, f"{text}: {mistake}." if mistake else f"{text}.", **details)
    else:
        return result("update_step", False, "the step could not be checked with your own gradient: "
                      + describe_failure(own_loss, LOSS, where) + ".", **details)
    if injected.failure or not injected.ok:
        return result("update_step", False, describe_failure(injected, UPDATE, "with a substituted gradient"),
                      **details)
    details["injected_gradient_used"] = bool(injected.header.get("injected_calls"))
    if injected.header.get("injected_calls"):
        why = _check_step_output(injected, u.X, u.X.shape, "with a substituted gradient")
        if why:
            return result("update_step", False, f"{why}.", **details)
        delta = injected.arrays["X_new"].astype(np.float64) - u.X.astype(np.float64)
        target = u.lr_injected * u.G.astype(np.float64)
        details["injected_max_error"] = float(np.max(np.abs(delta - target)))
        if not np.allclose(delta, target, rtol=TOL_INJECT_REL, atol=TOL_INJECT_ABS):
            mistake = _describe_step(delta, target, u.lr_injected, u.G)
            text = (f"given a gradient dX from {LOSS} and learning_rate={u.lr_injected}, your step's "
                    f"X_new - X is not learning_rate * dX")
            return result("update_step", False, f"{text}: {mistake}." if mistake else f"{text}.", **details)
    return result("update_step", True, "the update step makes one gradient-ascent step and leaves X unchanged.",
                  **details)


def check_score_increase(suite, plain: Call, loop: dict) -> CheckResult:
    """Check 6 (see :data:`CHECKS`).

    Args:
        suite: the reference suite (``suite.plain``, ``suite.loop``).
        plain: the ``plain_steps`` call (arrays ``X1`` ... ``X5``) -- scored here with the grader's model.
        loop: what the grader's run of the provided loop gave: ``{"error": str}`` or ``{"scores": (1000,)
            float array of the final image, "eager_reason": str | None}``.
    """
    p, lp = suite.plain, suite.loop
    details = {}
    if not plain.ok:
        step = plain.header.get("step")
        context = f"at plain step {step + 1} of {PLAIN_STEPS}" if step is not None else ""
        return result("score_increase", False, describe_failure(plain, UPDATE, context), **details)
    scores = plain.header.get("scores")
    if scores is None:
        return result("score_increase", False, "the update steps returned no images.", **details)
    rise = scores[-1] - p.s0
    details["plain_scores"] = scores
    details["plain_rise"] = rise
    if not np.isfinite(rise) or rise <= MIN_PLAIN_RISE:
        text = (f"{PLAIN_STEPS} update steps from noise changed the raw score of class {p.target_y} by "
                f"{rise:+.2f} (more than +{MIN_PLAIN_RISE:g} expected; the reference gains {p.reference_rise:+.1f})")
        hint = ("the image became NaN or inf" if not np.isfinite(rise) else
                "the score went down: the steps go downhill" if rise < -1.0 else
                "is the learning rate applied, and does the step follow the gradient of the raw class score?")
        return result("score_increase", False, f"{text}: {hint}." if hint else f"{text}.", **details)
    if loop.get("error"):
        return result("score_increase", False, f"the provided loop failed with your functions: {loop['error']}",
                      **details)
    final = np.asarray(loop["scores"], np.float64)
    loop_rise = float(final[lp.target_y] - lp.s0)
    needed = MIN_RISE_FRACTION * lp.reference_rise
    top = int(np.argmax(final))
    details.update(loop_rise=loop_rise, loop_needed_rise=needed, loop_top1=top,
                   loop_eager_reason=loop.get("eager_reason"))
    name = f"class {lp.target_y} ({lp.target_name})"
    if not np.isfinite(loop_rise):
        return result("score_increase", False, "in the provided loop the image became NaN or inf.", **details)
    if loop_rise < needed:
        hint = "the score went down: the loop goes downhill" if loop_rise < 0 else (
            "is the learning rate applied, and is the score the raw class score?")
        return result("score_increase", False, f"in the provided loop ({lp.iterations} iterations, seed "
                      f"{lp.seed}), the score of {name} rose by {loop_rise:+.1f}, less than "
                      f"{100 * MIN_RISE_FRACTION:.0f}% of the reference's rise ({lp.reference_rise:+.1f}): "
                      f"{hint}", **details)
    if top != lp.target_y:
        return result("score_increase", False, f"in the provided loop the score of {name} rose by "
                      f"{loop_rise:+.1f}, but the network's top-1 class at the end is {top} "
                      f"({suite.class_name(top)}), not {lp.target_y}.", **details)
    return result("score_increase", True, f"{PLAIN_STEPS} steps raise the tarantula score by {rise:+.1f}; the "
                  f"provided loop raises the {lp.target_name} score by {loop_rise:+.1f} and makes it the top-1 "
                  "class.", **details)


_TRACE_HINTS = (
    ("numpy", ".numpy() and NumPy functions cannot run on the symbolic tensors of a compiled graph: use "
              "TensorFlow operations from X to the loss and its gradient"),
    ("Python bool", "Python `if`/`while` on a tensor cannot be compiled with AutoGraph off"),
    ("symbolic", ".numpy(), float() or NumPy functions cannot run on the symbolic tensors of a compiled graph"),
    ("iterat", "Python iteration over a tensor cannot be compiled with AutoGraph off"),
)


def check_tf_function(suite, compiled: Call, eager: Call) -> CheckResult:
    """Check 7 (see :data:`CHECKS`): the ``compile`` call and the eager loss call at the same input."""
    case = suite.compile_case
    if not eager.ok:
        return result("tf_function", False, "nothing to compile: " + describe_failure(eager, LOSS) + ".")
    if compiled.failure or not compiled.ok:
        return result("tf_function", False, "warning (-1 point): " + describe_failure(
            compiled, LOSS, "while compiling it with tf.function") + ".")
    reason = compiled.header.get("reason")
    if reason:
        hint = next((h for key, h in _TRACE_HINTS if key in reason), None)
        return result("tf_function", False, f"warning (-1 point): your gradient function could not be compiled "
                      f"with tf.function ({reason})" + (f"; {hint}" if hint else "") +
                      ". It still works, but the loop runs it eagerly, several times slower.", reason=reason)
    dX_e, why = _gradient(eager, case.X.shape)
    L_e, why_l = _scalar(eager)
    if dX_e is None or L_e is None:
        return result("tf_function", False, f"no point for compiling a function without a usable result: "
                      f"{why or why_l}.")
    dX_c, L_c = compiled.arrays.get("dX"), compiled.arrays.get("loss")
    if dX_c is None or L_c is None or dX_c.shape != dX_e.shape or L_c.size != 1:
        return result("tf_function", False, "warning (-1 point): the compiled function returns values of "
                      "other shapes than the eager one.")
    same = (np.allclose(float(L_c.reshape(-1)[0]), L_e, rtol=TOL_COMPILED_REL, atol=1e-3)
            and np.allclose(dX_c, dX_e, rtol=TOL_COMPILED_REL, atol=TOL_COMPILED_ABS))
    if not same:
        return result("tf_function", False, "warning (-1 point): compiled with tf.function, your function gives "
                      "other values than when run eagerly (Python side effects or randomness inside it?).")
    return result("tf_function", True, "the gradient function compiles with tf.function and gives the same "
                  "values as eagerly.")
