"""classviz_reference: the instructor side of the class visualization assignment (never released to students).

It imports the student package :mod:`classviz`, never the other way round:

* :mod:`.solution` -- the reference objective and its gradient (the answer of the notebook's TODO cells);
* :mod:`.loop` -- the compiled reference loop (the whole iteration as one ``tf.function``), fast enough for the
  command line and the benchmarks;
* ``python -m classviz_reference visualize --class tarantula ...`` -- images made with it (:mod:`.__main__`).
"""

from .loop import CompiledLoop, blur_tensor, class_head_split, compiled_ascent_step  # noqa: F401
from .solution import reference_loss_and_gradient  # noqa: F401


def create_class_visualization(target_y, model, **kwargs):
    """:func:`classviz.visualize.create_class_visualization` with the compiled reference loop.

    Args:
        target_y, model: as there.
        **kwargs: ``seed``, ``callback``, ``X0``, ``progress`` and the hyper-parameters, as there; ``keep``
            as there but ``"leading"`` by default (where the last image lost the lead, the image where the target
            led by the widest margin, every iteration's image checked without jitter; see BENCHMARKS.md for the
            top-1 shares over two draws of 50 classes and the cost);
            ``class_head`` (default True) as in :func:`compiled_ascent_step`.

    Returns:
        :class:`classviz.visualize.VisualizationResult` with ``history`` (per-iteration raw target scores) and
        ``diagnostics`` (per image: top-1 iteration, rank, kept iteration, warnings; the top-1 check runs every
        iteration with ``keep="leading"``, every 5 iterations with ``keep="last"``).
    """
    from classviz.visualize import create_class_visualization as run

    kwargs.setdefault("keep", "leading")
    return run(target_y, model, step=CompiledLoop(kwargs.pop("class_head", True)), **kwargs)
