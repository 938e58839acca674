"""The decisions of the seven hidden tests on synthetic outputs: thresholds, the half factor, diagnoses, contracts.

Each hidden test function is called directly with a fake student (its calls return prepared outputs), small
images (1, 6, 6, 3) and hand-made reference values standing in for SqueezeNet; a failed check is the test's
``pytest.fail`` and its message the feedback. The real thing is exercised by test_autograder_corpus.py.
"""

from dataclasses import dataclass

import numpy as np
import pytest

from autograder import results as R
from autograder.child import LOSS
from autograder.grading import Feedback
from autograder.hidden_tests import test_class_visualization as hidden
from autograder.nbgrader_bridge import expected_nbgrader_points
from autograder.references import L2_CHANGE, LoopCase, LossCase, PlainCase, UpdateCase
from autograder.student import Call

SHAPE = (1, 6, 6, 3)
rng = np.random.default_rng(0)


def real_case(name, lam, seed):
    r = np.random.default_rng(seed)
    X = r.standard_normal(SHAPE).astype(np.float32)
    case = LossCase(name, f"input {name}", "squeezenet", X, "numpy", 76, lam)
    case.scores = r.standard_normal(1000) * 3
    case.score = float(case.scores[76])
    p = np.exp(case.scores - case.scores.max())
    p /= p.sum()
    case.prob, case.log_prob = float(p[76]), float(np.log(p[76]))
    X64 = X.astype(np.float64)
    case.sq_norm, case.size = float(np.sum(X64 ** 2)), X.size
    case.loss_full, case.loss_half = case.score - lam * case.sq_norm, case.score - 0.5 * lam * case.sq_norm
    case.grad_score = r.standard_normal(SHAPE)
    case.grad_full, case.grad_half = case.grad_score - 2 * lam * X64, case.grad_score - lam * X64
    if lam == 0:
        case.grad_softmax = case.grad_score * 0.3 + r.standard_normal(SHAPE)
    return case


class FakeReferences:
    """The references' interface with small hand-made values; ``scores`` reads an image's score from its mean."""

    def __init__(self):
        self.real_cases = [real_case("a", 0.5, 1), real_case("b", 0.0, 2), real_case("c", 0.05, 3)]
        self.compile_case = self.real_cases[0]
        X = rng.standard_normal(SHAPE).astype(np.float32)
        P = rng.standard_normal(SHAPE)

        def linear(y, lam, X=X, name=None):
            case = LossCase(name or f"raw{y}", "linear", "linear", X, "numpy", y, lam)
            case.scores = np.linspace(-6, 6.5, 1000)
            case.score = float(case.scores[y])
            p = np.exp(case.scores - case.scores.max())
            p /= p.sum()
            case.prob, case.log_prob = float(p[y]), float(np.log(p[y]))
            case.grad = P * (y + 1) - 2 * lam * X.astype(np.float64)
            return case
        self.raw_cases = [linear(3, 0.0), linear(76, 0.0), linear(980, 0.0)]
        self.l2_case, self.l2_case_reg = self.raw_cases[0], linear(3, L2_CHANGE, name="l2")
        self.update = UpdateCase(X=X, target_y=76, l2_reg=1e-3, lr=25.0,
                                 G=(rng.standard_normal(SHAPE) * 0.01).astype(np.float32), lr_injected=3.0)
        self.update_loss_case = linear(76, 1e-3, name="update_own")
        self.plain = PlainCase(X0=X, target_y=76, l2_reg=1e-3, lr=25.0, steps=5, s0=2.0, reference_rise=40.0)
        self.loop = LoopCase(target_y=130, target_name="flamingo", seed=0, iterations=20, s0=0.6,
                             reference_rise=70.0, reference_rises={"full": 80.0, "half": 70.0})
        self.model = None

    @staticmethod
    def scores(X):
        out = np.zeros((len(X), 1000))
        out[:, 76] = np.asarray(X, np.float64).mean(axis=(1, 2, 3))
        return out

    @staticmethod
    def class_name(k):
        return f"class{k}"


