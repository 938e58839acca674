"""The words of the hidden checks: what a student's output is, and which known mistake it matches.

Rule of this module: (a :class:`autograder.student.Call`, reference values) => one sentence for the student,
naming the mistake and where it shows, never the answer. Nothing here decides points (the hidden tests in
:mod:`autograder.hidden_tests` do) or runs student code.
"""

from __future__ import annotations

import ast

import numpy as np

from classviz.tf_compile import PITFALLS as _TABLE

from .child import LOSS, UPDATE

# ---- a call that gave no usable output ------------------------------------------------------------------------


def _where(error: dict | None) -> str:
    where = (error or {}).get("where")
    if not where:
        return ""
    code = f": `{where['code']}`" if where.get("code") else ""
    return f" ({where.get('label') or 'cell ' + str(where['cell'])}, line {where['line']}{code})"


def describe_failure(call, function: str, context: str = "") -> str:
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
    raiser = (error.get("where") or {}).get("function")
    if kind == "Missing":
        missing = message.split(" is not defined")[0] or function
        hint = f" ({error['hint']})" if error.get("hint") else ""
        return f"{missing} is not defined when the notebook's code cells run{hint}"
    if kind == "NotCallable":
        return f"{message}"
    if kind == "NotImplementedError":
        stub = raiser or function
        called = f", called by {function}" if stub != function else ""
        return f"{stub} is still the unmodified stub (it raises NotImplementedError{called}){_where(error)}"
    if kind == "BadReturn":
        return f"{function} {message}"
    if kind in ("SystemExit", "KeyboardInterrupt"):
        return f"{function} tried to stop the program ({kind}{': ' + message if message else ''}){_where(error)}"
    text = f"{kind}: {message}" if message else kind
    if raiser in (LOSS, UPDATE) and raiser != function:
        return f"{function} failed{context}: {raiser} raised {text}{_where(error)}"
    return f"{function} raised {text}{_where(error)}{context}"


# ---- what a loss call returned --------------------------------------------------------------------------------

def loss_number(call) -> tuple:
    """The student's loss as a float: ``(value, None)`` or ``(None, why not)``."""
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


def loss_contract(call) -> str | None:
    """What is wrong with the loss's type, shape or dtype (a scalar float32 tf.Tensor), or None."""
    info = call.header.get("loss") or {}
    if info.get("type") != "tf.Tensor":
        return f"the loss must be a tf.Tensor, but is a {info.get('type')}"
    if info.get("shape") != []:
        return f"the loss must be a scalar tf.Tensor (shape ()), but has shape {tuple(info.get('shape') or ())}"
    if info.get("dtype") != "float32":
        return f"the loss must be float32, but is {info.get('dtype')}"
    return None


def gradient(call, shape, pitfalls: str = "", allow_zero: bool = False) -> tuple:
    """The student's dX as float64: ``(array, None)`` or ``(None, why not)``.

    ``pitfalls`` (from :func:`pitfalls`) is added where the gradient is missing or zero: it names what in the
    student's code loses the gradient. An all-zero dX is refused unless ``allow_zero``."""
    info = call.header.get("dX") or {}
    lost = ("the loss does not depend on X as recorded by the tape (is X watched, and is everything from X to the "
            "loss computed with TensorFlow operations, without .numpy()?)")
    if pitfalls:
        lost = f"the loss does not depend on X as recorded by the tape: {pitfalls}"
    if info.get("type") == "NoneType":
        return None, f"dX is None: {lost}"
    if "dX" not in call.arrays:
        return None, f"dX is {info.get('error') or 'missing'} (a {info.get('type', '?')})"
    dX = call.arrays["dX"]
    if tuple(dX.shape) != tuple(shape):
        return None, f"dX has shape {tuple(dX.shape)}, but X has shape {tuple(shape)}"
    dX = dX.astype(np.float64)
    if not np.all(np.isfinite(dX)):
        return None, "dX contains NaN or inf values"
    if not allow_zero and not np.any(dX):
        return None, f"dX is all zeros: {lost}"
    return dX, None


def gradient_contract(call, shape) -> str | None:
    """What is wrong with dX's type, shape or dtype (a float32 tf.Tensor of X's shape), or None."""
    info = call.header.get("dX") or {}
    if info.get("type") != "tf.Tensor":
        return (f"dX must be a tf.Tensor, but is a {info.get('type')} (return the tape's gradient as it is, "
                "without converting it)")
    if tuple(info.get("shape") or ()) != tuple(shape):
        return f"dX has shape {tuple(info.get('shape') or ())}, but X has shape {tuple(shape)}"
    if info.get("dtype") != "float32":
        return f"dX must be float32, but is {info.get('dtype')}"
    return None


# ---- arithmetic -----------------------------------------------------------------------------------------------

def cosine(a, b) -> float:
    """Cosine similarity of two arrays (float64; 0 when one is all zeros)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


def sign_agreement(a, ref) -> float:
    """Share of the elements where ``ref`` is not zero on which ``a`` has ``ref``'s sign."""
    a, ref = np.asarray(a).ravel(), np.asarray(ref).ravel()
    mask = ref != 0
    return float(np.mean(np.sign(a[mask]) == np.sign(ref[mask]))) if mask.any() else 0.0


def close(value, target, rel, abs_) -> bool:
    """``|value - target| <= abs_ + rel |target|`` and value finite."""
    return bool(np.isfinite(value) and abs(value - target) <= abs_ + rel * abs(target))


