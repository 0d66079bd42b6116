"""One adapter per backend protocol: script its fake provider, read back what it was sent.

An adapter names the backend kind the proxy uses for it, starts its fake, and offers the
primitives the cases compose (a text answer, tool calls, an error status, an error in the
middle of a stream, a broken body); `upstream()` normalizes the fake's last recorded request
into an `Upstream` view. A provider whose backend kind or fake is not there yet is "not
built": `available()` says so and the matrix generates none of its cells.
"""

from __future__ import annotations

import importlib
import itertools
import json
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from quart import Response

from engine.backends import KINDS
from tests.e2e.matrix.cases import SOME_TOKENS, Tokens, ToolResult, ToolUse, Upstream

SIGNATURE = "c2lnbmVkIGJ5IHRoZSBtYXRyaXg="  # base64, as Gemini's SDK insists
_DATA_URL = re.compile(r"data:(?P<type>[^;,]+);base64,(?P<data>.*)", re.DOTALL)


def _json(value: Any) -> str:
    """Tool-result content as JSON text, whatever shape the protocol carried it in."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


# --- replies any of the fakes can serve (they only call `await reply.serve(…)`) -------------


class Rechunked:
    """A scripted reply whose stream is written `size` bytes at a time, cutting SSE lines,
    their `\\r\\n` pairs and UTF-8 characters: awkward, but what TCP may legally deliver.
    Non-streamed answers pass unchanged."""

    def __init__(self, reply: Any, size: int) -> None:
        self.reply = reply
        self.size = size

    def reframe(self, data: bytes) -> bytes:
        """The stream's bytes as this reply sends them; the same here."""
        return data

    async def serve(self, call: Any) -> Response:
        """The inner reply's response, re-cut."""
        response = await self.reply.serve(call)
        if response.mimetype != "text/event-stream":
            return response
        data = self.reframe(await response.get_data())

        async def pieces() -> AsyncIterator[bytes]:
            for start in range(0, len(data), self.size):
                yield data[start : start + self.size]

        # The length changes with the framing: leave it out, as a stream does anyway.
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        cut = Response(pieces(), status=response.status_code, headers=headers)
        cut.timeout = None
        return cut


class Dialect(Rechunked):
    """An OpenAI-fake reply streamed as some compatible servers do: a `:` comment first
    (OpenRouter's keep-alive), `data:` with no space, CRLF line ends, and the usage in the
    finish chunk rather than a chunk of its own (vLLM and others); cut 3 bytes at a time.
    All legal SSE and JSON."""

    def __init__(self, reply: Any) -> None:
        super().__init__(reply, 3)

    def reframe(self, data: bytes) -> bytes:
        """Re-frame OpenAI's `data: {…}\\n\\n` messages in the dialect."""
        payloads = [m.removeprefix("data: ") for m in data.decode().split("\n\n") if m]
        chunks = [p if p == "[DONE]" else json.loads(p) for p in payloads]
        usage = next((c for c in chunks if isinstance(c, dict) and c.get("choices") == []), None)
        if usage is not None:
            chunks.remove(usage)
            finish = next(
                c
                for c in chunks
                if isinstance(c, dict) and any(x.get("finish_reason") for x in c["choices"])
            )
            finish["usage"] = usage["usage"]
        framed = "".join(
            f"data:{c if isinstance(c, str) else json.dumps(c, ensure_ascii=False)}\r\n\r\n"
            for c in chunks
        )
        return f": OPENROUTER PROCESSING\r\n\r\n{framed}".encode()


class Reasoned:
    """An OpenAI-fake text reply that first thinks `thought`, as a `reasoning_content`
    field (the convention of DeepSeek, vLLM and other compatible servers)."""

    def __init__(self, reply: Any, thought: str) -> None:
        self.reply = reply
        self.thought = thought

    async def serve(self, call: Any) -> Response:
        """The inner reply's response with the reasoning added."""
        response = await self.reply.serve(call)
        data = (await response.get_data()).decode()
        if response.mimetype == "text/event-stream":
            frames = data.split("\n\n")
            chunk = json.loads(frames[0].removeprefix("data: "))
            chunk["choices"][0]["delta"] = {"reasoning_content": self.thought}
            frames.insert(1, f"data: {json.dumps(chunk)}")
            data = "\n\n".join(frames)
        else:
            body = json.loads(data)
            body["choices"][0]["message"]["reasoning_content"] = self.thought
            data = json.dumps(body)
        return Response(data, status=response.status_code, content_type=response.content_type)