class FakeStudent:  # an autograder.student.Student (checked below)
    """Answers the hidden tests' questions with prepared calls (``loss``: a function of the case)."""

    def __init__(self, loss=None, update=None, plain=None, loop=None, compiled=None, found=()):
        self._loss, self._update, self._plain, self._loop, self._compiled = loss, update, plain, loop, compiled
        self.found = list(found)

    def loss(self, case):
        return self._loss(case)

    def update(self, u, injected):
        return self._update[1 if injected else 0]

    def plain_steps(self, p):
        return self._plain

    def run_provided_loop(self, model, loop):
        return self._loop

    def compile(self, case):
        return self._compiled

    def pitfalls(self, name):
        return self.found


@dataclass
class Outcome:
    passed: bool
    feedback: str
    details: dict


def run(check, student, references):
    """Call the hidden test of ``check`` as pytest would, and read its verdict."""
    note = Feedback()
    try:
        getattr(hidden, f"test_{check}")(student, references, note)
    except pytest.fail.Exception as exc:
        return Outcome(False, str(exc.msg), note.details)
    return Outcome(True, note.message, note.details)


@pytest.fixture(scope="module")
def suite():
    return FakeReferences()


def ok_loss(loss, dX, loss_type="tf.Tensor", dX_type="tf.Tensor", loss_shape=(), dtype="float32"):
    loss = np.asarray(loss, np.float64).reshape(loss_shape)
    return Call(True, {"ok": True, "loss": {"type": loss_type, "dtype": dtype, "shape": list(loss_shape)},
                       "dX": {"type": dX_type, "dtype": dtype, "shape": list(np.shape(dX))}},
                {"loss": loss, "dX": np.asarray(dX, np.float32)})


def raised(kind, message="", function=LOSS):
    return Call(False, {"ok": False, "error": {"type": kind, "message": message,
                                               "where": {"cell": 5, "line": 3, "code": "x", "function": function}}})


def losses(loss_of, grad_of, **kwargs):
    """A fake student whose loss function returns ``loss_of(case)``, ``grad_of(case)`` at every case."""
    return FakeStudent(loss=lambda c: ok_loss(loss_of(c), grad_of(c), **kwargs))


def same(call):
    return FakeStudent(loss=lambda c: call)


# ---- the table -----------------------------------------------------------------------------------------------

def test_the_checks_table_is_read_from_the_hidden_tests():
    checks = R.checks()
    assert {n: c.points for n, c in checks.items()} == {
        "loss_value": 2, "gradient_sign": 3, "l2_regularizer": 2, "raw_score": 1, "update_step": 3,
        "score_increase": 3, "tf_function": 1}
    assert R.max_score() == 15
    for check in checks.values():
        assert check.title and check.criterion and check.why
    assert checks["loss_value"].title == "The loss value at fixed inputs, on the real SqueezeNet 1.1"
    assert checks["tf_function"].criterion.startswith("classviz.visualize.compile_loss_and_gradient(f, squeezenet)")


# ---- loss_value ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["full", "half"])
def test_loss_value_accepts_both_l2_factors(suite, form):
    student = losses(lambda c: c.loss_full if form == "full" else c.loss_half, lambda c: c.grad_full)
    res = run("loss_value", student, suite)
    assert res.passed and "matches the objective at 3 inputs" in res.feedback
    assert [d["case"] for d in res.details["inputs"]] == ["a", "b", "c"]


@pytest.mark.parametrize("loss_of, words", [
    (lambda c: c.score + c.l2_reg * c.sq_norm, "added to the score instead of subtracted"),
    (lambda c: c.score, "L2 term is missing"),
    (lambda c: -c.loss_full, "opposite sign"),
    (lambda c: c.prob - c.l2_reg * c.sq_norm, "softmax probability"),
    (lambda c: c.log_prob - c.l2_reg * c.sq_norm, "log-softmax"),
    (lambda c: c.score - c.l2_reg * np.sqrt(c.sq_norm), "norm ||X|| instead of its square"),
    (lambda c: c.score - c.l2_reg * c.sq_norm / c.size, "averages"),
    (lambda c: float(c.scores[77]) - c.l2_reg * c.sq_norm, "score of class 77"),
    (lambda c: c.loss_full + 0.01 * abs(c.loss_full) + 1, None),
])
def test_loss_value_names_the_mistake(suite, loss_of, words):
    res = run("loss_value", losses(loss_of, lambda c: c.grad_full), suite)
    assert not res.passed
    if words:
        assert words in res.feedback
    assert "your loss is" in res.feedback