# ---- known mistakes -------------------------------------------------------------------------------------------

LOOSE_ABS, LOOSE_REL = 1e-2, 1e-3
"""A loss matches a known mistake when it is this close to that mistake's value (10 times the check's tolerance:
a mistake only needs to be recognized, not graded)."""


def diagnose_loss(L: float, case, tol_rel: float, tol_abs: float) -> str | None:
    """Name the mistake a loss value matches at a reference case, if any (None: no known mistake matches).

    Args:
        L: the student's loss.
        case: the :class:`autograder.references.LossCase`.
        tol_rel, tol_abs: the check's tolerance (for "the score of another class").
    """
    s, R, lam = case.score, case.sq_norm, case.l2_reg
    p, logp = case.prob, case.log_prob
    candidates = []
    for f in (1.0, 0.5):
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

    def badness(value):  # distance in units of the loose tolerance
        return abs(L - value) / (LOOSE_ABS + LOOSE_REL * abs(value))

    best = min(candidates, key=lambda c: badness(c[0]))
    if badness(best[0]) <= 1:
        return best[1]
    for f in (1.0, 0.5):
        others = np.asarray(case.scores, np.float64) - f * lam * R
        others[case.target_y] = np.inf
        k = int(np.argmin(np.abs(others - L)))
        if close(L, float(others[k]), tol_rel, tol_abs):
            return f"it matches the score of class {k}, not of class {case.target_y}: check the index"
    return None


def diagnose_gradient(dX, case, failures, min_cosine: float) -> str | None:
    """Name the mistake a wrong gradient matches, if any.

    Args:
        dX: the student's gradient at ``case`` (float64).
        case: the :class:`autograder.references.LossCase`.
        failures: every failing ``(case, dX, cosine, agreement)`` of the check (to look at an l2_reg = 0 input).
        min_cosine: the cosine above which two gradients are taken to be the same.
    """
    if cosine(dX, case.grad_full) < -min_cosine or cosine(dX, case.grad_half) < -min_cosine:
        return "it points the opposite way (the gradient of the negated objective)"
    if case.l2_reg:
        if cosine(dX, case.grad_score) >= min_cosine:
            return "it is the gradient of the score alone: the L2 term is missing from the gradient"
        for f in (2.0, 1.0):
            if cosine(dX, case.grad_score + f * case.l2_reg * case.X.astype(np.float64)) >= min_cosine:
                return "the L2 term's part of the gradient has the wrong sign (added instead of subtracted)"
    zero_cases = [f for f in failures if not f[0].l2_reg]
    if zero_cases:
        zcase, zdX = zero_cases[0][0], zero_cases[0][1]
        if zcase.grad_softmax is not None and cosine(zdX, zcase.grad_softmax) >= min_cosine:
            return ("even with l2_reg=0 it follows a softmax (or log-softmax) probability of the class, "
                    "not its raw score")
        return "even with l2_reg=0 it differs from the gradient of the raw class score"
    return None


def describe_step(delta, lr, G) -> str | None:
    """Name what an update step did, from its change ``X_new - X`` and the gradient ``G`` it was given."""
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


def step_contract(call, X, what: str) -> str | None:
    """What is wrong with an update step's return value (a new float32 NumPy array of X's shape, X left
    unchanged), or None."""
    if "X_after" in call.arrays and not np.array_equal(call.arrays["X_after"], X):
        return (f"it modifies X in place ({what}); the loop still needs the original X: return a new array "
                "and leave X unchanged")
    info = call.header.get("X_new") or {}
    if info.get("is_input"):
        return f"it returns X itself ({what}); return a new array"
    if info.get("type") != "numpy.ndarray":
        extra = " (convert it with .numpy() or np.asarray)" if str(info.get("type", "")).startswith("tf.") else ""
        return f"it returns a {info.get('type')}, not a NumPy array{extra}"
    if tuple(info.get("shape") or ()) != tuple(X.shape):
        return f"it returns an array of shape {tuple(info.get('shape') or ())}, not X's shape {tuple(X.shape)}"
    if info.get("dtype") != "float32":
        return f"it returns an array of dtype {info.get('dtype')}, not float32"
    return None


# ---- TensorFlow 2 pitfalls, read in the student's code ---------------------------------------------------------

_LOST = {p.name: p.lost for p in _TABLE if p.lost}
PITFALLS = {name: _LOST[name] for name in ("tf.constant", ".numpy()", "model.predict", "float()")}
"""The TensorFlow 2 mistakes that lose the gradient and what to write instead (:data:`classviz.tf_compile.PITFALLS`),
in the order the feedback names them."""


def pitfalls(source: str) -> list[str]:
    """The :data:`PITFALLS` keys whose pattern appears in a function's source (read with :mod:`ast`).

    Args:
        source: the source of the student's function definition (empty or unparsable: none found).
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr == "constant" and isinstance(func.value, ast.Name) and func.value.id in ("tf", "tensorflow"):
                found.append("tf.constant")
            elif func.attr == "numpy" and not node.args:
                found.append(".numpy()")
            elif func.attr in ("predict", "predict_on_batch"):
                found.append("model.predict")
        elif isinstance(func, ast.Name) and func.id == "float" and node.args:
            found.append("float()")
    return sorted(set(found), key=list(PITFALLS).index)


def pitfall_text(keys) -> str:
    """One clause naming the pitfalls found (empty when none)."""
    return "; ".join(f"your code uses {PITFALLS[k]}" for k in keys)
