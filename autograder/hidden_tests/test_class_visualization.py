"""The hidden checks of the class visualization assignment: one pytest test per check, 15 points.

Each test asks the student's functions (the ``student`` fixture: they run in the submission's sandboxed student
process, never here) for their raw outputs at fixed seeded inputs, compares them with reference values computed
in the grader (the ``references`` fixture) and either passes -- the check earns its points, all or nothing, declared
with ``@pytest.mark.points(n)`` -- or fails with one message that is the feedback the student reads: it names the
mistake found, never the answer. The docstring of each test is the one description of the check: its first line
(the title), "Passes when:" (the criterion) and "Why:" (the reasons for its thresholds), read by
``python -m autograder checks`` and the README.

Grade one notebook by hand: ``python -m pytest autograder --submission path/to/notebook.ipynb`` (``-k`` selects
checks; ``--result-json`` / ``--gradescope-json`` write the result files; see ``autograder/plugin.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.child import LOSS, UPDATE
from autograder.feedback import (close, cosine, describe_failure, describe_step, diagnose_gradient, diagnose_loss,
                                 gradient, gradient_contract, loss_contract, loss_number, pitfall_text,
                                 sign_agreement, step_contract)
from autograder.references import L2_CHANGE, MIN_PLAIN_RISE, PLAIN_STEPS
from autograder.student import Call
from classviz.tf_compile import COMPILED_ATOL, COMPILED_LOSS_ATOL, COMPILED_RTOL

TOL_LOSS_ABS, TOL_LOSS_REL = 1e-3, 1e-4
MIN_COSINE, MIN_SIGN_AGREEMENT = 0.99, 0.95
TOL_L2_RATIO, TOL_L2_RESIDUAL_REL, TOL_L2_RESIDUAL_ABS = 1e-3, 1e-3, 1e-5
TOL_RAW_ABS, TOL_RAW_REL = 1e-5, 1e-5
TOL_STEP_REL, TOL_STEP_ABS = 1e-3, 1e-5
TOL_INJECT_REL, TOL_INJECT_ABS = 1e-5, 1e-6
MIN_RISE_FRACTION = 0.5
TOL_COMPILED_REL, TOL_COMPILED_LOSS_ABS, TOL_COMPILED_ABS = COMPILED_RTOL, COMPILED_LOSS_ATOL, COMPILED_ATOL


def fail(text: str):
    """Fail the check with ``text`` as the student's feedback (no traceback)."""
    pytest.fail(text, pytrace=False)


def require(call: Call, function: str, where: str = "") -> None:
    """Fail unless the call returned (the feedback says why it did not)."""
    if not call.ok:
        fail(describe_failure(call, function, where))


def _same_arrays(a: dict, b: dict) -> bool:
    """Two answers hold the same arrays under the same names (shapes and values, NaN equal to NaN)."""
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and np.array_equal(a[k], b[k], equal_nan=True)
                                        for k in a)


def say(text: str, mistake: str | None) -> str:
    """``text: mistake.`` (a mistake that ends with a question mark keeps it)."""
    if not mistake:
        return f"{text}."
    return f"{text}: {mistake}" + ("" if mistake.endswith("?") else ".")


def fail_if_no_gradient(student, references) -> None:
    """Fail, naming the gradient as the cause, when the student's loss function gives no usable gradient on
    SqueezeNet (it raises, or dX is None, zero, NaN or misshapen): then no step can raise the score."""
    case = references.real_cases[0]
    call = student.loss(case)
    lost = describe_failure(call, LOSS) if not call.ok else gradient(call, case.X.shape,
                                                                      pitfall_text(student.pitfalls(LOSS)))[1]
    if lost:
        fail(f"the score cannot rise: your {LOSS} gives no usable gradient ({lost}); fix the gradient first (the "
             "gradient_sign check names the cause).")