def test_loss_value_tolerance_edges(suite):
    case = suite.real_cases[0]
    tol = hidden.TOL_LOSS_ABS + hidden.TOL_LOSS_REL * abs(case.loss_full)
    inside = losses(lambda c: c.loss_full + (0.9 * tol if c is case else 0), lambda c: c.grad_full)
    outside = losses(lambda c: c.loss_full + (1.1 * tol if c is case else 0), lambda c: c.grad_full)
    assert run("loss_value", inside, suite).passed
    assert not run("loss_value", outside, suite).passed


@pytest.mark.parametrize("kwargs, words", [
    (dict(loss_type="numpy scalar"), "must be a tf.Tensor"),
    (dict(loss_shape=(1,)), "shape (1,)"),
    (dict(dtype="float64"), "must be float32"),
])
def test_loss_value_requires_a_scalar_float32_tensor(suite, kwargs, words):
    res = run("loss_value", losses(lambda c: c.loss_full, lambda c: c.grad_full, **kwargs), suite)
    assert not res.passed and "the value is right" in res.feedback and words in res.feedback


def test_loss_value_reports_errors_stub_and_timeouts(suite):
    stub = run("loss_value", same(raised("NotImplementedError")), suite)
    assert "unmodified stub" in stub.feedback and "cell 5, line 3" in stub.feedback
    timeout = run("loss_value", same(Call(False, failure="timeout", failure_detail="60 s")), suite)
    assert "did not finish" in timeout.feedback and "60 s" in timeout.feedback
    crash = run("loss_value", same(Call(False, failure="crashed", failure_detail="exit code 3")), suite)
    assert "ended while running" in crash.feedback
    missing = run("loss_value", same(Call(False, {"error": {
        "type": "Missing", "message": f"{LOSS} is not defined", "hint": "cell 5 has a syntax error"}})), suite)
    assert "not defined" in missing.feedback and "syntax error" in missing.feedback
    exit_ = run("loss_value", same(raised("SystemExit", "0")), suite)
    assert "tried to stop the program" in exit_.feedback


# ---- gradient_sign ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["full", "half"])
def test_gradient_accepts_both_l2_factors(suite, form):
    student = losses(lambda c: c.loss_full, lambda c: c.grad_full if form == "full" else c.grad_half)
    res = run("gradient_sign", student, suite)
    assert res.passed and {d["l2_factor"] for d in res.details["inputs"][::2]} == {form}


def test_gradient_thresholds(suite):
    def noisy(scale):
        r = np.random.default_rng(5)
        return losses(lambda c: c.loss_full,
                      lambda c: c.grad_full + scale * np.linalg.norm(c.grad_full) / np.sqrt(c.grad_full.size)
                      * r.standard_normal(SHAPE))
    assert run("gradient_sign", noisy(0.02), suite).passed       # cosine ~0.9998
    res = run("gradient_sign", noisy(0.3), suite)                  # cosine ~0.96
    assert not res.passed and "cosine similarity" in res.feedback


@pytest.mark.parametrize("grad_of, words", [
    (lambda c: -c.grad_full, "opposite way"),
    (lambda c: c.grad_score, "L2 term is missing from the gradient"),
    (lambda c: c.grad_score + 2 * c.l2_reg * c.X, "wrong sign"),
    (lambda c: c.grad_softmax if c.grad_softmax is not None else c.grad_full, "softmax"),
])
def test_gradient_names_the_mistake(suite, grad_of, words):
    res = run("gradient_sign", losses(lambda c: c.loss_full, grad_of), suite)
    assert not res.passed and words in res.feedback


def test_gradient_none_zero_nan_shape_and_type(suite):
    none = Call(True, {"ok": True, "loss": {"type": "tf.Tensor"}, "dX": {"type": "NoneType"}}, {"loss": np.array(1.0)})
    assert "dX is None" in run("gradient_sign", same(none), suite).feedback
    zeros = losses(lambda c: c.loss_full, lambda c: np.zeros(SHAPE))
    assert "all zeros" in run("gradient_sign", zeros, suite).feedback
    nan = losses(lambda c: c.loss_full, lambda c: np.full(SHAPE, np.nan))
    assert "NaN" in run("gradient_sign", nan, suite).feedback
    shape = losses(lambda c: c.loss_full, lambda c: c.grad_full[0])
    assert "has shape (6, 6, 3)" in run("gradient_sign", shape, suite).feedback
    res = run("gradient_sign", losses(lambda c: c.loss_full, lambda c: c.grad_full, dX_type="numpy.ndarray"), suite)
    assert not res.passed and "values are right" in res.feedback and "numpy.ndarray" in res.feedback


