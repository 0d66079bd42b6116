"""One adapter per front-end: ask through its official SDK, return a normalized Outcome.

Each adapter builds its request from an `Ask` the way an application using that SDK would,
reads the answer (a stream to its end, with the SDK's own stream types), and turns the
SDK's own error class into a `Failure`; any other exception is a bug and propagates.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anthropic
import httpx
import openai
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from engine.frontends import FRONTENDS
from tests.e2e.matrix.cases import Ask, Failure, Outcome, Tokens, ToolUse
from tests.support.sdk import CLIENT_KEY, SDK_TIMEOUT_SECS

MODEL = "matrix-model"
MAX_TOKENS = 256


def _data_url(png: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(png).decode()}"


def _args(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"<invalid JSON>": text}
    return value if isinstance(value, dict) else {"<not an object>": value}


class ClientAdapter:
    """A front-end, by the name its module registers, driven through one SDK."""

    name: str
    carries_ids = True

    def available(self) -> bool:
        """Whether the server mounts this front-end."""
        return any(frontend.name == self.name for frontend in FRONTENDS)

    @contextmanager
    def connect(self, base_url: str, tls: ssl.SSLContext) -> Iterator[Any]:
        """An SDK client on the proxy at `base_url` (`http://127.0.0.1:PORT`)."""
        raise NotImplementedError
        yield

    def ask(self, session: Any, ask: Ask, *, stream: bool) -> Outcome:
        """Send `ask`; the SDK's own errors become the outcome's `error`."""
        raise NotImplementedError


# --- OpenAI Chat Completions ---------------------------------------------------------------


class OpenAIChat(ClientAdapter):
    """`openai.OpenAI().chat.completions.create`."""

    name = "openai_chat"

    @contextmanager
    def connect(self, base_url: str, tls: ssl.SSLContext) -> Iterator[openai.OpenAI]:
        """An `openai.OpenAI` client on `/v1`."""
        with openai.OpenAI(
            base_url=f"{base_url}/v1",
            api_key=CLIENT_KEY,
            max_retries=0,
            timeout=SDK_TIMEOUT_SECS,
            http_client=openai.DefaultHttpxClient(verify=tls),
        ) as client:
            yield client

    def ask(self, session: openai.OpenAI, ask: Ask, *, stream: bool) -> Outcome:
        """Messages with system, image parts, assistant tool_calls and `tool` results."""
        user: Any = ask.text
        if ask.image is not None:
            user = [
                {"type": "text", "text": ask.text},
                {"type": "image_url", "image_url": {"url": _data_url(ask.image)}},
            ]
        messages: list[Any] = [{"role": "system", "content": ask.system}] if ask.system else []
        messages.append({"role": "user", "content": user})
        if ask.calls:
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": json.dumps(call.args)},
                        }
                        for call in ask.calls
                    ],
                }
            )
        messages.extend(
            {"role": "tool", "tool_call_id": result.id, "content": result.content}
            for result in ask.results
        )
        params: dict[str, Any] = {"model": MODEL, "messages": messages}
        if ask.max_tokens is not None:
            params["max_completion_tokens"] = ask.max_tokens
        if ask.force:
            params["tool_choice"] = {"type": "function", "function": {"name": ask.force}}
        if ask.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                }
                for tool in ask.tools
            ]
        outcome = Outcome()
        try:
            if stream:
                self._stream(session, params, outcome)
            else:
                completion = session.chat.completions.create(**params)
                message = completion.choices[0].message
                outcome.finish = completion.choices[0].finish_reason
                outcome.text = message.content or ""
                outcome.reasoning = getattr(message, "reasoning_content", None) or ""
                outcome.calls = [
                    ToolUse(c.id, c.function.name, _args(c.function.arguments))
                    for c in message.tool_calls or ()
                    if c.type == "function"
                ]
                if completion.usage is not None:
                    outcome.usage = _chat_tokens(completion.usage)
        except openai.APIError as exc:
            outcome.error = Failure(
                type(exc).__name__, getattr(exc, "status_code", None), exc.message
            )
        return outcome

    def _stream(self, session: openai.OpenAI, params: dict[str, Any], outcome: Outcome) -> None:
        calls: dict[int, list[str]] = {}  # index → [id, name, arguments]
        with session.chat.completions.create(
            stream=True, stream_options={"include_usage": True}, **params
        ) as chunks:
            for chunk in chunks:
                if chunk.usage is not None:
                    outcome.usage = _chat_tokens(chunk.usage)
                for choice in chunk.choices:
                    outcome.finish = choice.finish_reason or outcome.finish
                    outcome.text += choice.delta.content or ""
                    outcome.reasoning += getattr(choice.delta, "reasoning_content", None) or ""
                    for delta in choice.delta.tool_calls or ():
                        slot = calls.setdefault(delta.index, ["", "", ""])
                        slot[0] = delta.id or slot[0]
                        if delta.function is not None:
                            slot[1] += delta.function.name or ""
                            slot[2] += delta.function.arguments or ""
                    outcome.calls = [
                        ToolUse(c[0] or None, c[1], _args(c[2])) for _, c in sorted(calls.items())
                    ]


def _chat_tokens(usage: Any) -> Tokens:
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details is not None else 0
    return Tokens(usage.prompt_tokens, usage.completion_tokens, cached)


# --- OpenAI Responses ----------------------------------------------------------------------


class OpenAIResponses(ClientAdapter):
    """`openai.OpenAI().responses.create`."""

    name = "openai_responses"

    @contextmanager
    def connect(self, base_url: str, tls: ssl.SSLContext) -> Iterator[openai.OpenAI]:
        """An `openai.OpenAI` client on `/v1`."""
        with OpenAIChat().connect(base_url, tls) as client:
            yield client

    def ask(self, session: openai.OpenAI, ask: Ask, *, stream: bool) -> Outcome:
        """`instructions`, input items (message, function_call, function_call_output)."""
        content: list[Any] = [{"type": "input_text", "text": ask.text}]
        if ask.image is not None:
            content.append(
                {"type": "input_image", "image_url": _data_url(ask.image), "detail": "auto"}
            )
        items: list[Any] = [{"type": "message", "role": "user", "content": content}]
        items.extend(
            {
                "type": "function_call",
                "call_id": call.id,
                "name": call.name,
                "arguments": json.dumps(call.args),
            }
            for call in ask.calls
        )
        items.extend(
            {"type": "function_call_output", "call_id": result.id, "output": result.content}
            for result in ask.results
        )
        params: dict[str, Any] = {"model": MODEL, "input": items, "store": False}
        if ask.system:
            params["instructions"] = ask.system
        if ask.max_tokens is not None:
            params["max_output_tokens"] = ask.max_tokens
        if ask.force:
            params["tool_choice"] = {"type": "function", "name": ask.force}
        if ask.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                    "strict": False,
                }
                for tool in ask.tools
            ]
        outcome = Outcome()
        try:
            if stream:
                self._stream(session, params, outcome)
            else:
                self._read(session.responses.create(**params), outcome)
        except openai.APIError as exc:
            outcome.error = Failure(
                type(exc).__name__, getattr(exc, "status_code", None), exc.message
            )
        return outcome

    @staticmethod
    def _read(response: Any, outcome: Outcome) -> None:
        """Text, calls and usage of a complete `Response`."""
        outcome.text = response.output_text
        outcome.reasoning = "".join(
            part.text
            for item in response.output
            if item.type == "reasoning"
            for part in [*item.summary, *(item.content or ())]
        )
        outcome.calls = [
            ToolUse(item.call_id, item.name, _args(item.arguments))
            for item in response.output
            if item.type == "function_call"
        ]
        if response.usage is not None:
            usage = response.usage
            cached = usage.input_tokens_details.cached_tokens if usage.input_tokens_details else 0
            outcome.usage = Tokens(usage.input_tokens, usage.output_tokens, cached or 0)
        if response.status == "completed":
            outcome.finish = "tool_calls" if outcome.calls else "stop"
        elif response.status == "incomplete" and response.incomplete_details is not None:
            reason = response.incomplete_details.reason
            outcome.finish = "length" if reason == "max_output_tokens" else reason
        if response.status == "failed" and response.error is not None:
            outcome.error = Failure("response.failed", None, response.error.message)

    def _stream(self, session: openai.OpenAI, params: dict[str, Any], outcome: Outcome) -> None:
        """Text and calls from the deltas; the rest from the one terminal event, which the
        deltas must agree with. Sequence numbers count up from 0 without a gap."""
        calls: dict[int, list[str]] = {}  # output_index → [call_id, name, arguments]
        numbers: list[int] = []
        terminal: list[str] = []
        with session.responses.create(stream=True, **params) as events:
            for event in events:
                numbers.append(event.sequence_number)
                if event.type == "response.output_text.delta":
                    outcome.text += event.delta
                elif event.type == "response.output_item.added":
                    if event.item.type == "function_call":
                        calls[event.output_index] = [event.item.call_id, event.item.name, ""]
                elif event.type == "response.function_call_arguments.delta":
                    calls[event.output_index][2] += event.delta
                elif event.type in ("response.completed", "response.incomplete"):
                    terminal.append(event.type)
                    text = outcome.text
                    self._read(event.response, outcome)
                    assert outcome.text == text, "the final response's text is not the deltas'"
                elif event.type in ("response.failed", "error"):
                    terminal.append(event.type)
                    if event.type == "error":
                        outcome.error = Failure("error event", None, event.message)
                    else:
                        error = event.response.error
                        message = error.message if error is not None else "response.failed"
                        outcome.error = Failure("response.failed", None, message)
        assert numbers == list(range(len(numbers))), f"sequence numbers {numbers}"
        assert len(terminal) == 1, f"terminal events: {terminal}"
        deltas = [ToolUse(c[0], c[1], _args(c[2])) for _, c in sorted(calls.items())]
        if outcome.error is None:
            assert deltas == outcome.calls, "the streamed calls are not the final response's"


# --- Anthropic Messages --------------------------------------------------------------------


_ANTHROPIC_STOPS = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}


def _anthropic_tokens(started: Any, final: Any) -> Tokens:
    """Anthropic's counts (input apart from cache reads and writes; in a stream, the
    final `message_delta` counts win over `message_start`'s) as Tokens."""

    def count(name: str) -> int:
        value = getattr(final, name, None)
        if value is None and started is not None:
            value = getattr(started, name, None)
        return value or 0

    cached = count("cache_read_input_tokens")
    uncached = count("input_tokens") + count("cache_creation_input_tokens")
    return Tokens(uncached + cached, count("output_tokens"), cached)