@pytest.mark.points(2)
def test_loss_value(student, references, feedback):
    """The loss value at fixed inputs, on the real SqueezeNet 1.1.

    Passes when: at 3 seeded inputs (noise, blurred noise; classes 76, 130, 963; l2_reg 1e-3, 0, 1e-4; X given
    as a NumPy array or a tf.Tensor) the loss is a scalar float32 tf.Tensor within 1e-3 + 1e-4 |L| of
    s_y(X) - l2_reg ||X||^2 or of s_y(X) - l2_reg ||X||^2 / 2 (tf.nn.l2_loss).

    Why: float32 rounding of a 150528-term sum is ~1e-5 relative; the closest mistakes (softmax, log-softmax, L2
    missing or added) are off by more than 0.5. Same tolerance as the notebook's public check.
    """
    calls = [student.loss(case) for case in references.real_cases]
    inputs = feedback.details.setdefault("inputs", [])
    for case, call in zip(references.real_cases, calls):
        where = f"at {case.label}"
        require(call, LOSS, where)
        L, why = loss_number(call)
        if L is None:
            fail(f"{why} ({where}).")
        inputs.append({"case": case.name, "loss": L, "reference": case.loss_full, "reference_l2_loss": case.loss_half})
        if not any(close(L, r, TOL_LOSS_REL, TOL_LOSS_ABS) for r in (case.loss_full, case.loss_half)):
            text = f"your loss is {L:.4f} {where}, but the objective's value there is {case.loss_full:.4f}"
            if case.l2_reg:
                text += f" ({case.loss_half:.4f} with tf.nn.l2_loss)"
            fail(say(text, diagnose_loss(L, case, TOL_LOSS_REL, TOL_LOSS_ABS)))
        why = loss_contract(call)
        if why:
            fail(f"the value is right, but {why} ({where}).")
    feedback.passed(f"the loss matches the objective at {len(calls)} inputs on SqueezeNet 1.1.")


@pytest.mark.points(3)
def test_gradient_sign(student, references, feedback):
    """The gradient's direction and signs, on the real SqueezeNet 1.1.

    Passes when: at the same 3 inputs, dX is a float32 tf.Tensor of X's shape whose cosine similarity with the
    reference gradient (full or half L2 factor) is >= 0.99 and whose sign agrees with it on >= 95% of the pixels
    where the reference is not zero.

    Why: correct variants reach 0.9999+ on both; the nearest mistakes measured: L2 missing at l2_reg=1e-4
    (cosine 0.997, signs 94.4%), softmax/log-softmax (cosine <= 0.91 at l2_reg=1e-3, 0.68 at 0), L2 added
    (-0.32), negated (-0.95).
    """
    calls = [student.loss(case) for case in references.real_cases]
    inputs = feedback.details.setdefault("inputs", [])
    failures = []
    for case, call in zip(references.real_cases, calls):
        where = f"at {case.label}"
        require(call, LOSS, where)
        dX, why = gradient(call, case.X.shape, pitfall_text(student.pitfalls(LOSS)))
        if dX is None:
            fail(f"{why} ({where}).")
        cos_full, cos_half = cosine(dX, case.grad_full), cosine(dX, case.grad_half)
        ref = case.grad_half if cos_half > cos_full else case.grad_full
        cos, agree = max(cos_full, cos_half), sign_agreement(dX, ref)
        inputs.append({"case": case.name, "cosine": cos, "sign_agreement": agree,
                       "l2_factor": "half" if cos_half > cos_full else "full"})
        if cos < MIN_COSINE or agree < MIN_SIGN_AGREEMENT:
            failures.append((case, dX, cos, agree))
    if failures:
        case, dX, cos, agree = failures[0]
        text = (f"at {case.label}, your gradient has cosine similarity {cos:.3f} with the reference gradient and "
                f"the same sign on {100 * agree:.1f}% of the pixels (at least {MIN_COSINE} and "
                f"{100 * MIN_SIGN_AGREEMENT:.0f}% needed)")
        fail(say(text, diagnose_gradient(dX, case, failures, MIN_COSINE)))
    for case, call in zip(references.real_cases, calls):
        why = gradient_contract(call, case.X.shape)
        if why:
            fail(f"the gradient's values are right, but {why}.")
    feedback.passed(f"the gradient agrees with the reference at {len(calls)} inputs on SqueezeNet 1.1 "
                    f"(cosine >= {min(d['cosine'] for d in inputs):.4f}).")