@pytest.mark.parametrize("found, words", [
    (["model.predict"], "`model.predict(...)`: it returns a NumPy array, so no gradient flows through it"),
    (["tf.constant"], "use `tf.convert_to_tensor(X, dtype=tf.float32)` instead"),
    ([".numpy()"], "`.numpy()` inside the function"),
])
def test_a_lost_gradient_names_the_tensorflow_pitfall_in_the_code(suite, found, words):
    none = Call(True, {"ok": True, "loss": {"type": "tf.Tensor"}, "dX": {"type": "NoneType"}}, {"loss": np.array(1.0)})
    res = run("gradient_sign", FakeStudent(loss=lambda c: none, found=found), suite)
    assert not res.passed and res.feedback.startswith("dX is None: the loss does not depend on X as recorded by "
                                                      "the tape: your code uses") and words in res.feedback


# ---- l2_regularizer --------------------------------------------------------------------------------------------

def l2_student(suite, c, l1=None):
    X = suite.l2_case.X.astype(np.float64)
    base = suite.l2_case.grad
    calls = {suite.l2_case.name: ok_loss(1.0, base),
             suite.l2_case_reg.name: ok_loss(1.0 - 0.05 if l1 is None else l1, base + c * X)}
    return FakeStudent(loss=lambda case: calls[case.name])


@pytest.mark.parametrize("c, passed, words", [
    (-0.2, True, "as the L2 term should"),
    (-0.1, True, "as the L2 term should"),
    (-0.2 * (1 + 0.5e-3), True, ""),
    (-0.2 * (1 + 5e-3), False, "wrong size"),
    (0.2, False, "wrong sign"),
    (0.0, False, "does not reach the gradient"),
    (-0.4, False, "wrong size"),
])
def test_l2_regularizer_sign_and_size(suite, c, passed, words):
    res = run("l2_regularizer", l2_student(suite, c), suite)
    assert res.passed is passed and words in res.feedback
    assert res.details["c"] == pytest.approx(c, rel=1e-5)


def test_l2_regularizer_passes_when_only_the_score_part_of_the_gradient_is_lost(suite):
    """model.predict loses the score's gradient, so dX is all zeros at l2_reg=0, but -0.2 X at l2_reg=0.1: the
    L2 term is right, and only gradient_sign names the mistake (issue 19)."""
    X = suite.l2_case.X.astype(np.float64)
    calls = {suite.l2_case.name: ok_loss(1.0, np.zeros_like(X)), suite.l2_case_reg.name: ok_loss(0.9, -0.2 * X)}
    assert run("l2_regularizer", FakeStudent(loss=lambda case: calls[case.name]), suite).passed
    calls[suite.l2_case_reg.name] = ok_loss(0.9, np.zeros_like(X))
    res = run("l2_regularizer", FakeStudent(loss=lambda case: calls[case.name]), suite)
    assert not res.passed and "dX is all zeros" in res.feedback


def test_l2_in_the_loss_but_not_in_the_gradient(suite):
    R2 = float(np.sum(suite.l2_case.X.astype(np.float64) ** 2))
    res = run("l2_regularizer", l2_student(suite, 0.0, l1=1.0 - L2_CHANGE * R2), suite)
    assert not res.passed and "in your loss but not in its gradient" in res.feedback


def test_l2_change_not_proportional_to_x(suite):
    X = suite.l2_case.X.astype(np.float64)
    calls = {suite.l2_case.name: ok_loss(1.0, suite.l2_case.grad),
             suite.l2_case_reg.name: ok_loss(1.0, suite.l2_case.grad - 0.2 * np.sign(X))}
    res = run("l2_regularizer", FakeStudent(loss=lambda case: calls[case.name]), suite)
    assert not res.passed and "not proportional to X" in res.feedback


