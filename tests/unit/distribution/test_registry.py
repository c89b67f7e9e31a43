"""The connector registry: one connector per push kind, built lazily, refusals for everything else."""

from __future__ import annotations

import pytest

from chalicelib.core.clock import FixedClock
from chalicelib.distribution.connectors import PUSH_KINDS, ConnectorDeps, Connectors, reconcilable
from chalicelib.distribution.connectors.base import TargetConfigurationError


def test_every_push_kind_has_a_connector_of_that_kind() -> None:
    connectors = Connectors(ConnectorDeps(clock=FixedClock(), waf_client_for=lambda region: object()))

    for kind in PUSH_KINDS:
        connector = connectors(kind)
        assert connector.kind == kind
        assert connectors(kind) is connector  # made once


@pytest.mark.parametrize("kind", ["crowdsec-bouncer", "pull-only", "iptables", ""])
def test_kinds_without_a_push_connector_are_refused(kind: str) -> None:
    with pytest.raises(TargetConfigurationError):
        Connectors()(kind)


def test_only_webhooks_are_not_reconciled() -> None:
    assert [kind for kind in PUSH_KINDS if not reconcilable(kind)] == ["webhook"]
    assert not reconcilable("pull-only")
