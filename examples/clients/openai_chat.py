"""Chat with the proxy through the official OpenAI SDK: plain, streaming, and a tool call.

    ENGINE_BASE_URL=http://127.0.0.1:8000/v1 python examples/clients/openai_chat.py
"""

import json
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("ENGINE_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("ENGINE_API_KEY", "not-needed-for-the-mock"),
)

reply = client.chat.completions.create(
    model="mock-1", messages=[{"role": "user", "content": "Hello, proxy!"}]
)
print("plain:", reply.choices[0].message.content)

stream = client.chat.completions.create(
    model="mock-1",
    messages=[{"role": "user", "content": "Stream this back to me"}],
    stream=True,
    stream_options={"include_usage": True},
)
text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
print("streamed:", text)

weather_tool = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
messages = [{"role": "user", "content": 'call get_weather {"city": "Paris"}'}]
first = client.chat.completions.create(model="mock-1", messages=messages, tools=[weather_tool])
call = first.choices[0].message.tool_calls[0]
print("tool call:", call.function.name, json.loads(call.function.arguments))
messages += [
    first.choices[0].message.model_dump(exclude_none=True),
    {"role": "tool", "tool_call_id": call.id, "content": "18°C and sunny"},
]
final = client.chat.completions.create(model="mock-1", messages=messages, tools=[weather_tool])
print("after tool:", final.choices[0].message.content)
