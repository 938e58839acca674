"""Registers the hidden grader's pytest plugin (:mod:`autograder.plugin`) for ``python -m pytest autograder``.

pytest reads hooks and fixtures from a conftest's namespace, and a conftest below the root may not declare
``pytest_plugins``: so the plugin's hooks and fixtures are imported here by name. Code that needs the plugin's
functions imports :mod:`autograder.plugin`, never this file.
"""

from .plugin import (feedback, grading, pytest_addoption, pytest_configure, pytest_ignore_collect,  # noqa: F401
                     pytest_runtest_makereport, pytest_sessionfinish, pytest_terminal_summary, references, student)
