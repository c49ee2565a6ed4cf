"""The brute-force oracle for Claro cell selection.

:func:`brute_force_targets` walks every cell of a grid, using only the grid's public
per-cell API (``row_ids``, ``column_ids``, ``is_empty``, ``cell_id``), and says which cells
a selection targets.  It shares no code with the resolver
(:meth:`taskcore.claro.Selection.resolve`): cell ids are matched by *encoding* every
cell's id, where the resolver *decodes* the requested ids.  Use it to check the resolver,
or an implementation of the Claro API, on small grids.  It needs no extra dependency.
"""

from __future__ import annotations

from taskcore.claro.grid import Grid
from taskcore.claro.selection import Selection
from taskcore.errors import InvalidSelection

__all__ = ["brute_force_targets"]


def brute_force_targets(selection: Selection, grid: Grid) -> list[tuple[str, str]]:
    """Return the cells ``selection`` targets in ``grid``, in dataset order, the slow way.

    Args:
        selection: the bulk selection.
        grid: the dataset's grid; only read.

    Returns:
        ``(row id, column id)`` of every target, row-major (grid row order, then grid
        column order).

    Raises:
        InvalidSelection: an id the grid does not have, exactly as the resolver raises it
            (``rowIds`` checked before ``columnIds``; ``unknown_ids`` in request order).
            The grid is unchanged.
    """
    wanted_cells = set(selection.cell_ids or ())
    wanted_rows = set(selection.row_ids or ())
    wanted_columns = set(selection.column_ids or ())
    seen_cells: set[str] = set()
    targets: list[tuple[str, str]] = []
    for row_id in grid.row_ids:
        for column_id in grid.column_ids:
            if selection.cell_ids is not None:
                cell_id = grid.cell_id(row_id, column_id)
                in_scope = cell_id in wanted_cells
                if in_scope:
                    seen_cells.add(cell_id)
            else:
                in_scope = (selection.row_ids is None or row_id in wanted_rows) and (
                    selection.column_ids is None or column_id in wanted_columns
                )
            if in_scope and (not selection.process_only_empty or grid.is_empty(row_id, column_id)):
                targets.append((row_id, column_id))
    checks = (
        ("cellIds", selection.cell_ids, seen_cells),
        ("rowIds", selection.row_ids, set(grid.row_ids)),
        ("columnIds", selection.column_ids, set(grid.column_ids)),
    )
    for field, requested, known in checks:
        unknown = [i for i in requested or () if i not in known]
        if unknown:
            shown = ", ".join(unknown[:10])
            if len(unknown) > 10:
                shown += f" and {len(unknown) - 10} more"
            raise InvalidSelection(
                f"Unknown {field} in this dataset: {shown}", field=field, unknown_ids=unknown
            )
    return targets
