"""Feed parsers, one per source: `parse(content) -> Feed` for a file, `parse_items(items)` for API pages."""

from __future__ import annotations

from collections.abc import Callable

from gatehouse.core.bulk import cycle_collection_paused
from gatehouse.endpoints.feeds import crowdstrike, drivestrike, jamf, sentinelone
from gatehouse.endpoints.feeds.base import Feed, FeedRecord, ParseError

PARSERS: dict[str, Callable[[str | bytes], Feed]] = {
    "jamf": jamf.parse,
    "sentinelone": sentinelone.parse,
    "crowdstrike": crowdstrike.parse,
    "drivestrike": drivestrike.parse,
}


@cycle_collection_paused()
def parse_feed(source: str, content: str | bytes) -> Feed:
    """Parse a file of `source`; a ParseError names the record and field when it cannot be imported."""
    try:
        parser = PARSERS[source]
    except KeyError:
        raise ParseError(
            "file", "source", f"unknown source {source!r}; one of {', '.join(PARSERS)}"
        ) from None
    return parser(content)


__all__ = ["PARSERS", "Feed", "FeedRecord", "ParseError", "parse_feed"]
