"""The canonical model: one request shape and one event stream for every wire protocol.

Codecs translate each protocol to and from these types; stages only ever see them. The
request is designed to carry what OpenAI Chat/Responses, Anthropic Messages and Gemini
can express (system blocks, tool calls and results with ids, images, reasoning with
signatures); a response is a stream of small events, and a non-streaming response is the
same events collected.

What only one protocol says about a part (Anthropic's `cache_control` on a block, its
`citations`, a tool's `input_examples`, a Responses tool's `output_schema`) travels on that
part, in its `vendor` field: protocol name → that protocol's own fields, such as
``{"anthropic": {"cache_control": {"type": "ephemeral"}}}``. The codec that decoded them
writes them back for a backend of its protocol; the others leave them out and say so.

The content parts, messages and tools are immutable: a stage that edits one builds a new
one (``part.model_copy(update={"text": ...})``, which keeps `vendor`) in a new list, so it
never changes a copy someone else holds, such as a stored conversation.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Frozen(_Model):
    """A canonical object that is replaced, never edited in place."""

    model_config = ConfigDict(frozen=True)


Vendor = dict[str, dict[str, Any]]


def _vendor(of: str = "this part") -> Any:
    """A `vendor` field, left out of dumps when empty."""
    return Field(
        default_factory=dict,
        exclude_if=operator.not_,
        description=f"the fields of {of} that only one protocol has, by protocol name, "
        "for backends of that protocol",
    )


# --- content parts -------------------------------------------------------------------------


class TextPart(_Frozen):
    """Plain text."""

    type: Literal["text"] = "text"
    text: str
    phase: str | None = Field(
        default=None,
        description="the Responses API's phase of the assistant message it is "
        "(`commentary`, `final_answer`), which Responses models want back",
    )
    vendor: Vendor = _vendor()


class ImagePart(_Frozen):
    """An image, either by URL or inline base64 data with its media type."""

    type: Literal["image"] = "image"
    url: str | None = None
    data: str | None = Field(default=None, description="base64 without the data: prefix")
    media_type: str | None = None
    detail: str | None = None
    vendor: Vendor = _vendor()

    @classmethod
    def from_url(cls, url: str, detail: str | None = None) -> ImagePart:
        """An image from a URL as clients send it: a `data:` URL becomes inline data."""
        if url.startswith("data:"):
            header, _, data = url.partition(",")
            return cls(data=data, media_type=header[5:].split(";")[0] or None, detail=detail)
        return cls(url=url, detail=detail)

    def inline(self) -> tuple[str | None, str] | None:
        """The media type and base64 data of an inline image (data or a `data:` URL)."""
        if self.data is not None:
            return self.media_type, self.data
        if self.url and self.url.startswith("data:"):
            image = ImagePart.from_url(self.url)
            return image.media_type, image.data or ""
        return None


class ToolCallPart(_Frozen):
    """A call the assistant made to a tool; `arguments` is the raw JSON text."""

    type: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    arguments: str = "{}"
    vendor: Vendor = _vendor()


class OpaquePart(_Frozen):
    """Content only its own protocol understands (a PDF `document` block, a server tool's
    result), kept verbatim for backends of that protocol. The others get its `text`, a
    plain rendering, when it has one, and leave it out (saying so) when it has none."""

    type: Literal["opaque"] = "opaque"
    protocol: str
    data: dict[str, Any]
    text: str | None = Field(
        default=None, description="what backends of other protocols get instead of `data`"
    )


class ToolResultPart(_Frozen):
    """The result of a tool call, answered by the client."""

    type: Literal["tool_result"] = "tool_result"
    tool_call_id: str
    name: str | None = Field(default=None, description="the tool's name, when the protocol says")
    content: list[TextPart | ImagePart | OpaquePart] = Field(default_factory=list)
    is_error: bool = False
    vendor: Vendor = _vendor()

    def text(self) -> str:
        """The result as text: its text parts, and what other content says in text."""
        return "".join(p.text or "" for p in self.content if isinstance(p, TextPart | OpaquePart))


class ReasoningPart(_Frozen):
    """Model reasoning ("thinking"), with the provider's signature or encrypted form."""

    type: Literal["reasoning"] = "reasoning"
    text: str = ""
    signature: str | None = None
    redacted: bool = False
    id: str | None = Field(
        default=None, description="the provider's id of this reasoning (a Responses item id)"
    )
    vendor: Vendor = _vendor()


