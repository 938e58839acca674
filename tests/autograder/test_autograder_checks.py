"""The decisions of the seven checks on synthetic outputs: thresholds, the half factor, diagnoses, contracts.

Small images (1, 6, 6, 3) and hand-made reference values stand in for SqueezeNet here; the real thing is
exercised by test_autograder_corpus.py.
"""

import numpy as np
import pytest

from autograder import checks as C
from autograder.nbgrader_bridge import expected_nbgrader_points
from autograder.suite import LoopCase, LossCase, PlainCase, UpdateCase

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


class FakeSuite:
    def __init__(self):
        self.real_cases = [real_case("a", 0.5, 1), real_case("b", 0.0, 2), real_case("c", 0.05, 3)]
        self.compile_case = self.real_cases[0]
        X = rng.standard_normal(SHAPE).astype(np.float32)
        P = rng.standard_normal(SHAPE)

        def linear(y, lam, X=X):
            case = LossCase(f"raw{y}", "linear", "linear", X, "numpy", y, lam)
            case.scores = np.linspace(-6, 6.5, 1000)
            case.score = float(case.scores[y])
            p = np.exp(case.scores - case.scores.max())
            p /= p.sum()
            case.prob, case.log_prob = float(p[y]), float(np.log(p[y]))
            case.grad = P * (y + 1) - 2 * lam * X.astype(np.float64)
            return case
        self.raw_cases = [linear(3, 0.0), linear(76, 0.0), linear(980, 0.0)]
        self.l2_case, self.l2_case_reg = self.raw_cases[0], linear(3, C.L2_CHANGE)
        self.update = UpdateCase(X=X, target_y=76, l2_reg=1e-3, lr=25.0,
                                 G=(rng.standard_normal(SHAPE) * 0.01).astype(np.float32), lr_injected=3.0)
        self.plain = PlainCase(X0=X, target_y=76, l2_reg=1e-3, lr=25.0, steps=5, s0=2.0, reference_rise=40.0)
        self.loop = LoopCase(target_y=130, target_name="flamingo", seed=0, iterations=20, s0=0.6,
                             reference_rise=70.0, reference_rises={"full": 80.0, "half": 70.0})

    @staticmethod
    def class_name(k):
        return f"class{k}"


@pytest.fixture(scope="module")
def suite():
    return FakeSuite()


def ok_loss(loss, dX, loss_type="tf.Tensor", dX_type="tf.Tensor", loss_shape=(), dtype="float32"):
    loss = np.asarray(loss, np.float64).reshape(loss_shape)
    return C.Call(True, {"ok": True, "loss": {"type": loss_type, "dtype": dtype, "shape": list(loss_shape)},
                         "dX": {"type": dX_type, "dtype": dtype, "shape": list(np.shape(dX))}},
                  {"loss": loss, "dX": np.asarray(dX, np.float32)})


def raised(kind, message="", function=C.LOSS):
    return C.Call(False, {"ok": False, "error": {"type": kind, "message": message,
                                                 "where": {"cell": 5, "line": 3, "code": "x", "function": function}}})


def real_calls(suite, loss_of, grad_of):
    return [ok_loss(loss_of(c), grad_of(c)) for c in suite.real_cases]


# ---- the table -----------------------------------------------------------------------------------------------

def test_the_checks_table_is_the_contract():
    assert {n: c.points for n, c in C.CHECKS.items()} == {
        "loss_value": 2, "gradient_sign": 3, "l2_regularizer": 2, "raw_score": 1, "update_step": 3,
        "score_increase": 3, "tf_function": 1}
    assert C.MAX_SCORE == 15
    for check in C.CHECKS.values():
        assert check.title and check.criterion and check.why


# ---- loss_value ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["full", "half"])
def test_loss_value_accepts_both_l2_factors(suite, form):
    calls = real_calls(suite, lambda c: c.loss_full if form == "full" else c.loss_half, lambda c: c.grad_full)
    res = C.check_loss_value(suite, calls)
    assert res.points == 2 and res.passed


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
    res = C.check_loss_value(suite, real_calls(suite, loss_of, lambda c: c.grad_full))
    assert res.points == 0
    if words:
        assert words in res.feedback
    assert "your loss is" in res.feedback