@pytest.mark.points(2)
def test_l2_regularizer(student, references, feedback):
    """The L2 term's part of the gradient (sign and size), on a linear stand-in.

    Passes when: on a stand-in whose score gradient is known exactly, raising l2_reg from 0 to 0.1 changes dX by
    c X with c = -0.2 (l2_reg ||X||^2) or -0.1 (tf.nn.l2_loss), within 1e-3 relative, and the change is
    proportional to X (residual <= 1e-3 |c X| + 1e-5).

    Why: the difference cancels the score part, so this isolates the regularizer even when the score part is
    wrong; float32 error is ~1e-6; a missing, added or mis-scaled term is off by 50% or more.
    """
    case = references.l2_case
    call0, call1 = student.loss(case), student.loss(references.l2_case_reg)
    where = f"on the linear stand-in with l2_reg=0 and {L2_CHANGE}"
    for call in (call0, call1):
        require(call, LOSS, where)
    lost = pitfall_text(student.pitfalls(LOSS))
    # dX at l2_reg=0 is zero when the score's gradient is lost (model.predict): the change alone isolates the L2 term
    g0, why0 = gradient(call0, case.X.shape, lost, allow_zero=True)
    g1, why1 = gradient(call1, case.X.shape, lost)
    if g0 is None or g1 is None:
        if g0 is not None and why1 and "None" in why1:
            why1 = "with l2_reg > 0, " + why1
        fail(f"{why0 or why1} ({where}).")
    X = case.X.astype(np.float64)
    change = g1 - g0
    c = float(np.sum(change * X) / np.sum(X * X))
    residual = float(np.linalg.norm(change - c * X))
    allowed = TOL_L2_RESIDUAL_REL * abs(c) * float(np.linalg.norm(X)) + TOL_L2_RESIDUAL_ABS * np.sqrt(X.size)
    expected = (-2 * L2_CHANGE, -L2_CHANGE)
    ratio_ok = any(abs(c - e) <= TOL_L2_RATIO * abs(e) for e in expected)
    feedback.details.update(c=c, expected=list(expected), residual=residual, allowed_residual=allowed)
    if ratio_ok and residual <= allowed:
        feedback.passed(f"raising l2_reg by {L2_CHANGE} changes the gradient by {c:.4f} X, as the L2 term should.")
        return
    text = f"raising l2_reg from 0 to {L2_CHANGE} changes your gradient by about {c:.4g} X"
    if residual > max(allowed, 0.05 * abs(c) * float(np.linalg.norm(X))) and not ratio_ok:
        mistake = "the change is not proportional to X (is the regularizer the squared L2 norm of X?)"
    elif abs(c) < 0.01 * L2_CHANGE:
        L0, _ = loss_number(call0)
        L1, _ = loss_number(call1)
        R = float(np.sum(X * X))
        in_loss = L0 is not None and L1 is not None and any(
            close(L1 - L0, -f * L2_CHANGE * R, 1e-3, 1e-2) for f in (1.0, 0.5))
        mistake = ("the L2 term is in your loss but not in its gradient: it is computed outside the tape or with "
                   "NumPy" if in_loss else "the L2 term does not reach the gradient (missing?)")
    elif c > 0:
        mistake = "the L2 term has the wrong sign: it must lower the objective (it is a penalty)"
    else:
        mistake = "the L2 term has the wrong size (expected l2_reg ||X||^2, or half of it with tf.nn.l2_loss)"
    fail(say(text, mistake))


@pytest.mark.points(1)
def test_raw_score(student, references, feedback):
    """The raw class score, not a softmax or log-softmax probability.

    Passes when: on the linear stand-in (scores spread over +-6, where softmax and log-softmax differ from the
    score by more than 0.5) with l2_reg=0, for classes 3, 76, 980: loss within 1e-5 + 1e-5 |s_y| of the raw
    score s_y.

    Why: the student's loss calls the same model on the same input, so the values agree to float32 rounding;
    the tolerance is the notebook's public check's. The gradient is gradient_sign's: a missing or wrong dX
    with the raw score as loss costs that check, not this one.
    """
    calls = [student.loss(case) for case in references.raw_cases]
    classes = feedback.details.setdefault("classes", [])
    for case, call in zip(references.raw_cases, calls):
        where = f"for class {case.target_y} on the linear stand-in with l2_reg=0"
        require(call, LOSS, where)
        L, why = loss_number(call)
        if L is None:
            info = call.header.get("loss") or {}
            if info.get("shape") in ([1, 1000], [1000]):
                why = f"the loss has shape {tuple(info['shape'])}: it holds all class scores, not one number"
            fail(f"{why} ({where}).")
        s = case.score
        classes.append({"class": case.target_y, "loss": L, "raw_score": s})
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
            fail(say(f"with l2_reg=0 your loss for class {case.target_y} is {L:.5f}, but its raw score is {s:.5f}",
                     mistake))
    feedback.passed(f"the loss is the raw class score (checked for {len(calls)} classes).")


