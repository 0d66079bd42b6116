"""In-chat commands with the async OpenAI SDK: pick a backend for this session only.

    ENGINE_BASE_URL=http://127.0.0.1:8000/v1 python examples/clients/openai_async_commands.py
"""

import asyncio
import os

from openai import AsyncOpenAI


async def main() -> None:
    client = AsyncOpenAI(
        base_url=os.environ.get("ENGINE_BASE_URL", "http://127.0.0.1:8000/v1"),
        api_key="not-needed-for-the-mock",
        default_headers={"x-session-id": "example-session"},
    )
    for text in ["!/help", "!/model(mock:mock-1)", "!/model", "Which model is this?"]:
        reply = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
        print(f"{text!r} -> {reply.model}: {reply.choices[0].message.content}")
    await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "!/model()"}]
    )
    await client.close()


asyncio.run(main())
