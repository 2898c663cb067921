"""Tables for list pages: columns declared once per model, rendered by one template, sortable by whitelisted keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Column:
    name: str
    header: str
    accessor: str | Callable[[Any], Any] | None = None  # dotted attribute path or a function of the row
    order_by: str | None = None  # the queryset ordering key this column sorts by, if any
    link: bool = False  # link the cell to row.get_absolute_url()
    template: str | None = None  # a template rendering the cell with `row` and `value`

    def value(self, row: Any) -> Any:
        if self.accessor is None and self.template:
            return getattr(row, self.name, None)  # a template column may draw from the whole row
        accessor = self.accessor or self.name
        if callable(accessor):
            return accessor(row)
        value = row
        for part in accessor.split("."):
            if value is None:
                return None
            value = getattr(value, part)
            if callable(value) and not hasattr(value, "all"):
                value = value()
        return value


class Table:
    columns: Sequence[Column] = ()
    default_order: str = ""

    def __init__(self, rows, order: str | None = None):
        self.order = self._valid_order(order)
        self.rows = rows

    def _valid_order(self, order: str | None) -> str:
        keys = {c.name for c in self.columns if c.order_by}
        if order and order.lstrip("-") in keys:
            return order
        return self.default_order

    def order_queryset(self, queryset):
        if not self.order:
            return queryset
        desc = self.order.startswith("-")
        column = next(c for c in self.columns if c.name == self.order.lstrip("-"))
        keys = [k.strip() for k in column.order_by.split(",")]
        return queryset.order_by(*[("-" + k if desc else k) for k in keys], "pk")