class HalfBody:
    """The first half of a JSON body, status 200, whatever was asked."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = json.dumps(body)

    async def serve(self, call: Any) -> Response:
        """The cut body."""
        return Response(self.body[: len(self.body) // 2], content_type="application/json")


class ProviderAdapter:
    """A backend protocol: which backend kind speaks it and which fake answers it."""

    name: str  # the column's name in the matrix
    kind: str  # the backend kind in the routing file
    fake_module: str  # where its fake provider lives
    fake_class = "FakeProvider"
    carries_ids = True

    def available(self) -> bool:
        """Whether the proxy has the backend kind, the fake provider exists, and this
        adapter is written."""
        if self.kind not in KINDS or type(self).upstream is ProviderAdapter.upstream:
            return False
        try:
            self.module()
        except Exception:
            return False
        return True

    def module(self) -> ModuleType:
        """The fake provider's module."""
        return importlib.import_module(self.fake_module)

    @contextmanager
    def serve(self) -> Iterator[Any]:
        """A running fake provider."""
        with getattr(self.module(), self.fake_class)() as fake:
            yield fake

    @property
    def url_variable(self) -> str:
        """The environment variable the routing file reads the fake's URL from."""
        return f"MATRIX_{self.name.upper()}_URL"

    def backend(self) -> dict[str, Any]:
        """The routing file's backend entry for the fake at `${url_variable}`."""
        raise NotImplementedError

    def reset(self, fake: Any) -> None:
        """Forget replies a failed cell left queued, so the next cell starts clean."""
        fake.reset()

    # The primitives the cases compose; see cases.Provider.

    def text(
        self, fake: Any, text: str, *, usage: Tokens = SOME_TOKENS, cut_short: bool = False
    ) -> None:
        raise NotImplementedError

    def tool_calls(self, fake: Any, calls: Sequence[ToolUse]) -> list[str | None]:
        raise NotImplementedError

    def reasoning(self, fake: Any, thought: str, text: str) -> None:
        raise NotImplementedError

    def http_error(self, fake: Any, status: int, message: str) -> None:
        raise NotImplementedError

    def stream_error(self, fake: Any, before: str, message: str) -> None:
        raise NotImplementedError

    def broken_body(self, fake: Any) -> None:
        raise NotImplementedError

    def upstream(self, fake: Any) -> Upstream:
        raise NotImplementedError


# --- OpenAI Chat Completions, and an awkward OpenAI-compatible server -----------------------


