"""Plain-text tables for ``print``: rows of dicts in, aligned columns out.

Every table in the book goes through :func:`format_table` (arithmetic, histories, layer tables,
folder scans), so they all look alike and fit the text column.
"""

from __future__ import annotations


def format_table(rows: list[dict], columns: list[str] | None = None,
                 headers: dict[str, str] | None = None) -> str:
    """Rows of dicts (what ``cnnlib.arithmetic`` returns) as a plain-text table for ``print``.

    ``columns`` picks and orders the keys (default: all keys of the first row); ``headers``
    renames some of them. Ints get thousands separators and are right-aligned, tuples are written
    as shapes (``16x32x32``), everything else as ``str``.
    """
    if not rows:
        raise ValueError("format_table got no rows")
    columns = list(rows[0]) if columns is None else list(columns)
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        raise KeyError(f"columns {missing} are not in the rows; they have {list(rows[0])}")
    for i, row in enumerate(rows):
        lacking = [c for c in columns if c not in row]
        if lacking:
            raise KeyError(f"row {i} has no {', '.join(map(repr, lacking))} (its keys are "
                           f"{list(row)}), but the table's columns are {columns}: give every row "
                           "every column (None or '' for a blank), or pass columns= to pick the "
                           "ones all rows have")
    headers = {c: (headers or {}).get(c, c) for c in columns}

    def text(v) -> str:
        if isinstance(v, bool) or v is None:
            return str(v)
        if isinstance(v, int):
            return f"{v:,}"
        if isinstance(v, (tuple, list)):
            return "x".join(map(str, v))
        return str(v)

    cells = [[text(row[c]) for c in columns] for row in rows]
    numeric = [all(isinstance(row[c], int) and not isinstance(row[c], bool) for row in rows)
               for c in columns]
    widths = [max(len(headers[c]), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric)).rstrip()

    head = line([headers[c] for c in columns])
    return "\n".join([head, "-" * len(head)] + [line(r) for r in cells])
