"""The AWS WAF shard plan: never over capacity, never a gap while addresses move, ceil(N / capacity) sets."""

from __future__ import annotations

import math
import re

import botocore.session
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.distribution.connectors.awswaf import ShardChange, normalise, plan_shards, set_description, set_name

CAPACITY = 5
addresses = st.integers(min_value=0, max_value=40).map(lambda i: f"10.0.0.{i}/32")
shard_sets = st.dictionaries(st.integers(min_value=1, max_value=6), st.sets(addresses, max_size=CAPACITY), max_size=5)


def run(current: dict[int, set[str]], changes: list[ShardChange]) -> list[dict[int, set[str]]]:
    """Each state the sets pass through as the changes are written in order."""
    state = {n: set(a) for n, a in current.items()}
    states = []
    for change in changes:
        state[change.number] = (state.get(change.number, set()) - change.lose) | change.gain
        states.append({n: set(a) for n, a in state.items()})
    return states


@settings(max_examples=300)
@given(shard_sets, st.sets(addresses, max_size=25), st.sets(addresses, max_size=25))
def test_plans_respect_capacity_keep_every_address_and_pack(
    current: dict[int, set[str]], adds: set[str], removes: set[str]
) -> None:
    adds -= removes
    before = set().union(*current.values()) if current else set()
    wanted = (before - removes) | adds

    states = run(current, plan_shards(current, adds, removes, CAPACITY))

    final = states[-1] if states else current
    assert set().union(*final.values()) == wanted if final else not wanted
    assert all(len(held) <= CAPACITY for state in states for held in state.values())
    assert sum(1 for held in final.values() if held) == math.ceil(len(wanted) / CAPACITY)
    kept = before - removes
    for state in states:  # an address that stays banned is in some set at every step
        assert kept <= set().union(*state.values())


def test_new_addresses_fill_the_lowest_sets_first_and_new_sets_are_created() -> None:
    changes = plan_shards({1: {"a", "b", "c"}}, {"d", "e", "f", "g"}, set(), capacity=5)

    assert changes == [
        ShardChange(1, gain=frozenset({"d", "e"})),
        ShardChange(2, gain=frozenset({"f", "g"}), create=True),
    ]


def test_nothing_to_do_plans_nothing() -> None:
    assert plan_shards({1: {"a"}}, {"a"}, {"z"}, capacity=5) == []


def test_addresses_are_compared_in_one_form() -> None:
    assert normalise("2001:0db8:0000::1/128") == "2001:db8::1/128"
    assert normalise("203.0.113.7/32") == "203.0.113.7/32"


def test_names_and_descriptions_satisfy_the_wafv2_model() -> None:
    """Checked against botocore's published wafv2 model: botocore itself checks lengths, not patterns."""
    model = botocore.session.get_session().get_service_model("wafv2")
    name, description = model.shape_for("EntityName").metadata, model.shape_for("EntityDescription").metadata

    longest = set_name("p" * 100, 6, 99_999)
    assert re.fullmatch(name["pattern"].strip("^$"), longest) and len(longest) <= name["max"]
    text = set_description(6, 99_999)
    assert re.fullmatch(description["pattern"].strip("^$"), text) and len(text) <= description["max"]
