"""The fixed, seeded inputs of the hidden checks and the reference values at them (grader side only).

Rule of this module: (SqueezeNet 1.1, the linear stand-in) => every input a check sends to a student process
and every value the check compares with, computed from fixed seeds (two grader runs send the same inputs) with the
reference solution (:mod:`classviz_reference`, never given to a student process). They are built once and stored
(:mod:`autograder.reference_store`), so a grader process needs TensorFlow only to build them: it scores images
with :class:`autograder.numpy_squeezenet.NumpySqueezeNet`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from classviz.settings import DEFAULTS
from classviz.squeezenet import IMAGE_SIZE

from .child.standin import LinearStandIn

STANDIN_SEED = 0
GRADING_SEED = 0
"""Seed of the score-increase run (the loop's noise and jitter); the other inputs have fixed seeds below."""
L2_CHANGE = 0.1
"""The l2_regularizer check raises l2_reg from 0 to this value on the linear stand-in."""
PLAIN_STEPS = 5
"""The score_increase check's plain update steps from noise."""
MIN_PLAIN_RISE = 10.0
"""... must raise the raw tarantula score by more than this (the reference must reach twice as much)."""


class ReferenceMarginError(RuntimeError):
    """The reference itself does not reach the checks' margins (a changed model, TensorFlow version or threshold)."""


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
    """Check score_increase, part 1: ``steps`` plain update steps from ``X0`` for ``target_y``; ``s0`` the raw score
    of ``X0`` and ``reference_rise`` the reference's rise, both under :meth:`References.scores`."""
    X0: np.ndarray
    target_y: int
    l2_reg: float
    lr: float
    steps: int
    s0: float
    reference_rise: float


@dataclass
class LoopCase:
    """Check score_increase, part 2: the provided loop (``create_class_visualization``) for ``target_y``; ``s0`` and
    the rises under :meth:`References.scores`."""
    target_y: int
    target_name: str
    seed: int
    iterations: int
    s0: float
    reference_rise: float
    reference_rises: dict


def _loss_case(name, label, model, X, kind, y, lam, scores) -> LossCase:
    """A :class:`LossCase` with the values that follow from its float64 (1000,) raw ``scores`` and ``X``."""
    z = scores - scores.max()
    e = np.exp(z)
    prob, log_prob = e / e.sum(), z - np.log(e.sum())
    return LossCase(name, label, model, X, kind, y, lam, score=float(scores[y]),
                    sq_norm=float(np.sum(X.astype(np.float64) ** 2)), size=X.size, prob=float(prob[y]),
                    log_prob=float(log_prob[y]), scores=scores)


class References:
    """Test inputs and reference values; built once per version key and stored
    (:func:`autograder.reference_store.references_for`)."""

    def __init__(self):
        self.real_cases: list[LossCase] = []
        self.raw_cases: list[LossCase] = []
        self.l2_case: LossCase = None
        self.l2_case_reg: LossCase = None
        self.update: UpdateCase = None
        self.plain: PlainCase = None
        self.loop: LoopCase = None
        self.compile_case: LossCase = None
        self.update_loss_case: LossCase = None
        self._scorer = None
        self.weights = None
        self.seconds = 0.0
        self.source = "built"
        self.version_key = None

    @property
    def model(self):
        """The grader's SqueezeNet 1.1 for scoring images, in NumPy (never TensorFlow: see
        :mod:`autograder.numpy_squeezenet`), loaded from :attr:`weights` on first use."""
        if self._scorer is None:
            from .numpy_squeezenet import NumpySqueezeNet

            self._scorer = NumpySqueezeNet(self.weights)
        return self._scorer

    def warm_up(self) -> None:
        """Load what the score-increase check runs in this process -- the NumPy SqueezeNet, the provided loop and
        its blur -- now, while the student's process still imports TensorFlow, not on the check's critical path.
        Once per process: a batch worker's later notebooks find them loaded."""
        if self._scorer is not None:
            return
        from classviz import blur_image, visualize  # noqa: F401 - the loop's module, imported for the check

        self.scores(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 3), np.float32))
        blur_image(np.zeros((1, 8, 8, 3), np.float32))

    def scores(self, X: np.ndarray) -> np.ndarray:
        """float64 (N, 1000) raw scores of float32 (N, 224, 224, 3) preprocessed images under :attr:`model` (its
        float32 outputs); the checks and the reference values alike."""
        return np.asarray(self.model(X), np.float64)

    @staticmethod
    def class_name(k: int) -> str:
        from classviz import class_name

        return class_name(int(k))

    @classmethod
    def build(cls, model, weights) -> "References":
        """Compute every input and reference value.

        Args:
            model: the real SqueezeNet 1.1 (``classviz.load_squeezenet()``) in this, the grader's, process: the
                reference solution's losses and gradients.
            weights: its weights folder; the score-increase check's scores (``s0``, rises) are measured with
                :meth:`scores` on them, as the check measures the student's.

        Raises:
            ReferenceMarginError: the reference solution does not reach the score-increase check's margins.
        """
        import tensorflow as tf

        from classviz import blur_image
        from classviz.visualize import create_class_visualization, initial_image
        from classviz_reference import CompiledLoop, reference_loss_and_gradient

        start = time.perf_counter()
        refs = cls()
        refs.weights = weights
        lr, l2 = DEFAULTS["learning_rate"], DEFAULTS["l2_reg"]  # the notebook's defaults

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
            _, g = reference_loss_and_gradient(model, X, y, 0.0)
            case = _loss_case(name, label, "squeezenet", X, kind, y, lam,
                              np.asarray(model(tf.constant(X)), np.float64)[0])
            X64 = X.astype(np.float64)
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
            refs.real_cases.append(case)
        refs.compile_case = refs.real_cases[0]

        # checks raw_score and l2_regularizer: the linear stand-in, exact values
        standin = LinearStandIn(STANDIN_SEED)

        def linear_case(name, X, kind, y, lam):
            case = _loss_case(name, f"the linear stand-in, class {y}, l2_reg={lam}", "linear", X, kind, y, lam,
                              standin.scores64(X)[0])
            case.grad = standin.score_gradient(y) - 2 * lam * X.astype(np.float64)
            return case

        X_s = image(2000)
        refs.raw_cases = [linear_case("raw_3", X_s, "numpy", 3, 0.0),
                           linear_case("raw_76", image(2001), "tensor", 76, 0.0),
                           linear_case("raw_980", image(2002), "numpy", 980, 0.0)]
        refs.l2_case = refs.raw_cases[0]
        refs.l2_case_reg = linear_case("l2_3", X_s, "numpy", 3, L2_CHANGE)

        # check update_step: the linear stand-in
        G = (np.random.default_rng(3001).standard_normal((1, IMAGE_SIZE, IMAGE_SIZE, 3)) * 0.01).astype(np.float32)
        refs.update = UpdateCase(X=image(3000), target_y=76, l2_reg=l2, lr=lr, G=G, lr_injected=3.0)
        refs.update_loss_case = linear_case("update_own", refs.update.X, "numpy", 76, l2)

        # check score_increase, part 1: plain steps of the reference (the notebook's public check, hidden too)
        X = image(0)
        s0 = float(refs.scores(X)[0, 76])
        Xr = X
        for _ in range(PLAIN_STEPS):
            _, dX = reference_loss_and_gradient(model, Xr, 76, l2)
            Xr = Xr + lr * dX.numpy()
        plain_rise = float(refs.scores(Xr.astype(np.float32))[0, 76]) - s0
        refs.plain = PlainCase(X0=X, target_y=76, l2_reg=l2, lr=lr, steps=PLAIN_STEPS, s0=s0,
                                reference_rise=plain_rise)
        if not plain_rise > 2 * MIN_PLAIN_RISE:
            raise ReferenceMarginError(f"the reference's {PLAIN_STEPS} plain steps raise the score by only "
                                       f"{plain_rise:.2f}")

        # check score_increase, part 2: the provided loop, with the reference objective and its half-L2 variant
        target, iterations = 130, 20
        X0 = initial_image(np.random.default_rng(GRADING_SEED))
        loop_s0 = float(refs.scores(X0)[0, target])
        spec = [tf.TensorSpec([1, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32), tf.TensorSpec([], tf.int32),
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
            final = refs.scores(run.images)[0]
            rises[label] = float(final[target]) - loop_s0
            top = int(np.argmax(final))
            if top != target or not rises[label] > 0:
                raise ReferenceMarginError(f"the reference loop ({label} L2) ends with top-1 class {top} and a rise "
                                           f"of {rises[label]:.2f}; the score_increase check needs another target or "
                                           "length")
        refs.loop = LoopCase(target_y=target, target_name=refs.class_name(target), seed=GRADING_SEED,
                              iterations=iterations, s0=loop_s0, reference_rise=min(rises.values()),
                              reference_rises=rises)
        refs.seconds = time.perf_counter() - start
        return refs

    def describe(self) -> dict:
        """The inputs and reference figures, for the result files."""
        return {"source": self.source, "version_key": self.version_key, "seed": GRADING_SEED,
                "standin_seed": STANDIN_SEED,
                "real_cases": [c.label for c in self.real_cases],
                "plain_reference_rise": round(self.plain.reference_rise, 3),
                "loop": {"target": self.loop.target_y, "iterations": self.loop.iterations, "seed": self.loop.seed,
                         "reference_rises": {k: round(v, 3) for k, v in self.loop.reference_rises.items()}}}


def model_for(weights, threads: int = 1):
    """The Keras SqueezeNet 1.1 for a weights folder, to build the reference values with the reference solution
    (imports TensorFlow, quietly, with ``threads`` intra- and inter-op threads). Grading itself never calls it
    (:attr:`References.model` scores images in NumPy)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_native_stderr():
        import tensorflow as tf

        from classviz import load_squeezenet

        tf.get_logger().setLevel("ERROR")  # Python-level TensorFlow warnings: not the grader's output
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        except RuntimeError:  # TensorFlow already initialized in this process
            pass
        return load_squeezenet(weights)


@contextlib.contextmanager
def quiet_native_stderr():
    """Point file descriptor 2 at /dev/null for a while: TensorFlow's C++ start-up lines (absl, oneDNN) ignore
    ``TF_CPP_MIN_LOG_LEVEL``. Only used while the grader itself imports TensorFlow and builds its references."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable stderr: nothing to hide
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