# ---- raw_score -------------------------------------------------------------------------------------------------

def test_raw_score_passes_on_the_score_and_its_gradient(suite):
    res = run("raw_score", losses(lambda c: c.score, lambda c: c.grad), suite)
    assert res.passed and [d["class"] for d in res.details["classes"]] == [3, 76, 980]


@pytest.mark.parametrize("loss_of, words", [
    (lambda c: c.prob, "softmax probability"),
    (lambda c: c.log_prob, "log-softmax"),
    (lambda c: -c.score, "negated raw score"),
    (lambda c: float(c.scores[c.target_y + 1]), "check the index"),
    (lambda c: float(np.sum(c.scores)), "sum of the scores"),
])
def test_raw_score_names_the_mistake(suite, loss_of, words):
    res = run("raw_score", losses(loss_of, lambda c: c.grad), suite)
    assert not res.passed and words in res.feedback


def test_raw_score_judges_the_loss_not_the_gradient(suite):
    """One mistake, one penalty (issue 19): a wrong or missing dX with the raw score as loss costs gradient_sign,
    not this check."""
    assert run("raw_score", losses(lambda c: c.score, lambda c: 1.01 * c.grad), suite).passed
    no_dX = Call(True, {"ok": True, "loss": {"type": "tf.Tensor", "dtype": "float32", "shape": []},
                        "dX": {"type": "NoneType"}}, {"loss": np.array(0.0)})
    student = FakeStudent(loss=lambda c: Call(True, no_dX.header, {"loss": np.array(c.score)}))
    assert run("raw_score", student, suite).passed
    scores = Call(True, {"ok": True, "loss": {"type": "tf.Tensor", "shape": [1, 1000]}, "dX": {}},
                  {"loss": np.zeros((1, 1000))})
    assert "holds all class scores" in run("raw_score", same(scores), suite).feedback


# ---- update_step -----------------------------------------------------------------------------------------------

def update_student(suite, step, *, returned="numpy.ndarray", dtype="float32", mutate=False, is_input=False,
                   calls_injected=True):
    u = suite.update
    dX = suite.update_loss_case.grad

    def call(lr, G):
        X_new = step(u.X.astype(np.float64), lr, G).astype(np.float32)
        after = X_new if mutate else u.X
        header = {"ok": True, "X_new": {"type": returned, "dtype": dtype, "shape": list(X_new.shape),
                                        "is_input": is_input},
                  "injected_calls": 1 if calls_injected else 0}
        return Call(True, header, {"X_new": X_new, "X_after": after})
    return FakeStudent(loss=lambda c: ok_loss(1.0, dX),
                       update=(call(u.lr, dX), call(u.lr_injected, u.G.astype(np.float64))))


def test_update_step_passes_on_ascent(suite):
    res = run("update_step", update_student(suite, lambda X, lr, G: X + lr * G), suite)
    assert res.passed and res.details["injected_gradient_used"] is True


@pytest.mark.parametrize("step, words", [
    (lambda X, lr, G: X - lr * G, "against the gradient"),
    (lambda X, lr, G: X + G, "learning rate is not applied"),
    (lambda X, lr, G: X + lr * np.sign(G), "sign of the gradient"),
    (lambda X, lr, G: X + lr * G / np.linalg.norm(G), "normalizes the gradient"),
    (lambda X, lr, G: X.copy(), "returns X unchanged"),
])
def test_update_step_names_the_mistake(suite, step, words):
    res = run("update_step", update_student(suite, step), suite)
    assert not res.passed and words in res.feedback


@pytest.mark.parametrize("kwargs, words", [
    (dict(mutate=True), "modifies X in place"),
    (dict(is_input=True), "returns X itself"),
    (dict(returned="tf.Tensor"), "not a NumPy array"),
    (dict(dtype="float64"), "not float32"),
])
def test_update_step_contract(suite, kwargs, words):
    res = run("update_step", update_student(suite, lambda X, lr, G: X + lr * G, **kwargs), suite)
    assert not res.passed and words in res.feedback


def test_update_step_with_a_gradient_of_its_own(suite):
    # the step ignores the injected gradient (does not call the loss function by name): only the own-gradient
    # part decides
    res = run("update_step", update_student(suite, lambda X, lr, G: X + lr * G, calls_injected=False), suite)
    assert res.passed and res.details["injected_gradient_used"] is False