class OpenAIProvider(ProviderAdapter):
    """OpenAI's Chat Completions, from `tests.support.fake_openai`."""

    name = "openai"
    kind = "openai"
    fake_module = "tests.support.fake_openai"
    text_chunks = 3  # how many deltas a streamed text comes in

    def cuts(self, arguments: str) -> tuple[int, ...]:
        """Offsets at which streamed tool-call arguments split."""
        return (len(arguments) // 2,)

    def wrap(self, reply: Any) -> Any:
        """A streamable reply as this provider sends it."""
        return reply

    def backend(self) -> dict[str, Any]:
        """`kind: openai` with the SDK-style `/v1` base_url."""
        return {
            "kind": self.kind,
            "base_url": f"${{{self.url_variable}}}/v1",
            "api_key": "upstream-key",
        }

    def _usage(self, usage: Tokens) -> Any:
        return self.module().Usage(
            prompt_tokens=usage.input, completion_tokens=usage.output, cached_tokens=usage.cached
        )

    def text(
        self, fake: Any, text: str, *, usage: Tokens = SOME_TOKENS, cut_short: bool = False
    ) -> None:
        """`Text`, cut into this provider's chunks."""
        m = self.module()
        reply = m.Text(
            text,
            chunks=self.text_chunks,
            usage=self._usage(usage),
            finish_reason="length" if cut_short else "stop",
        )
        fake.script(self.wrap(reply))

    def tool_calls(self, fake: Any, calls: Sequence[ToolUse]) -> list[str | None]:
        """`ToolCalls` with `call_…` ids and split arguments."""
        m = self.module()
        made = []
        for index, call in enumerate(calls):
            arguments = json.dumps(call.args)
            made.append(
                m.ToolCall(
                    call.name, arguments, id=f"call_matrix{index}", cuts=self.cuts(arguments)
                )
            )
        fake.script(self.wrap(m.ToolCalls(*made)))
        return [c.id for c in made]

    def reasoning(self, fake: Any, thought: str, text: str) -> None:
        """`Text` after a `reasoning_content` delta, as DeepSeek, vLLM and others send it."""
        fake.script(self.wrap(Reasoned(self.module().Text(text), thought)))

    def http_error(self, fake: Any, status: int, message: str) -> None:
        """`HttpError` with OpenAI's error body."""
        fake.script(self.module().HttpError(status, message))

    def stream_error(self, fake: Any, before: str, message: str) -> None:
        """Text chunks, then `data: {"error": …}` and the end of the body."""
        fake.script(self.wrap(self.module().StreamError(before, message)))

    def broken_body(self, fake: Any) -> None:
        """Half a JSON body (streamed: chunks with no finish or `[DONE]`)."""
        fake.script(self.module().Truncated("Half an answer"))

    def upstream(self, fake: Any) -> Upstream:
        """The last request's messages, read the Chat Completions way; a request OpenAI
        would reject fails here."""
        body = fake.last.json
        _valid_openai(body)
        system: list[str] = []
        view = Upstream(None, [], [], [], [], [])
        view.tool_names = [t["function"]["name"] for t in body.get("tools") or ()]
        for message in body.get("messages") or ():
            role, content = message.get("role"), message.get("content")
            parts = (
                [{"type": "text", "text": content}] if isinstance(content, str) else content or []
            )
            texts = [p["text"] for p in parts if p.get("type") == "text"]
            if role in ("system", "developer"):
                system.extend(texts)
            elif role == "user":
                view.user_texts.extend(texts)
                for part in parts:
                    if part.get("type") == "image_url":
                        found = _DATA_URL.fullmatch(part["image_url"]["url"])
                        assert found, f"not a data URL: {part['image_url']['url'][:60]}"
                        view.images.append((found["type"], found["data"]))
            elif role == "assistant":
                view.calls.extend(
                    ToolUse(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
                    for c in message.get("tool_calls") or ()
                )
            elif role == "tool":
                name = next((c.name for c in view.calls if c.id == message["tool_call_id"]), "")
                text = "".join(texts) if not isinstance(content, str) else content
                view.results.append(ToolResult(message["tool_call_id"], name, text))
        view.system = "\n".join(system) if system else None
        view.max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == "function":
            view.forced = choice["function"]["name"]
        return view


def _valid_openai(body: dict[str, Any]) -> None:
    """What OpenAI checks: known roles; each `tool` message answers a call made before it."""
    made: set[str] = set()
    for message in body["messages"]:
        role = message.get("role")
        assert role in ("system", "developer", "user", "assistant", "tool"), f"role {role!r}"
        made.update(c["id"] for c in message.get("tool_calls") or ())
        if role == "tool":
            assert message["tool_call_id"] in made, f"tool result for unknown call {message}"


class CompatibleProvider(OpenAIProvider):
    """Any OpenAI-compatible server, played by the OpenAI fake at its most awkward (but
    legal): text in one-character deltas, tool-call arguments split after every character,
    and the stream in another server's dialect (see `Dialect`), written 3 bytes at a time."""

    name = "compat"
    text_chunks = 1000

    def cuts(self, arguments: str) -> tuple[int, ...]:
        """Every offset."""
        return tuple(range(1, len(arguments)))

    def backend(self) -> dict[str, Any]:
        """`kind: openai` on a server that is not api.openai.com, under its own prefix."""
        return {"kind": self.kind, "base_url": f"${{{self.url_variable}}}/compat/v1"}

    def wrap(self, reply: Any) -> Any:
        """The reply in the dialect."""
        return Dialect(reply)


# --- Anthropic Messages --------------------------------------------------------------------


class AnthropicProvider(ProviderAdapter):
    """Anthropic's Messages API, from `tests.support.fake_anthropic`."""

    name = "anthropic"
    kind = "anthropic"
    fake_module = "tests.support.fake_anthropic"
    fake_class = "FakeAnthropic"
    write_size = 5

    def backend(self) -> dict[str, Any]:
        """`kind: anthropic` with the Anthropic SDK's base_url (no `/v1`)."""
        return {"kind": self.kind, "base_url": f"${{{self.url_variable}}}", "api_key": "up-key"}

    def text(
        self, fake: Any, text: str, *, usage: Tokens = SOME_TOKENS, cut_short: bool = False
    ) -> None:
        """One text block in three deltas."""
        m = self.module()
        used = m.Usage(
            input_tokens=usage.input - usage.cached,
            output_tokens=usage.output,
            cache_read_input_tokens=usage.cached,
        )
        stop = "max_tokens" if cut_short else "end_turn"
        reply = m.Reply(m.Text(text, chunks=3), usage=used, stop_reason=stop)
        fake.script(Rechunked(reply, self.write_size))

    def tool_calls(self, fake: Any, calls: Sequence[ToolUse]) -> list[str | None]:
        """tool_use blocks with `toolu_…` ids, their JSON input split every 3 characters."""
        m = self.module()
        blocks = []
        for index, call in enumerate(calls):
            arguments = json.dumps(call.args)
            blocks.append(
                m.ToolUse(
                    call.name,
                    arguments,
                    id=f"toolu_matrix{index}",
                    cuts=tuple(range(3, len(arguments), 3)),
                )
            )
        fake.script(Rechunked(m.Reply(*blocks), self.write_size))
        return [b.id for b in blocks]

    def reasoning(self, fake: Any, thought: str, text: str) -> None:
        """A signed thinking block, then a text block."""
        m = self.module()
        reply = m.Reply(m.Thinking(thought, signature=SIGNATURE), m.Text(text))
        fake.script(Rechunked(reply, self.write_size))

    def http_error(self, fake: Any, status: int, message: str) -> None:
        """Anthropic's error body, typed by the status."""
        kind = "api_error" if status >= 500 else "invalid_request_error"
        fake.script(self.module().HttpError(status, kind, message))

    def stream_error(self, fake: Any, before: str, message: str) -> None:
        """Text deltas, then an `error` event (`overloaded_error`) and the end."""
        reply = self.module().StreamError(before, "overloaded_error", message)
        fake.script(Rechunked(reply, self.write_size))

    def broken_body(self, fake: Any) -> None:
        """Half a message."""
        fake.script(
            HalfBody(
                {
                    "id": "msg_half",
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "text", "text": "Half an answer"}],
                }
            )
        )

    def upstream(self, fake: Any) -> Upstream:
        """The last request's `system`, `messages` and `tools`; a request Anthropic would
        reject fails here."""
        body = fake.last.json
        _valid_anthropic(body)
        system = body.get("system")
        if isinstance(system, list):
            system = "\n".join(b["text"] for b in system if b.get("type") == "text") or None
        view = Upstream(system, [], [], [], [], [], max_tokens=body["max_tokens"])
        view.tool_names = [t["name"] for t in body.get("tools") or ()]
        choice = body.get("tool_choice") or {}
        if choice.get("type") == "tool":
            view.forced = choice["name"]
        for message in body.get("messages") or ():
            content = message.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            for block in blocks or ():
                kind = block.get("type")
                if message.get("role") == "assistant":
                    if kind == "tool_use":
                        view.calls.append(ToolUse(block["id"], block["name"], block["input"]))
                elif kind == "text":
                    view.user_texts.append(block["text"])
                elif kind == "image":
                    source = block["source"]
                    assert source["type"] == "base64", f"an image by {source['type']}"
                    view.images.append((source["media_type"], source["data"]))
                elif kind == "tool_result":
                    answer = block.get("content")
                    if isinstance(answer, list):
                        answer = "".join(b["text"] for b in answer if b.get("type") == "text")
                    name = next((c.name for c in view.calls if c.id == block["tool_use_id"]), "")
                    view.results.append(ToolResult(block["tool_use_id"], name, answer or ""))
        return view