class AnthropicMessages(ClientAdapter):
    """`anthropic.Anthropic().messages.create`."""

    name = "anthropic"

    @contextmanager
    def connect(self, base_url: str, tls: ssl.SSLContext) -> Iterator[anthropic.Anthropic]:
        """An `anthropic.Anthropic` client on `/anthropic`."""
        with anthropic.Anthropic(
            base_url=f"{base_url}/anthropic",
            api_key=CLIENT_KEY,
            max_retries=0,
            timeout=SDK_TIMEOUT_SECS,
            http_client=anthropic.DefaultHttpxClient(verify=tls),
        ) as client:
            yield client

    def ask(self, session: anthropic.Anthropic, ask: Ask, *, stream: bool) -> Outcome:
        """`system`, image and text blocks, tool_use then tool_result blocks in a user turn."""
        blocks: list[Any] = []
        if ask.image is not None:
            data = base64.b64encode(ask.image).decode()
            blocks.append(
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": data},
                }
            )
        blocks.append({"type": "text", "text": ask.text})
        messages: list[Any] = [{"role": "user", "content": blocks}]
        if ask.calls:
            messages.append(
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.args}
                        for c in ask.calls
                    ],
                }
            )
        if ask.results:
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": r.id, "content": r.content}
                        for r in ask.results
                    ],
                }
            )
        params: dict[str, Any] = {
            "model": MODEL,
            "max_tokens": ask.max_tokens or MAX_TOKENS,
            "messages": messages,
        }
        if ask.system:
            params["system"] = ask.system
        if ask.force:
            params["tool_choice"] = {"type": "tool", "name": ask.force}
        if ask.tools:
            params["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in ask.tools
            ]
        outcome = Outcome()
        try:
            if stream:
                self._stream(session, params, outcome)
            else:
                message = session.messages.create(**params)
                outcome.text = "".join(b.text for b in message.content if b.type == "text")
                outcome.reasoning = "".join(
                    b.thinking for b in message.content if b.type == "thinking"
                )
                outcome.calls = [
                    ToolUse(b.id, b.name, dict(b.input))
                    for b in message.content
                    if b.type == "tool_use"
                ]
                outcome.usage = _anthropic_tokens(message.usage, message.usage)
                outcome.finish = _ANTHROPIC_STOPS.get(str(message.stop_reason), message.stop_reason)
        except anthropic.APIError as exc:
            outcome.error = Failure(
                type(exc).__name__, getattr(exc, "status_code", None), str(exc.message)
            )
        return outcome

    def _stream(
        self, session: anthropic.Anthropic, params: dict[str, Any], outcome: Outcome
    ) -> None:
        blocks: dict[int, list[str]] = {}  # index → [id, name, partial JSON]
        started: Any = None
        kinds: list[str] = []
        with session.messages.create(stream=True, **params) as events:
            for event in events:
                kinds.append(event.type)
                if event.type == "message_start":
                    started = event.message.usage
                elif event.type == "content_block_start" and event.content_block.type == "tool_use":
                    block = event.content_block
                    blocks[event.index] = [block.id, block.name, ""]
                elif event.type == "content_block_delta":
                    if event.delta.type == "text_delta":
                        outcome.text += event.delta.text
                    elif event.delta.type == "thinking_delta":
                        outcome.reasoning += event.delta.thinking
                    elif event.delta.type == "input_json_delta":
                        blocks[event.index][2] += event.delta.partial_json
                elif event.type == "message_delta":
                    reason = event.delta.stop_reason
                    outcome.finish = _ANTHROPIC_STOPS.get(str(reason), reason)
                    outcome.usage = _anthropic_tokens(started, event.usage)
        outcome.calls = [ToolUse(b[0], b[1], _args(b[2])) for _, b in sorted(blocks.items())]
        # Read to the end (an error event raises instead): one message_start first, then
        # blocks, one message_delta, and message_stop last.
        assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"], (
            f"Anthropic's event order broken: {kinds}"
        )
        assert kinds.count("message_start") == kinds.count("message_delta") == 1, kinds