@pytest.mark.parametrize("own_loss", [
    Call(True, {"ok": True, "loss": {"type": "tf.Tensor"}, "dX": {"type": "NoneType"}}, {"loss": np.array(1.0)}),
    Call(False, {"ok": False, "error": {"type": "AttributeError", "message": "no attribute 'gradients'"}}),
])
def test_a_right_step_keeps_its_points_when_the_loss_function_gives_no_gradient(suite, own_loss):
    """One mistake, one penalty (issue 19): a forgotten tape.watch (dX None) or a loss function that raises made
    the student's own step fail (None.numpy()) before the substituted gradient was tried; now it decides."""
    student = update_student(suite, lambda X, lr, G: X + lr * G)
    student._loss = lambda c: own_loss
    failed_step = Call(False, {"ok": False, "error": {"type": "AttributeError",
                                                      "message": "'NoneType' object has no attribute 'numpy'"}})
    student._update = (failed_step, student._update[1])
    assert run("update_step", student, suite).passed
    descent = update_student(suite, lambda X, lr, G: X - lr * G)
    descent._loss, descent._update = (lambda c: own_loss), (failed_step, descent._update[1])
    res = run("update_step", descent, suite)
    assert not res.passed and "against the gradient" in res.feedback
    inline = update_student(suite, lambda X, lr, G: X + lr * G, calls_injected=False)
    inline._loss = lambda c: own_loss
    res = run("update_step", inline, suite)
    assert not res.passed and "gives no usable gradient here" in res.feedback and "cannot be checked" in res.feedback


# ---- score_increase --------------------------------------------------------------------------------------------

def plain(scores):
    """A plain_steps answer whose images score ``scores`` (FakeReferences.scores reads an image's mean)."""
    return Call(True, {"ok": True}, {f"X{k + 1}": np.full(SHAPE, s, np.float32) for k, s in enumerate(scores)})


def loop_scores(target_score, top=130):
    s = np.zeros(1000)
    s[130] = target_score
    s[top] = max(s[top], target_score + (1 if top != 130 else 0))
    return {"scores": s, "eager_reason": None}


def test_score_increase_thresholds(suite):
    good_plain = plain([5, 10, 20, 30, 40.0])

    def rise(plain_call, loop):
        return run("score_increase", FakeStudent(loss=lambda c: ok_loss(c.loss_full, c.grad_full), plain=plain_call,
                                                 loop=loop), suite)

    assert rise(good_plain, loop_scores(0.6 + 35.01)).passed
    res = rise(good_plain, loop_scores(0.6 + 34.9))
    assert not res.passed and "less than 50%" in res.feedback
    res = rise(good_plain, loop_scores(80.0, top=131))
    assert not res.passed and "top-1 class at the end is 131" in res.feedback
    res = rise(plain([2, 3, 4, 5, 12.0]), loop_scores(80.0))
    assert not res.passed and "+10.00" in res.feedback
    res = rise(plain([1, 0, -1, -2, -3.0]), loop_scores(80.0))
    assert "went down" in res.feedback
    res = rise(good_plain, {"error": "boom at iteration 3"})
    assert "boom at iteration 3" in res.feedback
    res = rise(Call(True, {"ok": True}, {"X1": np.zeros((2, 2))}), loop_scores(80.0))
    assert not res.passed and "instead of X's shape (1, 6, 6, 3) (at plain step 1 of 5)" in res.feedback


@pytest.mark.parametrize("own_loss, words", [
    (Call(True, {"ok": True, "loss": {"type": "tf.Tensor"}, "dX": {"type": "NoneType"}}, {"loss": np.array(1.0)}),
     "no usable gradient (dX is None"),
    (Call(False, {"ok": False, "error": {"type": "AttributeError", "message": "no attribute 'gradients'"}}),
     f"no usable gradient ({LOSS} raised AttributeError: no attribute 'gradients'"),
])
def test_score_increase_names_a_missing_gradient_not_the_steps_error(suite, own_loss, words):
    """Issue 19: with dX None the student's step fails on None.numpy(); the feedback names the gradient."""
    failed = Call(False, {"ok": False, "step": 0, "error": {
        "type": "AttributeError", "message": "'NoneType' object has no attribute 'numpy'"}})
    for plain_call in (failed, plain([0, 0, 0, 0, 0.0])):
        res = run("score_increase", FakeStudent(loss=lambda c: own_loss, plain=plain_call), suite)
        assert not res.passed and res.feedback.startswith("the score cannot rise: ") and words in res.feedback
        assert "NoneType" not in res.feedback