Part = Annotated[
    TextPart | ImagePart | ToolCallPart | ToolResultPart | ReasoningPart | OpaquePart,
    Field(discriminator="type"),
]

Role = Literal["system", "user", "assistant", "tool"]


class Message(_Frozen):
    """One conversation turn. Tool results travel in `tool` messages; a `system` message
    after the first turn is an instruction given in the middle of the conversation."""

    role: Role
    content: list[Part] = Field(default_factory=list)
    name: str | None = None
    vendor: Vendor = _vendor("this turn itself (an Anthropic system turn's `output_config`)")

    def text(self, separator: str = "") -> str:
        """The text parts, joined by `separator`."""
        return separator.join(p.text for p in self.content if isinstance(p, TextPart))


# --- tools and settings --------------------------------------------------------------------


class Namespace(_Frozen):
    """The group a tool belongs to (a Responses `namespace` tool), for the clients and
    backends that know groups; the others see the tool by its flat name."""

    name: str
    description: str | None = None
    member: str = Field(description="the tool's own name inside the group")


class Tool(_Frozen):
    """A function the model may call."""

    name: str = Field(description="a name every provider accepts (a namespaced tool's flat name)")
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None
    namespace: Namespace | None = None
    deferred: bool = Field(
        default=False,
        description="offered only through the provider's tool search (Anthropic's "
        "`defer_loading`): backends without one leave it out",
    )
    vendor: Vendor = _vendor("this tool")


class HostedTool(_Frozen):
    """A tool the provider runs itself (web search, code execution…), as the client
    declared it. A backend of the same protocol gets `data` verbatim; `kind` web_search
    becomes another provider's own web search; other kinds go only to their protocol."""

    kind: str = Field(description="`web_search`, or the client's own type name")
    protocol: str
    data: dict[str, Any]


class ToolChoice(_Model):
    """How the model should pick tools: `auto`, `none`, `required` or one named `tool`."""

    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str | None = None


Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class Reasoning(_Model):
    """Reasoning settings: an effort level (OpenAI style) and/or a token budget (Anthropic)."""

    effort: Effort | None = None
    budget_tokens: int | None = None


class Sampling(_Model):
    """Sampling parameters; None means the provider's default."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None


class ChatRequest(_Model):
    """A protocol-neutral chat request."""

    model: str
    system: list[TextPart] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    tools: list[Tool] = Field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    sampling: Sampling = Field(default_factory=Sampling)
    reasoning: Reasoning | None = None
    response_format: dict[str, Any] | None = None
    hosted_tools: list[HostedTool] = Field(default_factory=list)
    stream: bool = False
    include_usage: bool = False
    metadata: dict[str, str] = Field(default_factory=dict)
    forward_headers: dict[str, str] = Field(
        default_factory=dict,
        description="client headers (lower-case names) a backend of the client's protocol "
        "family forwards, such as `anthropic-beta`",
    )
    extra: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="request-level fields a codec does not model, keyed by protocol, for "
        "same-protocol backends (a part's own are in its `vendor`)",
    )
    continuation: str | None = Field(
        default=None,
        description="an earlier response, held by the provider, that this request continues "
        "(the Responses API's `previous_response_id` the proxy does not know); a backend "
        "that cannot continue one refuses the request",
    )
    client_protocol: str | None = Field(
        default=None, description="the wire protocol the client spoke (its codec's name)"
    )
    client_only: list[str] = Field(
        default_factory=list,
        description="names of what the client sent that only backends of its own protocol "
        "carry (kept in `extra` and the parts' `vendor`); other backends leave them out and "
        "say so",
    )

    def last_user_message(self) -> Message | None:
        """The last message with role `user`, if any."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message
        return None


