"""Ingest's sensor check: a sensor is read once per container, and a deletion is still noticed.

The read of the sensor record was one request per batch; a container now remembers the sensors it found
registered. What must still hold: with auto-registration off, a deleted sensor is refused again (after the one
batch a container had already taken), and with it on, the sensor comes back registered.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.core.clock import iso
from chalicelib.core.deps import Container
from chalicelib.core.errors import InvalidInputError
from chalicelib.events.batches import Batch
from tests.support.aws import count_requests


def batch(clock, sensor: str = "box-1") -> Batch:
    when = clock.now() - timedelta(seconds=5)
    line = f"{when.strftime('%b %e %H:%M:%S')} box sshd[4242]: Failed password for root from 8.8.8.8 port 50000 ssh2"
    return Batch(sensor=sensor, hostname="box", format="sshd", lines=[line])


def test_a_known_sensor_is_read_once_per_container(settings, clock, aws) -> None:
    container = Container(settings, clock=clock, aws=aws)
    container.sensors.register("box-1", "box", None)
    assert container.ingest.ingest(batch(clock)).accepted == 1  # reads the sensor (and fills the caches)
    with count_requests(aws.client("dynamodb")) as second:
        assert container.ingest.ingest(batch(clock)).accepted == 1
    assert second["dynamodb.GetItem"] == 0, second
    assert container.sensors.get("box-1")["events_received"] == 2


def test_a_deleted_sensor_is_refused_again_when_registration_is_off(settings, clock, aws) -> None:
    container = Container(settings.model_copy(update={"ingest_auto_register": False}), clock=clock, aws=aws)
    container.sensors.register("box-1", "box", None)
    assert container.ingest.ingest(batch(clock)).accepted == 1
    container.sensors.delete("box-1")
    # This container knew the sensor: the batch in flight is taken, and its stamp finds no record to update.
    assert container.ingest.ingest(batch(clock)).accepted == 1
    assert container.sensors.get("box-1") is None, "a deleted sensor is not re-created by its last-seen stamp"
    with pytest.raises(InvalidInputError) as refused:
        container.ingest.ingest(batch(clock))
    assert refused.value.code == "UNKNOWN_SENSOR"


def test_a_deleted_sensor_comes_back_registered_when_registration_is_on(settings, clock, aws) -> None:
    container = Container(settings, clock=clock, aws=aws)
    assert container.ingest.ingest(batch(clock)).accepted == 1
    container.sensors.delete("box-1")
    container.ingest.ingest(batch(clock))  # taken; its stamp finds the record gone
    clock.advance(1)
    assert container.ingest.ingest(batch(clock)).accepted == 1
    sensor = container.sensors.get("box-1")
    assert sensor is not None and sensor["events_received"] == 1 and sensor["last_seen"] == iso(clock.now())
