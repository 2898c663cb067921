"""The base of every Gatehouse command: changes it makes are audited with source "cli" and its own request id."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from django.core.management.base import BaseCommand
from tqdm import tqdm

from gatehouse.core import context
from gatehouse.core.context import Source

T = TypeVar("T")


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


class GatehouseCommand(BaseCommand):
    source = Source.CLI

    def execute(self, *args, **options):
        with context.change_context(
            source=self.source,
            request_id=context.new_request_id(),
            actor=None,
            actor_label=f"cli:{os_user()}",
        ):
            return super().execute(*args, **options)

    def progress(self, iterable: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterator[T]:
        """A progress bar on stderr when it is a terminal; plain iteration otherwise."""
        return tqdm(iterable, total=total, desc=desc, file=sys.stderr, disable=None, leave=False)