_TOOL_ID = re.compile(r"[a-zA-Z0-9_-]+")


def _valid_anthropic(body: dict[str, Any]) -> None:
    """What Anthropic checks: `max_tokens`; turns alternate from the user's; tool_use ids
    match `^[a-zA-Z0-9_-]+$`; a user turn's tool_result blocks come first and answer the
    tool_use blocks of the assistant turn just before it."""
    assert isinstance(body.get("max_tokens"), int), "Anthropic requires max_tokens"
    assert body["max_tokens"] > 0
    roles = [m["role"] for m in body["messages"]]
    assert roles[0] == "user", f"the first turn is {roles[0]}"
    assert all(a != b for a, b in itertools.pairwise(roles)), f"turns do not alternate: {roles}"
    asked: set[str] = set()
    for message in body["messages"]:
        blocks = message["content"] if isinstance(message["content"], list) else []
        kinds = [b["type"] for b in blocks]
        if message["role"] == "assistant":
            asked = {b["id"] for b in blocks if b["type"] == "tool_use"}
            assert all(_TOOL_ID.fullmatch(i) for i in asked), f"tool_use ids {asked}"
            continue
        answered = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
        assert kinds[: len(answered)] == ["tool_result"] * len(answered), (
            f"tool_result blocks must come first in the user turn: {kinds}"
        )
        assert set(answered) == asked, f"tool results {answered} answer the calls {asked}"
        asked = set()


