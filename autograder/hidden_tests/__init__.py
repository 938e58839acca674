"""The hidden tests of the assignment (never released to students): one pytest test per check.

Run them on one notebook with ``python -m pytest autograder --submission NOTEBOOK``; without ``--submission``
they are not collected.
"""