# --- Gemini --------------------------------------------------------------------------------


_GEMINI_FINISHES = {"STOP": "stop", "MAX_TOKENS": "length"}


class GeminiGenerate(ClientAdapter):
    """`google.genai.Client().models.generate_content` (and `_stream`)."""

    name = "gemini"
    carries_ids = True  # the proxy gives every functionCall the id of the call it stands for

    @contextmanager
    def connect(self, base_url: str, tls: ssl.SSLContext) -> Iterator[genai.Client]:
        """A `genai.Client` with the API key, on the proxy's root."""
        with httpx.Client(verify=tls, timeout=SDK_TIMEOUT_SECS) as http:
            client = genai.Client(
                api_key=CLIENT_KEY,
                http_options=genai_types.HttpOptions(base_url=base_url, httpx_client=http),
            )
            try:
                yield client
            finally:
                client.close()

    def ask(self, session: genai.Client, ask: Ask, *, stream: bool) -> Outcome:
        """`systemInstruction`, inline data, functionCall then functionResponse parts."""
        parts: list[genai_types.Part] = [genai_types.Part(text=ask.text)]
        if ask.image is not None:
            parts.append(genai_types.Part.from_bytes(data=ask.image, mime_type="image/png"))
        contents = [genai_types.Content(role="user", parts=parts)]
        if ask.calls:
            contents.append(
                genai_types.Content(
                    role="model",
                    parts=[
                        genai_types.Part(
                            function_call=genai_types.FunctionCall(
                                id=c.id, name=c.name, args=c.args
                            )
                        )
                        for c in ask.calls
                    ],
                )
            )
        if ask.results:
            contents.append(
                genai_types.Content(
                    role="user",
                    parts=[
                        genai_types.Part(
                            function_response=genai_types.FunctionResponse(
                                id=r.id, name=r.name, response=json.loads(r.content)
                            )
                        )
                        for r in ask.results
                    ],
                )
            )
        config = genai_types.GenerateContentConfig(
            system_instruction=ask.system,
            max_output_tokens=ask.max_tokens,
            tools=[
                genai_types.Tool(
                    function_declarations=[
                        genai_types.FunctionDeclaration(
                            name=t.name,
                            description=t.description,
                            parameters_json_schema=t.parameters,
                        )
                        for t in ask.tools
                    ]
                )
            ]
            if ask.tools
            else None,
            tool_config=genai_types.ToolConfig(
                function_calling_config=genai_types.FunctionCallingConfig(
                    mode=genai_types.FunctionCallingConfigMode.ANY,
                    allowed_function_names=[ask.force],
                )
            )
            if ask.force
            else None,
            automatic_function_calling=genai_types.AutomaticFunctionCallingConfig(disable=True),
        )
        outcome = Outcome()
        try:
            if stream:
                for chunk in session.models.generate_content_stream(
                    model=MODEL, contents=contents, config=config
                ):
                    self._fold(chunk, outcome)
            else:
                self._fold(
                    session.models.generate_content(model=MODEL, contents=contents, config=config),
                    outcome,
                )
        except genai_errors.APIError as exc:
            outcome.error = Failure(type(exc).__name__, exc.code, str(exc.message or exc))
        return outcome

    @staticmethod
    def _fold(response: genai_types.GenerateContentResponse, outcome: Outcome) -> None:
        for candidate in response.candidates or ():
            if candidate.finish_reason is not None:
                reason = candidate.finish_reason.value
                outcome.finish = _GEMINI_FINISHES.get(reason, reason)
            for part in (candidate.content.parts if candidate.content else None) or ():
                if part.text and part.thought:
                    outcome.reasoning += part.text
                elif part.text:
                    outcome.text += part.text
                if part.function_call is not None:
                    call = part.function_call
                    outcome.calls.append(ToolUse(call.id, call.name or "", dict(call.args or {})))
        if outcome.finish == "stop" and outcome.calls:
            outcome.finish = "tool_calls"  # Gemini says STOP after function calls too
        meta = response.usage_metadata
        if meta is not None and meta.prompt_token_count is not None:
            outcome.usage = Tokens(
                meta.prompt_token_count,
                meta.candidates_token_count or 0,
                meta.cached_content_token_count or 0,
            )


CLIENTS: tuple[ClientAdapter, ...] = (
    OpenAIChat(),
    OpenAIResponses(),
    AnthropicMessages(),
    GeminiGenerate(),
)