def test_loss_value_tolerance_edges(suite):
    case = suite.real_cases[0]
    tol = C.TOL_LOSS_ABS + C.TOL_LOSS_REL * abs(case.loss_full)
    inside = real_calls(suite, lambda c: c.loss_full + (0.9 * tol if c is case else 0), lambda c: c.grad_full)
    outside = real_calls(suite, lambda c: c.loss_full + (1.1 * tol if c is case else 0), lambda c: c.grad_full)
    assert C.check_loss_value(suite, inside).passed
    assert not C.check_loss_value(suite, outside).passed


@pytest.mark.parametrize("kwargs, words", [
    (dict(loss_type="numpy scalar"), "must be a tf.Tensor"),
    (dict(loss_shape=(1,)), "shape (1,)"),
    (dict(dtype="float64"), "must be float32"),
])
def test_loss_value_requires_a_scalar_float32_tensor(suite, kwargs, words):
    calls = [ok_loss(c.loss_full, c.grad_full, **kwargs) for c in suite.real_cases]
    res = C.check_loss_value(suite, calls)
    assert res.points == 0 and "the value is right" in res.feedback and words in res.feedback


def test_loss_value_reports_errors_stub_and_timeouts(suite):
    stub = C.check_loss_value(suite, [raised("NotImplementedError")] * 3)
    assert "unmodified stub" in stub.feedback and "cell 5, line 3" in stub.feedback
    timeout = C.check_loss_value(suite, [C.Call(False, failure="timeout", failure_detail="60 s")] * 3)
    assert "did not finish" in timeout.feedback and "60 s" in timeout.feedback
    crash = C.check_loss_value(suite, [C.Call(False, failure="crashed", failure_detail="exit code 3")] * 3)
    assert "ended while running" in crash.feedback
    missing = C.check_loss_value(suite, [C.Call(False, {"error": {
        "type": "Missing", "message": f"{C.LOSS} is not defined", "hint": "cell 5 has a syntax error"}})] * 3)
    assert "not defined" in missing.feedback and "syntax error" in missing.feedback
    exit_ = C.check_loss_value(suite, [raised("SystemExit", "0")] * 3)
    assert "tried to stop the program" in exit_.feedback


# ---- gradient_sign ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["full", "half"])
def test_gradient_accepts_both_l2_factors(suite, form):
    calls = real_calls(suite, lambda c: c.loss_full, lambda c: c.grad_full if form == "full" else c.grad_half)
    assert C.check_gradient_sign(suite, calls).passed


def test_gradient_thresholds(suite):
    def noisy(scale):
        r = np.random.default_rng(5)
        return real_calls(suite, lambda c: c.loss_full,
                          lambda c: c.grad_full + scale * np.linalg.norm(c.grad_full) / np.sqrt(c.grad_full.size)
                          * r.standard_normal(SHAPE))
    assert C.check_gradient_sign(suite, noisy(0.02)).passed       # cosine ~0.9998
    res = C.check_gradient_sign(suite, noisy(0.3))                 # cosine ~0.96
    assert not res.passed and "cosine similarity" in res.feedback


@pytest.mark.parametrize("grad_of, words", [
    (lambda c: -c.grad_full, "opposite way"),
    (lambda c: c.grad_score, "L2 term is missing from the gradient"),
    (lambda c: c.grad_score + 2 * c.l2_reg * c.X, "wrong sign"),
    (lambda c: c.grad_softmax if c.grad_softmax is not None else c.grad_full, "softmax"),
])
def test_gradient_names_the_mistake(suite, grad_of, words):
    res = C.check_gradient_sign(suite, real_calls(suite, lambda c: c.loss_full, grad_of))
    assert not res.passed and words in res.feedback


def test_gradient_none_zero_nan_shape_and_type(suite):
    none = [C.Call(True, {"ok": True, "loss": {"type": "tf.Tensor"}, "dX": {"type": "NoneType"}},
                   {"loss": np.array(1.0)})] * 3
    assert "dX is None" in C.check_gradient_sign(suite, none).feedback
    zeros = real_calls(suite, lambda c: c.loss_full, lambda c: np.zeros(SHAPE))
    assert "all zeros" in C.check_gradient_sign(suite, zeros).feedback
    nan = real_calls(suite, lambda c: c.loss_full, lambda c: np.full(SHAPE, np.nan))
    assert "NaN" in C.check_gradient_sign(suite, nan).feedback
    shape = real_calls(suite, lambda c: c.loss_full, lambda c: c.grad_full[0])
    assert "has shape (6, 6, 3)" in C.check_gradient_sign(suite, shape).feedback
    numpy = [ok_loss(c.loss_full, c.grad_full, dX_type="numpy.ndarray") for c in suite.real_cases]
    res = C.check_gradient_sign(suite, numpy)
    assert not res.passed and "values are right" in res.feedback and "numpy.ndarray" in res.feedback


