"""Reading a server-sent events stream in tests: the data of the events of one kind."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable


async def event_data(
    chunks: AsyncIterator[bytes], kind: str, enough: Callable[[list[str]], bool], seconds: float
) -> list[str]:
    """The data of each ``kind`` event of a stream, in order, until ``enough`` of what was
    read so far holds (or the time is up)."""
    found: list[str] = []
    buffer = ""

    async def read() -> None:
        nonlocal buffer
        async for chunk in chunks:
            buffer += chunk.decode()
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                lines = block.split("\n")
                if f"event: {kind}" in lines:
                    found.append("\n".join(x[6:] for x in lines if x.startswith("data: ")))
                    if enough(found):
                        return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(read(), seconds)
    return found