# ---- tf_function -----------------------------------------------------------------------------------------------

def compiled_call(loss, dX, reason=None):
    arrays = {k: np.asarray(v, np.float32) for k, v in (("loss", loss), ("dX", dX)) if v is not None}
    return Call(True, {"ok": True, "reason": reason}, arrays)


def right(c):
    return ok_loss(c.loss_full, c.grad_full)


def test_tf_function(suite):
    case = suite.compile_case

    def check(compiled, loss=right):
        return run("tf_function", FakeStudent(loss=loss, compiled=compiled), suite)

    assert check(compiled_call(case.loss_full, case.grad_full)).passed
    assert "other values" in check(compiled_call(case.loss_full, 1.1 * case.grad_full)).feedback
    untraceable = Call(True, {"ok": True, "reason": "AttributeError: 'SymbolicTensor' object has no attribute "
                                                    "'numpy' -- .numpy() cannot run while the function is compiled"})
    res = check(untraceable)
    assert not res.passed and "warning (-1 point)" in res.feedback and ".numpy()" in res.feedback
    stub = check(compiled_call(1.0, case.grad_full), loss=lambda c: raised("NotImplementedError"))
    assert "nothing to compile" in stub.feedback


def test_tf_function_names_tf_constant(suite):
    reason = ("TypeError: Expected any non-tensor type, but got a tensor instead. -- X = tf.constant(X) cannot take "
              "the symbolic tensor tf.function passes in: use X = tf.convert_to_tensor(X, dtype=tf.float32)")
    res = run("tf_function", FakeStudent(loss=right, compiled=Call(True, {"ok": True, "reason": reason}),
                                         found=["tf.constant"]), suite)
    assert not res.passed and "tf.constant" in res.feedback and "tf.convert_to_tensor" in res.feedback


def test_tf_function_only_checks_compiling(suite):
    """One mistake, one penalty: a gradient function that compiles and gives the same values compiled and eager
    keeps this point, whatever its outputs are worth to the other checks (here: a non-scalar loss, no gradient)."""
    case = suite.compile_case

    def shaped(c):
        return ok_loss(np.full((1, 1), c.loss_full), c.grad_full, loss_shape=(1, 1))
    res = run("tf_function", FakeStudent(loss=shaped,
                                         compiled=compiled_call(np.full((1, 1), case.loss_full), case.grad_full)),
              suite)
    assert res.passed

    def no_gradient(c):
        return Call(True, {"ok": True, "loss": {"type": "tf.Tensor"}, "dX": {"type": "NoneType"}},
                    {"loss": np.array(c.loss_full)})
    res = run("tf_function", FakeStudent(loss=no_gradient, compiled=compiled_call(case.loss_full, None)), suite)
    assert res.passed and "compiles" in res.feedback


def test_tf_function_needs_a_function_that_computes_something_from_x(suite):
    constant = ok_loss(0.0, np.zeros(SHAPE))
    res = run("tf_function", FakeStudent(loss=lambda c: constant, compiled=compiled_call(0.0, np.zeros(SHAPE))), suite)
    assert not res.passed and res.feedback.startswith("nothing to compile") and "same values" in res.feedback


# ---- agreement with nbgrader -----------------------------------------------------------------------------------

def test_nbgrader_points_equal_the_standalone_points():
    record = {"checks": [R.check_result(n, bool(i % 2), "x") for i, n in enumerate(R.checks())]}
    expected = expected_nbgrader_points(record)
    assert expected == {c["name"]: c["points"] for c in record["checks"]}
    assert sum(expected.values()) == sum(c["points"] for c in record["checks"])


