"""The helper package's command line: ``python -m classviz fetch-weights`` (download and verify the weights)."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys

INSTRUCTOR_PACKAGE = "classviz_reference"
"""Where ``visualize`` went: the course repository's instructor package (absent from the assignment folder)."""


def cmd_fetch(args) -> int:
    from .weights import GROUPS, WeightsError, fetch

    groups = GROUPS if args.with_test_data else ("weights",)
    try:
        dest = fetch(groups, dest=args.dest, mirror=args.mirror, quiet=args.quiet)
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"SqueezeNet 1.1 files verified in {dest}")
    return 0


def cmd_visualize(argv) -> int:
    """``visualize`` moved to the instructor package: run it there when it is present, else say so in one line."""
    if importlib.util.find_spec(INSTRUCTOR_PACKAGE) is None:
        print("python -m classviz visualize makes images with the course's reference solution, which is not part "
              "of the assignment folder: run the notebook's demo cells instead, they use your own two functions.",
              file=sys.stderr)
        return 2
    print(f"note: `python -m classviz visualize` is now `python -m {INSTRUCTOR_PACKAGE} visualize`; running it.",
          file=sys.stderr, flush=True)
    return subprocess.call([sys.executable, "-m", INSTRUCTOR_PACKAGE, "visualize", *argv])


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["visualize"]:
        return cmd_visualize(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m classviz",
        description="Helpers of the class visualization assignment: download and verify the pretrained "
                    "SqueezeNet 1.1 weights (each file checked by SHA-256).")
    sub = parser.add_subparsers(dest="command", required=True)
    fw = sub.add_parser("fetch-weights", help="download and verify the pretrained weights (SHA-256)")
    fw.add_argument("--with-test-data", action="store_true", help="also the reference inputs/outputs (tests)")
    fw.add_argument("--dest", help="destination folder (default: $CLASSVIZ_WEIGHTS_DIR or datasets/)")
    fw.add_argument("--mirror", help="local folder to copy from instead of the network "
                                     "(default: $CLASSVIZ_WEIGHTS_MIRROR)")
    fw.add_argument("--quiet", action="store_true")
    fw.set_defaults(func=cmd_fetch)
    sub.add_parser("visualize", help=f"moved to `python -m {INSTRUCTOR_PACKAGE} visualize` (course repository "
                                     "only); in the assignment, use the notebook")
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
