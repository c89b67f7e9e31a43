"""The push function's delta: the last word per address wins, selectors decide who gets what."""

from __future__ import annotations

from chalicelib.distribution.push import Parsed, delta_for
from chalicelib.distribution.targets import Selector, TargetRecord


def message(message_id: str, *changes: tuple[str, str, dict]) -> Parsed:
    body = {
        "changes": [
            {
                "op": op,
                "action": action,
                "decision": {
                    "id": f"id-{d['value']}",
                    "type": "ban",
                    "scope": "global",
                    "origin": "manual",
                    "tags": [],
                    "until": None,
                    **d,
                },
            }
            for op, action, d in changes
        ]
    }
    return Parsed(message_id, "r", 1, "vigil.decisions.changes/1", body)


def target(**selector) -> TargetRecord:
    return TargetRecord("t1", "fw", "ssh-nftables", "host", selector=Selector(**selector))


def test_the_last_change_of_an_address_wins() -> None:
    delta, used = delta_for(
        target(),
        [
            message("m1", ("add", "issued", {"value": "192.0.2.1/32"}), ("add", "issued", {"value": "192.0.2.2/32"})),
            message("m2", ("delete", "unbanned", {"value": "192.0.2.1/32"})),
        ],
    )
    assert [e.value for e in delta.add] == ["192.0.2.2/32"]
    assert [e.value for e in delta.remove] == ["192.0.2.1/32"]
    assert used == {"m1", "m2"}


def test_tag_selectors(monkeypatch=None) -> None:
    tagged = target(tags=("BPE",))
    delta, used = delta_for(
        tagged,
        [
            message(
                "m1",
                ("add", "issued", {"value": "192.0.2.1/32", "tags": ["BPE"]}),
                ("add", "issued", {"value": "192.0.2.2/32", "tags": ["other"]}),
            ),
        ],
    )
    assert [e.value for e in delta.add] == ["192.0.2.1/32"] and not delta.remove
    assert used == {"m1"}
    untagged, _ = delta_for(tagged, [message("m2", ("add", "tags_removed", {"value": "192.0.2.1/32", "tags": ["x"]}))])
    assert [e.value for e in untagged.remove] == ["192.0.2.1/32"], "a ban that left the tag leaves the target"


def test_sensor_bans_go_only_to_targets_that_ask(monkeypatch=None) -> None:
    change = message("m", ("add", "issued", {"value": "192.0.2.9/32", "scope": "sensor:vm-001"}))
    assert not delta_for(target(), [change])[0]
    assert delta_for(target(sensors=("vm-001",)), [change])[0].add
    assert delta_for(target(sensors=("*",)), [change])[0].add


def test_pending_and_whitelist_changes_are_ignored() -> None:
    changes = message(
        "m",
        ("add", "pending", {"value": "192.0.2.3/32", "type": "pending"}),
        ("add", "whitelisted", {"value": "192.0.2.4/32", "type": "allow"}),
    )
    delta, used = delta_for(target(), [changes])
    assert not delta and not used