def test_update_step_with_a_zero_gradient_is_judged_by_the_substituted_one(suite):
    """One mistake, one penalty: a loss function whose dX is all zeros does not cost a right update step its
    points (the substituted gradient decides); a step that ignores the loss function cannot be checked then."""
    u = suite.update

    def student(step, calls_injected):
        def call(lr, G):
            X_new = step(u.X.astype(np.float64), lr, G).astype(np.float32)
            return Call(True, {"ok": True, "X_new": {"type": "numpy.ndarray", "dtype": "float32",
                                                     "shape": list(X_new.shape), "is_input": False},
                               "injected_calls": 1 if calls_injected else 0}, {"X_new": X_new, "X_after": u.X})
        zeros = np.zeros(SHAPE)
        return FakeStudent(loss=lambda c: ok_loss(1.0, zeros),
                           update=(call(u.lr, zeros), call(u.lr_injected, u.G.astype(np.float64))))

    assert run("update_step", student(lambda X, lr, G: X + lr * G, True), suite).passed
    res = run("update_step", student(lambda X, lr, G: X.copy(), False), suite)
    assert not res.passed and "dX is all zeros" in res.feedback and "does not call it" in res.feedback
    res = run("update_step", student(lambda X, lr, G: X - lr * G, True), suite)
    assert not res.passed and "against the gradient" in res.feedback


# ---- the Student protocol ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("implementation", ["StudentSession", "Unavailable", "FakeStudent"])
def test_every_student_implements_the_protocol_the_checks_use(implementation):
    """The sandboxed session, the stand-in for a notebook without functions and this file's fake all answer every
    question of :class:`autograder.student.Student`, with its parameters."""
    import inspect

    from autograder import grading, student

    cls = {"StudentSession": student.StudentSession, "Unavailable": grading.Unavailable,
           "FakeStudent": FakeStudent}[implementation]
    questions = [n for n, v in vars(student.Student).items() if inspect.isfunction(v) and not n.startswith("_")]
    assert sorted(questions) == ["compile", "loss", "pitfalls", "plain_steps", "run_provided_loop", "update"]
    for name in questions:
        expected = list(inspect.signature(getattr(student.Student, name)).parameters)
        method = getattr(cls, name)
        if cls is grading.Unavailable and name != "pitfalls":
            assert method is grading.Unavailable._fail  # takes anything, fails the check
            continue
        assert list(inspect.signature(method).parameters) == expected, name
    assert isinstance(FakeStudent(), student.Student) and isinstance(grading.Unavailable("x"), student.Student)


def test_each_checks_docstring_states_the_tolerances_its_test_uses():
    """Every tolerance or minimum a hidden test reads (``TOL_*``, ``MIN_*``) is written in its docstring, which is
    the README's description of the check (``python -m autograder checks``)."""
    import ast
    import inspect
    import re

    def written(value):
        return {f"{value:g}", re.sub(r"e-0*", "e-", f"{value:.0e}"), f"{100 * value:g}%"}

    for name in R.checks():
        test = getattr(hidden, f"test_{name}")
        used = {node.id for node in ast.walk(ast.parse(inspect.getsource(test)))
                if isinstance(node, ast.Name) and re.fullmatch(r"(TOL|MIN)_\w+", node.id)}
        for constant in used:
            value = getattr(hidden, constant)
            assert written(value) & set(re.findall(r"[\d.e-]+%?", test.__doc__)), (name, constant, value)


def test_the_stand_in_has_the_networks_image_size():
    from autograder.child.standin import IMAGE_SHAPE
    from classviz import IMAGE_SIZE

    assert IMAGE_SHAPE == (IMAGE_SIZE, IMAGE_SIZE, 3)


def test_the_docstrings_that_state_the_total_state_the_hidden_tests_total():
    import autograder

    total = R.max_score()
    assert f"{total} points" in hidden.__doc__ and f"{total} points" in autograder.__doc__
    assert f"(1 of {total})" in hidden.test_tf_function.__doc__ and R.checks()["tf_function"].points == 1


def test_a_long_tampering_report_is_recorded_once():
    from types import SimpleNamespace

    from autograder.student import StudentSession

    session = SimpleNamespace(tampered=[])
    report = "the student's code replaced " + "x" * 400
    for _ in range(3):
        StudentSession._note_tampering(session, [report, "gc.callbacks", report])
    assert session.tampered == [report[:300], "gc.callbacks"]
    assert StudentSession.tampering_detail(session) == f"tampering detected: {report[:300]}; gc.callbacks"
