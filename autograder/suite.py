"""The fixed, seeded test inputs of the hidden checks and the reference values at them (grader side only).

Rule of this module: (SqueezeNet 1.1, the linear stand-in) => every input a check sends to a student process
and every value the check compares with, computed once per grader process with the reference solution
(:mod:`classviz.reference`, never given to a student process) and reused for all submissions. Every input comes
from a fixed seed, so two grader runs send the same inputs. :meth:`Suite.build` also checks the reference
against its own thresholds (the reference must earn full marks), and raises :class:`SuiteError` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import L2_CHANGE, MIN_PLAIN_RISE, PLAIN_STEPS
from .child.standin import LinearStandIn

STANDIN_SEED = 0
GRADING_SEED = 0
"""Seed of the score-increase run (the loop's noise and jitter); the other inputs have fixed seeds below."""


class SuiteError(RuntimeError):
    """The reference itself does not pass the checks (a changed model, TensorFlow version or threshold)."""


@dataclass
class LossCase:
    """One input of the loss function and the reference values there.

    ``X`` is float32 (1, 224, 224, 3); ``input`` says whether the student receives it as ``"numpy"`` or
    ``"tensor"``. Reference values are float64: ``score`` s_y, ``sq_norm`` ||X||^2, ``prob``/``log_prob`` the
    softmax and log-softmax of class y, ``scores`` all raw scores (1000,), ``loss_full``/``loss_half`` the
    objective with l2_reg ||X||^2 and with its half, ``grad_score`` ds_y/dX, ``grad_full``/``grad_half`` the
    objective's gradients, ``grad_softmax`` dp_y/dX (l2_reg = 0 cases on SqueezeNet), ``grad`` (stand-in: the
    exact dX).
    """
    name: str
    label: str
    model: str
    X: np.ndarray
    input: str
    target_y: int
    l2_reg: float
    score: float = 0.0
    sq_norm: float = 0.0
    size: int = 0
    prob: float = 0.0
    log_prob: float = 0.0
    scores: np.ndarray = None
    loss_full: float = 0.0
    loss_half: float = 0.0
    grad_score: np.ndarray = None
    grad_full: np.ndarray = None
    grad_half: np.ndarray = None
    grad_softmax: np.ndarray = None
    grad: np.ndarray = None

    def request(self) -> tuple[dict, dict]:
        """The ``loss`` request that asks a student process for its loss and gradient here."""
        return ({"op": "loss", "model": self.model, "input": self.input, "target_y": self.target_y,
                 "l2_reg": self.l2_reg}, {"X": self.X})


@dataclass
class UpdateCase:
    """Inputs of check update_step (linear stand-in): X, target, l2_reg, the learning rate with the student's own
    gradient (``lr``), and the injected gradient ``G`` with its learning rate ``lr_injected``."""
    X: np.ndarray
    target_y: int
    l2_reg: float
    lr: float
    G: np.ndarray
    lr_injected: float
    injected_loss: float = 1.0


@dataclass
class PlainCase:
    """Check score_increase, part 1: ``steps`` plain update steps from ``X0`` for ``target_y``."""
    X0: np.ndarray
    target_y: int
    l2_reg: float
    lr: float
    steps: int
    s0: float
    reference_rise: float


@dataclass
class LoopCase:
    """Check score_increase, part 2: the provided loop (``create_class_visualization``) for ``target_y``."""
    target_y: int
    target_name: str
    seed: int
    iterations: int
    s0: float
    reference_rise: float
    reference_rises: dict


def _softmax(scores):
    z = scores - scores.max()
    e = np.exp(z)
    return e / e.sum(), z - np.log(e.sum())


class Suite:
    """Test inputs and reference values; build once per grader process with :meth:`build`."""

    def __init__(self):
        self.real_cases: list[LossCase] = []
        self.raw_cases: list[LossCase] = []
        self.l2_case: LossCase = None
        self.l2_case_reg: LossCase = None
        self.update: UpdateCase = None
        self.plain: PlainCase = None
        self.loop: LoopCase = None
        self.compile_case: LossCase = None
        self.standin = LinearStandIn(STANDIN_SEED)
        self.model = None
        self.seconds = 0.0

    @staticmethod
    def class_name(k: int) -> str:
        from classviz import class_name

        return class_name(int(k))

    @classmethod
    def build(cls, model) -> "Suite":
        """Compute every input and reference value.

        Args:
            model: the real SqueezeNet 1.1 (``classviz.load_squeezenet()``) in this, the grader's, process.

        Raises:
            SuiteError: the reference solution fails its own checks.
        """
        import time

        import tensorflow as tf

        from classviz import blur_image
        from classviz.visualize import create_class_visualization, initial_image
        from classviz_reference import CompiledLoop, reference_loss_and_gradient

        start = time.perf_counter()
        suite = cls()
        suite.model = model

        def image(seed):
            return initial_image(np.random.default_rng(seed))

        # checks loss_value, gradient_sign, tf_function: the real SqueezeNet 1.1
        real = [("noise_tarantula", "seeded noise, class 76 (tarantula), l2_reg=1e-3, X as a NumPy array",
                 image(1000), "numpy", 76, 1e-3),
                ("blurred_flamingo", "blurred seeded noise, class 130 (flamingo), l2_reg=0, X as a tf.Tensor",
                 blur_image(image(1001), sigma=2.0).astype(np.float32), "tensor", 130, 0.0),
                ("noise_pizza", "seeded noise, class 963 (pizza), l2_reg=1e-4, X as a NumPy array",
                 image(1002), "numpy", 963, 1e-4)]
        for name, label, X, kind, y, lam in real:
            case = LossCase(name, label, "squeezenet", X, kind, y, lam)
            X64 = X.astype(np.float64)
            s, g = reference_loss_and_gradient(model, X, y, 0.0)
            case.scores = np.asarray(model(tf.constant(X)), np.float64)[0]
            case.score = float(case.scores[y])
            prob, log_prob = _softmax(case.scores)
            case.prob, case.log_prob = float(prob[y]), float(log_prob[y])
            case.sq_norm, case.size = float(np.sum(X64 ** 2)), X.size
            case.loss_full = case.score - lam * case.sq_norm
            case.loss_half = case.score - 0.5 * lam * case.sq_norm
            case.grad_score = g.numpy().astype(np.float64)
            case.grad_full = case.grad_score - 2 * lam * X64
            case.grad_half = case.grad_score - lam * X64
            if lam == 0:
                Xt = tf.constant(X)
                with tf.GradientTape() as tape:
                    tape.watch(Xt)
                    p = tf.nn.softmax(model(Xt))[0, y]
                case.grad_softmax = tape.gradient(p, Xt).numpy().astype(np.float64)
            suite.real_cases.append(case)
        suite.compile_case = suite.real_cases[0]

        # checks raw_score and l2_regularizer: the linear stand-in, exact values
        standin = suite.standin

        def linear_case(name, X, kind, y, lam):
            case = LossCase(name, f"the linear stand-in, class {y}, l2_reg={lam}", "linear", X, kind, y, lam)
            case.scores = standin.scores64(X)[0]
            case.score = float(case.scores[y])
            prob, log_prob = _softmax(case.scores)
            case.prob, case.log_prob = float(prob[y]), float(log_prob[y])
            X64 = X.astype(np.float64)
            case.sq_norm, case.size = float(np.sum(X64 ** 2)), X.size
            case.grad = standin.score_gradient(y) - 2 * lam * X64
            return case

        X_s = image(2000)
        suite.raw_cases = [linear_case("raw_3", X_s, "numpy", 3, 0.0),
                           linear_case("raw_76", image(2001), "tensor", 76, 0.0),
                           linear_case("raw_980", image(2002), "numpy", 980, 0.0)]
        suite.l2_case = suite.raw_cases[0]
        suite.l2_case_reg = linear_case("l2_3", X_s, "numpy", 3, L2_CHANGE)

        # check update_step: the linear stand-in
        G = (np.random.default_rng(3001).standard_normal((1, 224, 224, 3)) * 0.01).astype(np.float32)
        suite.update = UpdateCase(X=image(3000), target_y=76, l2_reg=1e-3, lr=25.0, G=G, lr_injected=3.0)

        # check score_increase, part 1: plain steps of the reference (the notebook's public check, hidden too)
        X = image(0)
        s0 = float(np.asarray(model(tf.constant(X)))[0, 76])
        Xr = X
        for _ in range(PLAIN_STEPS):
            _, dX = reference_loss_and_gradient(model, Xr, 76, 1e-3)
            Xr = Xr + 25.0 * dX.numpy()
        plain_rise = float(np.asarray(model(tf.constant(Xr)))[0, 76]) - s0
        suite.plain = PlainCase(X0=X, target_y=76, l2_reg=1e-3, lr=25.0, steps=PLAIN_STEPS, s0=s0,
                                reference_rise=plain_rise)
        if not plain_rise > 2 * MIN_PLAIN_RISE:
            raise SuiteError(f"the reference's {PLAIN_STEPS} plain steps raise the score by only {plain_rise:.2f}")

        # check score_increase, part 2: the provided loop, with the reference objective and its half-L2 variant
        target, iterations = 130, 20
        X0 = initial_image(np.random.default_rng(GRADING_SEED))
        loop_s0 = float(np.asarray(model(tf.constant(X0)))[0, target])
        spec = [tf.TensorSpec([1, 224, 224, 3], tf.float32), tf.TensorSpec([], tf.int32),
                tf.TensorSpec([], tf.float32)]

        @tf.function(input_signature=spec)
        def half_gradient(X, y, l2):
            with tf.GradientTape() as tape:
                tape.watch(X)
                loss = tf.gather(model(X)[0], y) - l2 * tf.nn.l2_loss(X)
            return tape.gradient(loss, X)

        def half_step(model_, X, y, l2, lr):
            return X + lr * half_gradient(tf.constant(X), tf.constant(y), tf.constant(l2, tf.float32)).numpy()

        rises = {}
        for label, step in (("full", CompiledLoop()), ("half", half_step)):
            run = create_class_visualization(target, model, step=step, seed=GRADING_SEED, num_iterations=iterations)
            rises[label] = float(run.scores[0, target]) - loop_s0
            top = int(np.argmax(run.scores[0]))
            if top != target or not rises[label] > 0:
                raise SuiteError(f"the reference loop ({label} L2) ends with top-1 class {top} and a rise of "
                                 f"{rises[label]:.2f}; the score_increase check needs another target or length")
        suite.loop = LoopCase(target_y=target, target_name=suite.class_name(target), seed=GRADING_SEED,
                              iterations=iterations, s0=loop_s0, reference_rise=min(rises.values()),
                              reference_rises=rises)
        suite.seconds = time.perf_counter() - start
        return suite

    def describe(self) -> dict:
        """The inputs and reference figures, for the result files."""
        return {"seed": GRADING_SEED, "standin_seed": STANDIN_SEED,
                "real_cases": [c.label for c in self.real_cases],
                "plain_reference_rise": round(self.plain.reference_rise, 3),
                "loop": {"target": self.loop.target_y, "iterations": self.loop.iterations, "seed": self.loop.seed,
                         "reference_rises": {k: round(v, 3) for k, v in self.loop.reference_rises.items()}}}