# --- Gemini --------------------------------------------------------------------------------


class GeminiProvider(ProviderAdapter):
    """Gemini's generateContent, from `tests.support.fake_gemini`."""

    name = "gemini"
    kind = "gemini"
    fake_module = "tests.support.fake_gemini"
    fake_class = "FakeGemini"
    carries_ids = False  # Gemini's function calls come without ids
    write_size = 7

    def backend(self) -> dict[str, Any]:
        """`kind: gemini` with the google-genai SDK's base_url (no API version)."""
        return {"kind": self.kind, "base_url": f"${{{self.url_variable}}}", "api_key": "up-key"}

    def text(
        self, fake: Any, text: str, *, usage: Tokens = SOME_TOKENS, cut_short: bool = False
    ) -> None:
        """`Text` in three chunks."""
        m = self.module()
        counts = m.Usage(prompt=usage.input, candidates=usage.output, cached=usage.cached)
        reply = m.Text(text, usage=counts, finish="MAX_TOKENS" if cut_short else "STOP")
        fake.script(Rechunked(reply, self.write_size))

    def tool_calls(self, fake: Any, calls: Sequence[ToolUse]) -> list[str | None]:
        """`FunctionCalls`, one whole part each, with no ids."""
        m = self.module()
        reply = m.FunctionCalls(*(m.FunctionCall(c.name, c.args) for c in calls))
        fake.script(Rechunked(reply, self.write_size))
        return [None] * len(calls)

    def reasoning(self, fake: Any, thought: str, text: str) -> None:
        """A thought part, then the answer with its thought signature."""
        reply = self.module().Thoughts([thought], text, signature=SIGNATURE)
        fake.script(Rechunked(reply, self.write_size))

    def http_error(self, fake: Any, status: int, message: str) -> None:
        """`HttpError` with Google's error body."""
        fake.script(self.module().HttpError(status, message))

    def stream_error(self, fake: Any, before: str, message: str) -> None:
        """Text chunks, then Google's error object and the end of the stream."""
        fake.script(Rechunked(self.module().StreamError(before, message), self.write_size))

    def broken_body(self, fake: Any) -> None:
        """Half a `GenerateContentResponse`."""
        fake.script(
            HalfBody({"candidates": [{"content": {"parts": [{"text": "Half an answer"}]}}]})
        )

    def upstream(self, fake: Any) -> Upstream:
        """The last request's `systemInstruction`, `contents` and `tools`; a request Gemini
        would reject fails here."""
        body = fake.last.json
        _valid_gemini(body)
        instruction = body.get("systemInstruction") or {}
        system = [p["text"] for p in instruction.get("parts") or () if "text" in p]
        limit = (body.get("generationConfig") or {}).get("maxOutputTokens")
        view = Upstream("\n".join(system) if system else None, [], [], [], [], [], limit)
        view.tool_names = [
            d["name"] for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()
        ]
        calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        allowed = calling.get("allowedFunctionNames") or []
        if calling.get("mode") == "ANY" and len(allowed) == 1:
            view.forced = allowed[0]
        for content in body.get("contents") or ():
            for part in content.get("parts") or ():
                if content.get("role", "user") == "user":
                    if "text" in part:
                        view.user_texts.append(part["text"])
                    if "inlineData" in part:
                        inline = part["inlineData"]
                        view.images.append((inline["mimeType"], inline["data"]))
                    if "functionResponse" in part:
                        answer = part["functionResponse"]
                        view.results.append(
                            ToolResult(
                                answer.get("id"), answer["name"], _unwrap(answer["response"])
                            )
                        )
                elif "functionCall" in part:
                    call = part["functionCall"]
                    view.calls.append(ToolUse(call.get("id"), call["name"], call.get("args", {})))
        return view