# --- response events -----------------------------------------------------------------------

# `pause`: the provider paused a long turn (Anthropic's server tools) for the client to resume.
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error", "pause"]


class ResponseStart(_Model):
    """The first event of a response: its id and the model that answers."""

    type: Literal["start"] = "start"
    id: str
    model: str
    created: int = 0


class TextDelta(_Model):
    """A piece of assistant text."""

    type: Literal["text_delta"] = "text_delta"
    text: str
    phase: str | None = Field(
        default=None, description="set when the text starts a message of that phase"
    )


class ReasoningDelta(_Model):
    """A piece of reasoning text, or its signature when the provider sends one."""

    type: Literal["reasoning_delta"] = "reasoning_delta"
    text: str = ""
    signature: str | None = None
    redacted: bool = Field(
        default=False, description="the signature holds encrypted reasoning with no text"
    )
    id: str | None = Field(default=None, description="the provider's id of this reasoning")


class ToolCallStart(_Model):
    """The start of tool call number `index` of this response."""

    type: Literal["tool_call_start"] = "tool_call_start"
    index: int
    id: str
    name: str


class ToolCallDelta(_Model):
    """A piece of the JSON arguments of tool call `index`."""

    type: Literal["tool_call_delta"] = "tool_call_delta"
    index: int
    arguments: str


class ToolCallEnd(_Model):
    """Tool call `index` is complete."""

    type: Literal["tool_call_end"] = "tool_call_end"
    index: int


class Usage(_Model):
    """Token counts for the whole response."""

    type: Literal["usage"] = "usage"
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_creation_tokens: int = Field(
        default=0, description="input tokens written to the provider's prompt cache (Anthropic)"
    )


class Finish(_Model):
    """The response is complete."""

    type: Literal["finish"] = "finish"
    reason: FinishReason = "stop"


class OpaqueBlock(_Model):
    """A whole output block only its own protocol understands (a server tool's call or
    result), passed to clients of that protocol and left out for the others."""

    type: Literal["opaque"] = "opaque"
    protocol: str
    data: dict[str, Any]


class ErrorEvent(_Model):
    """An error after the response started; the front-end reports it in its own shape."""

    type: Literal["error"] = "error"
    status: int = 500
    code: str = "server_error"
    message: str


class KeepAlive(_Model):
    """Nothing to show yet: the response is still being started (a strategy waits for its
    targets). A streamed reply sends a keep-alive where its protocol allows one (an SSE
    comment); a whole one has nothing to add."""

    type: Literal["keep_alive"] = "keep_alive"


class Relayed(NamedTuple):
    """One upstream message handed over as it came, with the events it carries.

    Only a stream that no stage reads, from a backend speaking the client's own protocol,
    has these (see `Backend.relays`): its front-end writes `data` as is where it can say
    no better, and encodes `events` itself where it must. Messages of plain text may come
    undecoded, `text` set and their `events` empty (see the decoder's `plain`); one that
    carries usage or the finish never does, so whoever counts those looks inside.
    """

    data: bytes
    events: tuple[Event, ...]
    text: bool = False  # plain text, undecoded


class Bundle(NamedTuple):
    """Events that came together from one read of an upstream stream that no stage reads
    (see `engine.response.direct_to`), handed on as one: whoever writes the
    stream unpacks it. An error event never is in one."""

    events: tuple[Event, ...]


def carried(event: Event) -> tuple[Event, ...]:
    """The canonical events `event` stands for: a `Relayed` or `Bundle` one's own, else
    itself (a relayed message of plain text stands for none: see `Relayed.text`)."""
    return event.events if isinstance(event, Relayed | Bundle) else (event,)


Event = (
    ResponseStart
    | TextDelta
    | ReasoningDelta
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | Usage
    | Finish
    | OpaqueBlock
    | ErrorEvent
    | KeepAlive
    | Relayed
    | Bundle
)
