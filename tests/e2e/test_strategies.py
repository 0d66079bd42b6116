"""Backend strategies against fake providers that fail on demand, through the OpenAI SDK:
failover on each kind of failure, race, weighted, and the circuit breaker."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import openai
import pytest

from engine.stage import Target
from engine.strategies import create
from engine.strategies.basic import Weighted
from tests.support import fake_anthropic as fa
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeProvider, Hang, HttpError, StreamError, Text
from tests.support.proxy import Proxy
from tests.support.sdk import Chat, ask

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
ROUTES = """\
version: 1
backends:
  primary: {{kind: openai, base_url: "${{FAKE_URL}}/primary/v1"}}
  secondary: {{kind: openai, base_url: "${{FAKE_URL}}/secondary/v1"}}
  slow: {{kind: openai, base_url: "{slow}/v1"}}
routes:
  - name: resilient
    match: {{model: "failover-*"}}
    backend: {{strategy: failover, targets: [primary, "secondary:backup-model"]}}
  - name: spread
    match: {{model: "weighted-*"}}
    backend: {{strategy: weighted, targets: [primary, secondary], weights: [3, 1]}}
  - name: fast
    match: {{model: "race-*"}}
    backend: {{strategy: race, targets: [slow, secondary]}}
"""


@pytest.fixture
def slow() -> FakeProvider:
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def chat(proxy: Callable[..., Proxy], chat_for: Callable[..., Chat], slow: FakeProvider) -> Chat:
    return chat_for(proxy(ROUTES.format(slow=slow.url)))


def paths(fake: FakeProvider) -> list[str]:
    return [r.path.split("/")[1] for r in fake.requests]


@STREAM
async def test_failover_on_an_empty_answer(chat: Chat, fake: FakeProvider, stream: bool) -> None:
    fake.script(Text("", chunks=1))
    answer = await chat(model="failover-x", messages=ask("hi"), stream=stream)
    assert paths(fake) == ["primary", "secondary"]
    assert answer.text.startswith("backup-model")


async def test_failover_on_an_error_event_before_any_output(chat: Chat, fake: FakeProvider) -> None:
    fake.script(StreamError("", "overloaded", code="overloaded"))
    answer = await chat(model="failover-x", messages=ask("hi"), stream=True)
    assert paths(fake) == ["primary", "secondary"]
    assert answer.text.startswith("backup-model")


async def test_an_error_after_output_is_the_clients(chat: Chat, fake: FakeProvider) -> None:
    fake.script(StreamError("partial answer", "broke", code="broke"))
    with pytest.raises(openai.APIError, match="broke"):
        await chat(model="failover-x", messages=ask("hi"), stream=True)
    assert paths(fake) == ["primary"]


@STREAM
async def test_a_short_retry_after_is_waited_for_once(
    chat: Chat, fake: FakeProvider, stream: bool
) -> None:
    fake.script(HttpError(429, "slow down", headers={"retry-after": "0"}))
    answer = await chat(model="failover-x", messages=ask("hi"), stream=stream)
    assert paths(fake) == ["primary", "primary"]  # the same target, once more
    assert answer.text.startswith("failover-x")


async def test_a_long_retry_after_moves_on(chat: Chat, fake: FakeProvider) -> None:
    fake.script(HttpError(429, "slow down", headers={"retry-after": "120"}))
    await chat(model="failover-x", messages=ask("hi"))
    assert paths(fake) == ["primary", "secondary"]


async def test_race_keeps_the_first_to_answer_and_closes_the_other(
    chat: Chat, fake: FakeProvider, slow: FakeProvider
) -> None:
    hang = slow.script(Hang())
    answer = await chat(model="race-x", messages=ask("hi"), stream=True)
    assert answer.text.startswith("race-x")  # the secondary, on the main fake
    assert paths(fake) == ["secondary"]
    await hang.closed_early.wait_async()  # the loser's connection was closed


async def test_race_when_every_target_fails_says_what_each_answered(
    chat: Chat, fake: FakeProvider, slow: FakeProvider
) -> None:
    slow.script(HttpError(503, "slow is down"))
    fake.script(HttpError(500, "secondary is down"))
    with pytest.raises(openai.InternalServerError) as caught:
        await chat(model="race-x", messages=ask("hi"))
    assert "every target failed" in str(caught.value)
    assert "slow is down" in str(caught.value) and "secondary is down" in str(caught.value)


async def test_weighted_spreads_and_rerolls_on_failure(chat: Chat, fake: FakeProvider) -> None:
    for _ in range(40):
        await chat(model="weighted-x", messages=ask("hi"))
    spread = Counter(paths(fake))
    assert spread["primary"] > spread["secondary"] > 0
    fake.requests.clear()
    fake.script(HttpError(503, "down"))  # whichever is drawn first
    answer = await chat(model="weighted-x", messages=ask("hi"))
    assert sorted(paths(fake)) == ["primary", "secondary"]  # the other one answered
    assert answer.text.startswith("weighted-x")


def test_weighted_draws_by_weight() -> None:
    strategy = create("weighted", targets=["a", "b"], weights=[3, 1])
    assert isinstance(strategy, Weighted)
    strategy.random = random.Random(7)
    targets = [Target("a", "m"), Target("b", "m")]
    firsts = Counter(strategy.drawn(targets, [3, 1])[0].backend for _ in range(4000))
    assert 0.72 < firsts["a"] / 4000 < 0.78
    assert sorted(t.backend for t in strategy.drawn(targets, [3, 1])) == ["a", "b"]


def test_weights_must_match_the_targets() -> None:
    with pytest.raises(ValueError, match="weights has 1 entries for 2 targets"):
        create("weighted", targets=["a", "b"], weights=[1])
    with pytest.raises(ValueError, match="every weight must be above 0"):
        create("weighted", targets=["a", "b"], weights=[1, 0])


async def test_a_failing_backend_is_taken_out_for_a_cool_down(
    proxy: Callable[..., Proxy],
    chat_for: Callable[..., Chat],
    fake: FakeProvider,
    slow: FakeProvider,
) -> None:
    routes = ROUTES.format(slow=slow.url).replace(
        "targets: [primary, ", "targets: [slow, "
    )  # the failover route: `slow` first, then the secondary
    chat = chat_for(proxy(routes))
    slow.script(*(HttpError(503, "down") for _ in range(5)))
    for _ in range(5):
        await chat(model="failover-x", messages=ask("hi"))  # each answered by the secondary
    assert len(slow.requests) == 5 and paths(fake) == ["secondary"] * 5
    await chat(model="failover-x", messages=ask("hi"))
    assert len(slow.requests) == 5  # its breaker is open: not asked
    assert paths(fake) == ["secondary"] * 6


HYBRID_ROUTES = """\
version: 1
backends:
  claude: {kind: anthropic, base_url: "${FAKE_ANTHROPIC_URL}", api_key: k}
  fake: {kind: openai, base_url: "${FAKE_URL}/v1", api_key: k}
