"""``nbgrader autograde`` without a false "checksum has changed" warning for every cell with hidden tests.

The cause (nbgrader 0.9, jupyter/nbgrader#1961): ``nbgrader generate_assignment`` records each locked cell in
``gradebook.db`` (``SaveCells``) with the checksum of its *source* form, hidden tests included, and only then
removes the hidden tests (``ClearHiddenTests``) and checksums the cell again for the release. So the released
cell, untouched, never matches its record: at autograde, ``OverwriteCells`` prints "Attribute 'checksum' for
cell test_... has changed!" for each such cell of every submission -- and that mismatch is what makes it put
the hidden tests back. A warning that every submission gets cannot tell an instructor anything.

:class:`OverwriteCellsKeepingHiddenTests` puts the recorded source back first when the submitted cell is exactly
the released form of its record (the record with its hidden tests removed the way nbgrader removes them), then
runs nbgrader's own ``OverwriteCells``. An untouched cell then matches its record; a cell the student changed
still gets nbgrader's warning and is replaced by the record, as before. ``nbgrader_config.py`` puts it in place of
``OverwriteCells`` in ``Autograde.sanitize_preprocessors``.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, OverwriteCells


class OverwriteCellsKeepingHiddenTests(OverwriteCells):
    """nbgrader's ``OverwriteCells``, after giving an untouched locked cell back its hidden tests."""

    def released_form(self, source: str) -> str:
        """``source`` with its hidden tests removed by nbgrader's ``ClearHiddenTests`` (same configuration)."""
        cell = NotebookNode(cell_type="code", source=source, metadata=NotebookNode())
        ClearHiddenTests(parent=self)._remove_hidden_test_region(cell)  # noqa: SLF001 (nbgrader's own rule)
        return cell.source

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            try:
                recorded = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                recorded = None
            if (recorded is not None and recorded.locked and cell.cell_type == recorded.cell_type
                    and cell.source != recorded.source and cell.source == self.released_form(recorded.source)):
                cell.source = recorded.source
        return super().preprocess_cell(cell, resources, cell_index)
