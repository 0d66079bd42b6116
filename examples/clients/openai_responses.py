"""The OpenAI Responses API through the proxy: plain, streaming, a tool call, and chaining.

    ENGINE_BASE_URL=http://127.0.0.1:8000/v1 python examples/clients/openai_responses.py

The proxy keeps completed responses (unless `store=False`), so `previous_response_id`
continues a conversation whichever backend answers it.
"""

import json
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("ENGINE_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("ENGINE_API_KEY", "not-needed-for-the-mock"),
)

reply = client.responses.create(
    model="mock-1", instructions="You are a helpful assistant.", input="Hello, responses!"
)
print("plain:", reply.output_text)

with client.responses.stream(model="mock-1", input="Stream this response") as stream:
    deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
    final = stream.get_final_response()
print("streamed:", "".join(deltas), f"({final.usage.output_tokens} output tokens)")

weather_tool = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
first = client.responses.create(
    model="mock-1", input='call get_weather {"city": "Paris"}', tools=[weather_tool]
)
call = next(item for item in first.output if item.type == "function_call")
print("tool call:", call.name, json.loads(call.arguments))
after = client.responses.create(
    model="mock-1",
    previous_response_id=first.id,
    input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18°C and sunny"}],
    tools=[weather_tool],
)
print("after tool:", after.output_text)
print("stored:", client.responses.retrieve(after.id).output_text == after.output_text)