routes:
  - name: think-then-do
    backend: {strategy: hybrid, reason: "claude:thinker", targets: ["fake:doer"]}
"""


@pytest.mark.parametrize("answers_with_reasoning", [True, False], ids=["thinks", "answers"])
async def test_hybrid_gives_one_models_reasoning_to_another(
    proxy: Callable[..., Proxy],
    fake: FakeProvider,
    fake_anthropic: FakeAnthropic,
    answers_with_reasoning: bool,
) -> None:
    blocks = [fa.Thinking("plan: add the numbers", "sig")] if answers_with_reasoning else []
    fake_anthropic.script(
        fa.Reply(*blocks, fa.Text("plan: add the numbers" if not blocks else "4"))
    )
    served = proxy(HYBRID_ROUTES)
    async with openai.AsyncOpenAI(base_url=served.url, api_key="k", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="anything", messages=[{"role": "user", "content": "2+2?"}], stream=True
        )
        reasoning, text = [], []
        async for chunk in stream:
            delta = chunk.choices[0].delta if chunk.choices else None
            if delta is not None:
                reasoning.append(getattr(delta, "reasoning_content", None) or "")
                text.append(delta.content or "")
    assert "".join(reasoning) == "plan: add the numbers"  # the client sees it as reasoning
    assert "".join(text) == "doer heard: 2+2?"  # the answer is the second model's
    system = fake.last.messages[0]
    assert system["role"] == "system" and "plan: add the numbers" in system["content"]
    assert fake_anthropic.last.json["model"] == "thinker"
