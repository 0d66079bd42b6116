"""Talk to the proxy through the official Anthropic SDK: plain, streaming, a tool call.

    ENGINE_BASE_URL=http://127.0.0.1:8000/v1 python examples/clients/anthropic_sdk.py

The SDK takes the Anthropic front-end's root as its base_url (it adds `/v1/messages`).
"""

import os

import anthropic

root = os.environ.get("ENGINE_BASE_URL", "http://127.0.0.1:8000/v1").removesuffix("/v1")
client = anthropic.Anthropic(
    base_url=f"{root}/anthropic",
    api_key=os.environ.get("ENGINE_API_KEY", "not-needed-for-the-mock"),
)

reply = client.messages.create(
    model="mock-1", max_tokens=100, messages=[{"role": "user", "content": "Hello, Claude proxy!"}]
)
print("plain:", reply.content[0].text)

with client.messages.stream(
    model="mock-1", max_tokens=100, messages=[{"role": "user", "content": "Stream this back"}]
) as stream:
    print("streamed:", "".join(stream.text_stream))

weather_tool = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
messages = [{"role": "user", "content": 'call get_weather {"city": "Paris"}'}]
first = client.messages.create(
    model="mock-1", max_tokens=100, messages=messages, tools=[weather_tool]
)
call = next(block for block in first.content if block.type == "tool_use")
print("tool call:", call.name, call.input)
messages += [
    {"role": "assistant", "content": first.content},
    {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18°C and sunny"}],
    },
]
final = client.messages.create(
    model="mock-1", max_tokens=100, messages=messages, tools=[weather_tool]
)
print("after tool:", final.content[0].text)
print("tokens:", client.messages.count_tokens(model="mock-1", messages=messages).input_tokens > 0)
print("models:", [m.id for m in client.models.list()])