def _valid_gemini(body: dict[str, Any]) -> None:
    """What Gemini checks: roles are `user` and `model`; every part has data; the
    functionResponse parts answer, by name and count, the functionCall parts just before."""
    called: list[str] = []
    for content in body["contents"]:
        role = content.get("role", "user")
        assert role in ("user", "model"), f"role {role!r}"
        parts = content.get("parts") or []
        assert parts, "a content with no parts"
        names = [p["functionResponse"]["name"] for p in parts if "functionResponse" in p]
        if names:
            assert sorted(names) == sorted(called), f"responses {names} to calls {called}"
        called = [p["functionCall"]["name"] for p in parts if "functionCall" in p]


def _unwrap(response: dict[str, Any]) -> str:
    """A functionResponse's `response` as the tool's JSON text: Gemini wants an object, so a
    codec may wrap a tool's text as `{"output": …}` (or `result`, `content`); undo that."""
    if len(response) == 1:
        [(key, value)] = response.items()
        if key in ("output", "result", "content"):
            return _json(value)
    return _json(response)


# --- OpenAI Responses ----------------------------------------------------------------------


class ResponsesProvider(ProviderAdapter):
    """OpenAI's Responses API, from `tests.support.fake_responses`."""

    name = "responses"
    kind = "openai_responses"
    fake_module = "tests.support.fake_responses"
    fake_class = "FakeResponses"
    write_size = 11

    def backend(self) -> dict[str, Any]:
        """`kind: openai_responses` with the OpenAI SDK's base_url (with `/v1`)."""
        return {
            "kind": self.kind,
            "base_url": f"${{{self.url_variable}}}/v1",
            "api_key": "up-key",
        }

    def text(
        self, fake: Any, text: str, *, usage: Tokens = SOME_TOKENS, cut_short: bool = False
    ) -> None:
        """One message item in three deltas; `incomplete` when cut short."""
        m = self.module()
        counts = m.Usage(
            input_tokens=usage.input, output_tokens=usage.output, cached_tokens=usage.cached
        )
        status = "incomplete" if cut_short else "completed"
        reason = "max_output_tokens" if cut_short else None
        reply = m.Reply(m.Text(text), usage=counts, status=status, incomplete_reason=reason)
        fake.script(Rechunked(reply, self.write_size))

    def tool_calls(self, fake: Any, calls: Sequence[ToolUse]) -> list[str | None]:
        """function_call items with `call_…` ids, arguments split every 4 characters."""
        m = self.module()
        items = []
        for index, call in enumerate(calls):
            arguments = json.dumps(call.args)
            items.append(
                m.FunctionCall(
                    call.name,
                    arguments,
                    call_id=f"call_matrix{index}",
                    cuts=tuple(range(4, len(arguments), 4)),
                )
            )
        fake.script(Rechunked(m.Reply(*items), self.write_size))
        return [item.call_id for item in items]

    def reasoning(self, fake: Any, thought: str, text: str) -> None:
        """A reasoning item (summary and encrypted content), then the message."""
        m = self.module()
        reply = m.Reply(m.Reasoning(thought, encrypted=SIGNATURE), m.Text(text))
        fake.script(Rechunked(reply, self.write_size))

    def http_error(self, fake: Any, status: int, message: str) -> None:
        """OpenAI's error body."""
        fake.script(self.module().HttpError(status, message))

    def stream_error(self, fake: Any, before: str, message: str) -> None:
        """Text deltas, then `response.failed`."""
        fake.script(Rechunked(self.module().Failed(before, message), self.write_size))

    def broken_body(self, fake: Any) -> None:
        """Half a response object."""
        fake.script(
            HalfBody(
                {
                    "id": "resp_half",
                    "object": "response",
                    "status": "completed",
                    "output": [{"type": "message", "content": [{"type": "output_text"}]}],
                }
            )
        )

    def upstream(self, fake: Any) -> Upstream:
        """The last request's `instructions`, `input` and `tools`; a request the Responses
        API would reject fails here."""
        body = fake.last.json
        _valid_responses(body)
        view = Upstream(body.get("instructions"), [], [], [], [], [], body.get("max_output_tokens"))
        view.tool_names = [
            t["name"] for t in body.get("tools") or () if t.get("type") == "function"
        ]
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == "function":
            view.forced = choice["name"]
        for item in fake.last.input:
            kind = item.get("type", "message")
            if kind == "message" and item.get("role") == "user":
                content = item["content"]
                parts = (
                    [{"type": "input_text", "text": content}]
                    if isinstance(content, str)
                    else content
                )
                for part in parts:
                    if part["type"] == "input_text":
                        view.user_texts.append(part["text"])
                    elif part["type"] == "input_image":
                        found = _DATA_URL.fullmatch(part["image_url"])
                        assert found, f"an image by {part['image_url'][:30]}"
                        view.images.append((found["type"], found["data"]))
            elif kind == "function_call":
                view.calls.append(
                    ToolUse(item["call_id"], item["name"], json.loads(item["arguments"]))
                )
            elif kind == "function_call_output":
                name = next((c.name for c in view.calls if c.id == item["call_id"]), "")
                view.results.append(ToolResult(item["call_id"], name, item["output"]))
        return view


