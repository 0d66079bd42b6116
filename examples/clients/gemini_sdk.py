"""Talk to the proxy through the official google-genai SDK: plain, streaming, a tool call.

    ENGINE_BASE_URL=http://127.0.0.1:8000/v1 python examples/clients/gemini_sdk.py

The SDK takes the server's root as its base_url (it adds `/v1/models/…` itself).
"""

import os

from google import genai
from google.genai import types

root = os.environ.get("ENGINE_BASE_URL", "http://127.0.0.1:8000/v1").removesuffix("/v1")
client = genai.Client(
    api_key=os.environ.get("ENGINE_API_KEY", "not-needed-for-the-mock"),
    http_options=types.HttpOptions(base_url=root),
)

reply = client.models.generate_content(model="mock-1", contents="Hello, Gemini proxy!")
print("plain:", reply.text)

chunks = client.models.generate_content_stream(model="mock-1", contents="Stream this back")
print("streamed:", "".join(chunk.text or "" for chunk in chunks))


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"18°C and sunny in {city}"


# The SDK calls the Python function itself and sends its result back (automatic function
# calling); the mock backend calls a tool when asked `call TOOL {json}`.
final = client.models.generate_content(
    model="mock-1",
    contents='call get_weather {"city": "Paris"}',
    config=types.GenerateContentConfig(tools=[get_weather]),
)
history = final.automatic_function_calling_history or []
calls = [p.function_call for c in history for p in c.parts or () if p.function_call]
print("tool call:", calls[0].name, dict(calls[0].args or {}))
print("after tool:", final.text)
print("models:", [m.name for m in client.models.list()])