@pytest.mark.points(3)
def test_update_step(student, references, feedback):
    """One step of gradient ascent.

    Passes when: on the linear stand-in, it returns a new float32 NumPy array of X's shape, X itself unchanged;
    X_new - X = 25 dX with the student's own dX (rtol 1e-3, atol 1e-5); and with a known gradient G substituted
    for the loss function, X_new = X + 3 G (rtol 1e-5, atol 1e-6); when the student's own loss function gives no
    usable gradient (it raises, dX is None, all zeros, NaN or of another shape), the substituted gradient alone
    decides.

    Why: the substituted gradient separates the step from the loss function, so descent, a missing learning
    rate, a sign or a normalized step are each caught even if the loss is wrong, and a right step keeps its
    points when the loss function is broken (one mistake, one penalty).
    """
    u = references.update
    own_loss, own, injected = (student.loss(references.update_loss_case), student.update(u, injected=False),
                               student.update(u, injected=True))
    where = "on the linear stand-in"
    dX, no_gradient = (gradient(own_loss, u.X.shape) if own_loss.ok else
                       (None, describe_failure(own_loss, LOSS, where)))
    if dX is not None or own.ok:  # (a step that fails on a broken gradient is judged by the substituted one)
        require(own, UPDATE, where)
        why = step_contract(own, u.X, "with your own loss function")
        if why:
            fail(f"{why}.")
    if dX is not None:  # the student's own gradient: the step must be X + learning_rate * dX
        delta = own.arrays["X_new"].astype(np.float64) - u.X.astype(np.float64)
        error = float(np.max(np.abs(delta - u.lr * dX)))
        feedback.details["own_gradient_max_error"] = error
        if not np.allclose(delta, u.lr * dX, rtol=TOL_STEP_REL, atol=TOL_STEP_ABS):
            fail(say(f"X_new - X differs from learning_rate * dX (with learning_rate={u.lr} and your own dX); "
                     f"largest difference {error:.3g}", describe_step(delta, u.lr, dX)))
    require(injected, UPDATE, "with a substituted gradient")
    used = bool(injected.header.get("injected_calls"))
    feedback.details["injected_gradient_used"] = used
    if dX is None:
        feedback.details["own_gradient"] = no_gradient
        if not used:  # nothing to compare the step with: only the substituted gradient could tell
            fail(f"your loss function gives no usable gradient here ({no_gradient}) and your step does not call it "
                 "by name, so the step cannot be checked.")
    if used:  # the step calls the loss function by name: with the substituted gradient, X + 3 G
        why = step_contract(injected, u.X, "with a substituted gradient")
        if why:
            fail(f"{why}.")
        delta = injected.arrays["X_new"].astype(np.float64) - u.X.astype(np.float64)
        target = u.lr_injected * u.G.astype(np.float64)
        feedback.details["injected_max_error"] = float(np.max(np.abs(delta - target)))
        if not np.allclose(delta, target, rtol=TOL_INJECT_REL, atol=TOL_INJECT_ABS):
            fail(say(f"given a gradient dX from {LOSS} and learning_rate={u.lr_injected}, your step's X_new - X is "
                     "not learning_rate * dX", describe_step(delta, u.lr_injected, u.G)))
    feedback.passed("the update step makes one gradient-ascent step and leaves X unchanged.")


