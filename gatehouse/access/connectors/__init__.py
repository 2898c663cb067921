"""Connectors to the systems where access lives: Okta, Google Workspace and GitLab group membership.

`get_connector(entitlement)` returns the connector for an entitlement's `connector` field, or None when the
entitlement is granted by hand. It raises ConnectorError when the connector's credentials are not configured.
"""

from __future__ import annotations

from gatehouse.access.connectors.base import BaseConnector, ConnectorError, ConnectorNotConfigured, Member

__all__ = [
    "BaseConnector",
    "ConnectorError",
    "ConnectorNotConfigured",
    "Member",
    "connector_class",
    "get_connector",
]


def connector_class(name: str) -> type[BaseConnector] | None:
    from gatehouse.access.connectors.gitlab import GitLabConnector
    from gatehouse.access.connectors.google import GoogleConnector
    from gatehouse.access.connectors.okta import OktaConnector

    return {c.name: c for c in (OktaConnector, GoogleConnector, GitLabConnector)}.get(name or "")


def get_connector(entitlement) -> BaseConnector | None:
    cls = connector_class(entitlement.connector)
    if cls is None:
        return None
    return cls.from_settings()
