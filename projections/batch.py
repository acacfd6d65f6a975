"""Rows a view changes during one batch of events: read once, changed in memory, written back once.

Applying events one statement at a time costs one round through SQLAlchemy (and the driver) per event. A view
instead declares the tables it keeps as `TableRows`; for each batch it reads the stored rows the batch touches
in one query per table, applies every event to those rows in memory, in log order, and then writes the new rows
with one `executemany` INSERT and the changed rows with one `executemany` UPDATE. A milestone reported on ten
times in a batch is written once, with its state after the tenth report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select

Row = dict[str, Any]
Key = tuple[Any, ...]

LOAD_CHUNK = 500
"""Groups read per SELECT: well under the bound-parameter limits of SQLite and PostgreSQL."""


class TableRows:
    """A table a view keeps, its primary key, and the prebuilt statements to read and write it by batch.

    `group` is the column the view reads rows by (an agreement's id): one event may change every row of its group,
    as when an agreement's closing closes each of its milestones.
    """

    def __init__(self, table: Table, key: tuple[str, ...], group: str = "agreement_id") -> None:
        self.table, self.key, self.group = table, key, group
        self.columns = tuple(column.name for column in table.columns)
        self.select = select(table).where(table.c[group].in_(bindparam("groups", expanding=True)))
        self.insert = table.insert()
        self.update = table.update().where(*(table.c[k] == bindparam(f"key_{k}") for k in key))

    def batch(self) -> BatchRows:
        return BatchRows(self)


class BatchRows:
    """One batch's working copy of a table: the rows read or added so far, and which ones are new or changed."""

    def __init__(self, spec: TableRows) -> None:
        self.spec = spec
        self._rows: dict[Key, Row] = {}
        self._keys: dict[int, Key] = {}  # id(row) -> its key; every row stays referenced from _rows
        self._groups: dict[Any, list[Key]] = {}
        self._loaded: set[Any] = set()
        self._new: dict[Key, None] = {}
        self._changed: dict[Key, None] = {}

    def load(self, conn: Connection, groups: Iterable[Any]) -> None:
        """Read the stored rows of these groups, in as few queries as possible (each group at most once).

        Only groups that can have stored rows need loading: an agreement signed in this batch has none.
        """
        todo = [g for g in dict.fromkeys(groups) if g not in self._loaded]
        self._loaded.update(todo)
        for chunk in _chunks(todo, LOAD_CHUNK):
            for row in conn.execute(self.spec.select, {"groups": chunk}).mappings():
                self._remember(dict(row))

    def add(self, row: Row) -> None:
        """A row this batch creates: inserted at the end, with whatever the later events of the batch made of it.

        Columns the row leaves out are NULL; every row of one executemany must name the same columns.
        """
        full: Row = dict.fromkeys(self.spec.columns)
        full.update(row)
        self._new[self._remember(full)] = None

    def get(self, *key: Any) -> Row | None:
        """The row with this primary key, as the batch has left it so far (None if it has no such row)."""
        return self._rows.get(key)

    def group(self, group: Any) -> list[Row]:
        """Every row of a group that the batch has read or added."""
        return [self._rows[key] for key in self._groups.get(group, ())]

    def changed(self, row: Row) -> None:
        """Mark a row read from the store as changed in place (a new row is written whole anyway)."""
        key = self._keys[id(row)]
        if key not in self._new:
            self._changed[key] = None

    def write(self, conn: Connection) -> None:
        """Insert the new rows, then update the changed ones: one statement each, every row in log order."""
        spec = self.spec
        if self._new:
            conn.execute(spec.insert, [self._rows[key] for key in self._new])
        if self._changed:
            conn.execute(spec.update, [self._update_params(self._rows[key]) for key in self._changed])
        self._new.clear()
        self._changed.clear()

    def _update_params(self, row: Row) -> Row:
        key = self.spec.key
        params = {column: value for column, value in row.items() if column not in key}
        params.update({f"key_{column}": row[column] for column in key})
        return params

    def _remember(self, row: Row) -> Key:
        key = tuple(row[column] for column in self.spec.key)
        previous = self._rows.get(key)
        if previous is None:
            self._groups.setdefault(row[self.spec.group], []).append(key)
        else:
            del self._keys[id(previous)]
        self._rows[key] = row
        self._keys[id(row)] = key
        return key


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