@pytest.mark.points(3)
def test_score_increase(student, references, feedback):
    """The score goes up on the real SqueezeNet 1.1.

    Passes when: five plain update steps from seeded noise raise the raw tarantula score by more than 10; and
    the provided loop create_class_visualization (class 130 flamingo, seed 0, 20 iterations, default
    hyper-parameters, the gradient compiled when possible) raises the flamingo score by at least 50% of the
    smaller of the two reference rises (full and half L2 factor) and ends with flamingo as top-1.

    Why: measured rises: reference +82, tf.nn.l2_loss +75, L2 missing/added +65..+105; mistakes: log-softmax
    +22, learning rate ignored +0.3, softmax +0.2, descent and sign steps go down. Flamingo has no near-duplicate
    class, so a correct run ends top-1 with a margin of 15.
    """
    p, lp = references.plain, references.loop
    plain = student.plain_steps(p)
    if not plain.ok:
        fail_if_no_gradient(student, references)
        step = plain.header.get("step")
        fail(describe_failure(plain, UPDATE, f"at plain step {step + 1} of {PLAIN_STEPS}" if step is not None else ""))
    images = [plain.arrays.get(f"X{k}") for k in range(1, p.steps + 1)]
    for k, X in enumerate(images, 1):
        if X is None or X.shape != p.X0.shape:
            fail(f"{UPDATE} returned an array of shape {None if X is None else tuple(X.shape)} instead of X's shape "
                 f"{p.X0.shape} (at plain step {k} of {PLAIN_STEPS}).")
    scores = [float(s) for s in references.scores(np.concatenate(images).astype(np.float32))[:, p.target_y]]
    rise = scores[-1] - p.s0
    feedback.details.update(plain_scores=scores, plain_rise=rise)
    if not np.isfinite(rise) or rise <= MIN_PLAIN_RISE:
        fail_if_no_gradient(student, references)
        text = (f"{PLAIN_STEPS} update steps from noise changed the raw score of class {p.target_y} by {rise:+.2f} "
                f"(more than +{MIN_PLAIN_RISE:g} expected; the reference gains {p.reference_rise:+.1f})")
        fail(say(text, "the image became NaN or inf" if not np.isfinite(rise) else
                 "the score went down: the steps go downhill" if rise < -1.0 else
                 "is the learning rate applied, and does the step follow the gradient of the raw class score?"))
    loop = student.run_provided_loop(references.model, lp)
    if loop.get("error"):
        fail(f"the provided loop failed with your functions: {loop['error']}")
    final = np.asarray(loop["scores"], np.float64)
    loop_rise = float(final[lp.target_y] - lp.s0)
    needed = MIN_RISE_FRACTION * lp.reference_rise
    top = int(np.argmax(final))
    feedback.details.update(loop_rise=loop_rise, loop_needed_rise=needed, loop_top1=top,
                            loop_eager_reason=loop.get("eager_reason"))
    name = f"class {lp.target_y} ({lp.target_name})"
    if not np.isfinite(loop_rise):
        fail("in the provided loop the image became NaN or inf.")
    if loop_rise < needed:
        hint = "the score went down: the loop goes downhill" if loop_rise < 0 else (
            "is the learning rate applied, and is the score the raw class score?")
        fail(f"in the provided loop ({lp.iterations} iterations, seed {lp.seed}), the score of {name} rose by "
             f"{loop_rise:+.1f}, less than {100 * MIN_RISE_FRACTION:.0f}% of the reference's rise "
             f"({lp.reference_rise:+.1f}): {hint}")
    if top != lp.target_y:
        fail(f"in the provided loop the score of {name} rose by {loop_rise:+.1f}, but the network's top-1 class at "
             f"the end is {top} ({references.class_name(top)}), not {lp.target_y}.")
    feedback.passed(f"{PLAIN_STEPS} steps raise the tarantula score by {rise:+.1f}; the provided loop raises the "
                    f"{lp.target_name} score by {loop_rise:+.1f} and makes it the top-1 class.")


@pytest.mark.points(1)
def test_tf_function(student, references, feedback):
    """The gradient function can be compiled with tf.function.

    Passes when: classviz.visualize.compile_loss_and_gradient(f, squeezenet) -- the provided loop's way: AutoGraph
    off, a fixed signature, a function creating tf.Variable(X) instead of calling tape.watch accepted -- traces
    it, and the compiled function returns the same values as the eager one at a seeded input (rtol 1e-3; atol 1e-3
    on the loss, 1e-5 on the rest), whatever their types.

    Why: a small deduction (1 of 15) with a warning: a function that cannot be compiled still works, the loop
    just runs it about 5 times slower. Only compiling is checked here: what the function returns is the other
    checks' business, so a wrong or badly typed loss or gradient that compiles keeps this point -- as long as it
    computes something from X (a function returning the same values at the three inputs of loss_value has nothing
    to compile).
    """
    case = references.compile_case
    eager = student.loss(case)
    compiled = student.compile(case)
    if not eager.ok:
        fail("nothing to compile: " + describe_failure(eager, LOSS) + ".")
    answers = [student.loss(c) for c in references.real_cases]
    if all(a.ok for a in answers) and all(_same_arrays(a.arrays, answers[0].arrays) for a in answers[1:]):
        fail(f"nothing to compile: {LOSS} returns the same values at three different images and classes, so it does "
             "not compute anything from X.")
    if not compiled.ok:
        fail("warning (-1 point): " + describe_failure(compiled, LOSS, "while compiling it with tf.function") + ".")
    reason = compiled.header.get("reason")
    if reason:
        feedback.details["reason"] = reason
        hint = pitfall_text(student.pitfalls(LOSS)) if " -- " not in reason else ""
        fail(f"warning (-1 point): your gradient function could not be compiled with tf.function ({reason})"
             + (f"; {hint}" if hint else "") + ". It still works, but the loop runs it eagerly, several times slower.")
    for name in ("loss", "dX"):
        e, c = eager.arrays.get(name), compiled.arrays.get(name)
        same = (e is None and c is None) or (
            e is not None and c is not None and e.shape == c.shape and np.allclose(
                c.astype(np.float64), e.astype(np.float64), rtol=TOL_COMPILED_REL, equal_nan=True,
                atol=TOL_COMPILED_LOSS_ABS if name == "loss" else TOL_COMPILED_ABS))
        if not same:
            fail("warning (-1 point): compiled with tf.function, your function gives other values than when run "
                 "eagerly (Python side effects or randomness inside it?).")
    feedback.passed("the gradient function compiles with tf.function and gives the same values as eagerly.")