# ---- l2_regularizer --------------------------------------------------------------------------------------------

def l2_calls(suite, c):
    X = suite.l2_case.X.astype(np.float64)
    base = suite.l2_case.grad
    return ok_loss(1.0, base), ok_loss(1.0 - 0.05, base + c * X)


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
    res = C.check_l2_regularizer(suite, *l2_calls(suite, c))
    assert res.passed is passed and words in res.feedback


def test_l2_in_the_loss_but_not_in_the_gradient(suite):
    X = suite.l2_case.X.astype(np.float64)
    R = float(np.sum(X ** 2))
    res = C.check_l2_regularizer(suite, ok_loss(1.0, suite.l2_case.grad),
                                 ok_loss(1.0 - C.L2_CHANGE * R, suite.l2_case.grad))
    assert not res.passed and "in your loss but not in its gradient" in res.feedback


def test_l2_change_not_proportional_to_x(suite):
    X = suite.l2_case.X.astype(np.float64)
    res = C.check_l2_regularizer(suite, ok_loss(1.0, suite.l2_case.grad),
                                 ok_loss(1.0, suite.l2_case.grad - 0.2 * np.sign(X)))
    assert not res.passed and "not proportional to X" in res.feedback


# ---- raw_score -------------------------------------------------------------------------------------------------

def raw_calls(suite, loss_of, grad_of=lambda c: c.grad):
    return [ok_loss(loss_of(c), grad_of(c)) for c in suite.raw_cases]


def test_raw_score_passes_on_the_score_and_its_gradient(suite):
    assert C.check_raw_score(suite, raw_calls(suite, lambda c: c.score)).passed


@pytest.mark.parametrize("loss_of, words", [
    (lambda c: c.prob, "softmax probability"),
    (lambda c: c.log_prob, "log-softmax"),
    (lambda c: -c.score, "negated raw score"),
    (lambda c: float(c.scores[c.target_y + 1]), "check the index"),
    (lambda c: float(np.sum(c.scores)), "sum of the scores"),
])
def test_raw_score_names_the_mistake(suite, loss_of, words):
    res = C.check_raw_score(suite, raw_calls(suite, loss_of))
    assert not res.passed and words in res.feedback


def test_raw_score_needs_the_matching_gradient(suite):
    res = C.check_raw_score(suite, raw_calls(suite, lambda c: c.score, lambda c: 1.01 * c.grad))
    assert not res.passed and "not its gradient" in res.feedback
    scores = [C.Call(True, {"ok": True, "loss": {"type": "tf.Tensor", "shape": [1, 1000]}, "dX": {}},
                     {"loss": np.zeros((1, 1000))})] * 3
    assert "holds all class scores" in C.check_raw_score(suite, scores).feedback


# ---- update_step -----------------------------------------------------------------------------------------------

def update_calls(suite, step, *, returned="numpy.ndarray", dtype="float32", mutate=False, is_input=False,
                 calls_injected=True):
    u = suite.update
    dX = suite.raw_cases[1].grad
    own_loss = ok_loss(1.0, dX)

    def call(lr, G):
        X_new = step(u.X.astype(np.float64), lr, G).astype(np.float32)
        after = X_new if mutate else u.X
        header = {"ok": True, "X_new": {"type": returned, "dtype": dtype, "shape": list(X_new.shape),
                                        "is_input": is_input},
                  "injected_calls": 1 if calls_injected else 0}
        return C.Call(True, header, {"X_new": X_new, "X_after": after})
    return own_loss, call(u.lr, dX), call(u.lr_injected, u.G.astype(np.float64))


def test_update_step_passes_on_ascent(suite):
    res = C.check_update_step(suite, *update_calls(suite, lambda X, lr, G: X + lr * G))
    assert res.passed and res.points == 3