def _valid_responses(body: dict[str, Any]) -> None:
    """What the Responses API checks: a model and an input; items have known shapes; a
    function_call_output answers a function_call made before it; a reasoning item sent
    back carries its encrypted content (the proxy sends `store: false`)."""
    assert isinstance(body.get("model"), str) and body["model"], "a model"
    items = body.get("input")
    assert isinstance(items, list | str), "an input"
    called: set[str] = set()
    for item in items if isinstance(items, list) else ():
        kind = item.get("type", "message")
        if kind == "message":
            assert item["role"] in ("user", "assistant", "system", "developer"), item["role"]
        elif kind == "function_call":
            assert isinstance(item["arguments"], str), "arguments are a JSON string"
            called.add(item["call_id"])
        elif kind == "function_call_output":
            assert item["call_id"] in called, f"an output for the unknown call {item['call_id']}"
        elif kind == "reasoning":
            assert item.get("encrypted_content"), "reasoning without its encrypted content"
    if body.get("store") is False and any(
        i.get("type") == "reasoning" for i in items if isinstance(i, dict)
    ):
        assert "reasoning.encrypted_content" in (body.get("include") or [])


PROVIDERS: tuple[ProviderAdapter, ...] = (
    OpenAIProvider(),
    AnthropicProvider(),
    GeminiProvider(),
    ResponsesProvider(),
    CompatibleProvider(),
)
