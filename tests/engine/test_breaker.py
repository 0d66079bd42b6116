"""The circuit breaker's states: closed, open for the cool-down, one trial call, closed."""

from __future__ import annotations

import pytest

from engine.breaker import Breaker, Breakers
from engine.errors import ProxyError


def test_it_opens_after_failures_in_a_row_and_says_for_how_long() -> None:
    breaker = Breaker(threshold=3, cooldown=60)
    for _ in range(2):
        breaker.failed()
        breaker.check("b")  # still closed
    breaker.succeeded()  # a success starts the count again
    for _ in range(3):
        breaker.failed()
    assert breaker.state == "open"
    with pytest.raises(ProxyError) as caught:
        breaker.check("b")
    assert caught.value.status == 503 and caught.value.code == "backend_cooling_down"
    assert "backend b is cooling down after 3 failures in a row" in caught.value.message
    assert caught.value.headers["retry-after"] == "60"


def test_after_the_cool_down_one_call_tries_the_backend() -> None:
    breaker = Breaker(threshold=1, cooldown=0)
    breaker.failed()
    breaker.check("b")  # the trial
    assert breaker.state == "half-open"
    with pytest.raises(ProxyError):
        breaker.check("b")  # only one at a time
    breaker.failed()  # the trial failed: open again
    assert breaker.state == "open"
    breaker.check("b")
    breaker.succeeded()
    assert breaker.state == "closed"
    breaker.check("b")


def test_each_backend_has_its_own() -> None:
    breakers = Breakers(threshold=1)
    breakers["a"].failed()
    assert (breakers["a"].state, breakers["b"].state) == ("open", "closed")
    assert breakers["a"] is breakers["a"]