@pytest.mark.parametrize("step, words", [
    (lambda X, lr, G: X - lr * G, "against the gradient"),
    (lambda X, lr, G: X + G, "learning rate is not applied"),
    (lambda X, lr, G: X + lr * np.sign(G), "sign of the gradient"),
    (lambda X, lr, G: X + lr * G / np.linalg.norm(G), "normalizes the gradient"),
    (lambda X, lr, G: X.copy(), "returns X unchanged"),
])
def test_update_step_names_the_mistake(suite, step, words):
    res = C.check_update_step(suite, *update_calls(suite, step))
    assert not res.passed and words in res.feedback


@pytest.mark.parametrize("kwargs, words", [
    (dict(mutate=True), "modifies X in place"),
    (dict(is_input=True), "returns X itself"),
    (dict(returned="tf.Tensor"), "not a NumPy array"),
    (dict(dtype="float64"), "not float32"),
])
def test_update_step_contract(suite, kwargs, words):
    res = C.check_update_step(suite, *update_calls(suite, lambda X, lr, G: X + lr * G, **kwargs))
    assert not res.passed and words in res.feedback


def test_update_step_with_a_gradient_of_its_own(suite):
    # the step ignores the injected gradient (does not call the loss function by name): only the own-gradient
    # part decides
    res = C.check_update_step(suite, *update_calls(suite, lambda X, lr, G: X + lr * G, calls_injected=False))
    assert res.passed and res.details["injected_gradient_used"] is False


# ---- score_increase --------------------------------------------------------------------------------------------

def plain(scores):
    return C.Call(True, {"ok": True, "scores": scores})


def loop_scores(target_score, top=130):
    s = np.zeros(1000)
    s[130] = target_score
    s[top] = max(s[top], target_score + (1 if top != 130 else 0))
    return {"scores": s, "eager_reason": None}


def test_score_increase_thresholds(suite):
    good_plain = plain([5, 10, 20, 30, 40.0])
    assert C.check_score_increase(suite, good_plain, loop_scores(0.6 + 35.01)).passed
    res = C.check_score_increase(suite, good_plain, loop_scores(0.6 + 34.9))
    assert not res.passed and "less than 50%" in res.feedback
    res = C.check_score_increase(suite, good_plain, loop_scores(80.0, top=131))
    assert not res.passed and "top-1 class at the end is 131" in res.feedback
    res = C.check_score_increase(suite, plain([2, 3, 4, 5, 12.0]), loop_scores(80.0))
    assert not res.passed and "+10.00" in res.feedback
    res = C.check_score_increase(suite, plain([1, 0, -1, -2, -3.0]), loop_scores(80.0))
    assert "went down" in res.feedback
    res = C.check_score_increase(suite, good_plain, {"error": "boom at iteration 3"})
    assert "boom at iteration 3" in res.feedback


# ---- tf_function -----------------------------------------------------------------------------------------------

def test_tf_function(suite):
    case = suite.compile_case
    eager = ok_loss(case.loss_full, case.grad_full)
    compiled = C.Call(True, {"ok": True, "reason": None},
                      {"loss": np.array(case.loss_full), "dX": case.grad_full.astype(np.float32)})
    assert C.check_tf_function(suite, compiled, eager).passed
    other = C.Call(True, {"ok": True, "reason": None},
                   {"loss": np.array(case.loss_full), "dX": 1.1 * case.grad_full.astype(np.float32)})
    assert "other values" in C.check_tf_function(suite, other, eager).feedback
    untraceable = C.Call(True, {"ok": True, "reason": "AttributeError: 'SymbolicTensor' object has no attribute "
                                                      "'numpy'"})
    res = C.check_tf_function(suite, untraceable, eager)
    assert not res.passed and "warning (-1 point)" in res.feedback and ".numpy()" in res.feedback
    nothing = C.check_tf_function(suite, compiled, ok_loss(case.loss_full, np.zeros(SHAPE)))
    assert not nothing.passed and "no point for compiling" in nothing.feedback
    assert "nothing to compile" in C.check_tf_function(suite, compiled, raised("NotImplementedError")).feedback


# ---- agreement with nbgrader -----------------------------------------------------------------------------------

def test_nbgrader_points_equal_the_standalone_points():
    record = {"checks": [C.CheckResult(n, c.points if i % 2 else 0, c.points, "x").to_dict()
                         for i, (n, c) in enumerate(C.CHECKS.items())]}
    expected = expected_nbgrader_points(record)
    assert expected == {c["name"]: c["points"] for c in record["checks"]}
    assert sum(expected.values()) == sum(c["points"] for c in record["checks"])
