"""The real ``chunkr-ai`` client (0.3.7) driving taskcore's Chunkr router in-process,
through an ``httpx.MockTransport``; prints what it saw as JSON.

Run as a subprocess by tests/test_chunkr_client.py: the client applies
``nest_asyncio`` to the whole process on every call, which no other test should share.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from chunkr_ai import Chunkr
from chunkr_ai.models import Configuration, GenerationConfig, SegmentFormat, SegmentProcessing

from taskcore.chunkr import Chunk, ChunkrTasks, Output, Segment
from taskcore.chunkr.http import chunkr_router
from taskcore.http import Request
from taskcore.store import MemoryStore

BASE = "https://chunkr.example"
SERVICE = ChunkrTasks(MemoryStore())
ROUTER = chunkr_router(SERVICE, {"KEY": "user"}, base_url=BASE)


def handle(request: httpx.Request) -> httpx.Response:
    """An httpx request answered by the sans-IO router."""
    ours = Request(
        request.method,
        request.url.raw_path.decode("ascii").partition("?")[0],
        dict(request.headers),
        request.content,
        dict(request.url.params),
    )
    answer = ROUTER.handle(ours)
    return httpx.Response(answer.status, headers=dict(answer.headers), content=answer.body)


async def scenario() -> dict[str, Any]:
    seen: dict[str, Any] = {}
    client: Any = Chunkr(url=f"{BASE}/api/v1", api_key="KEY")
    client._client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    config = Configuration(
        expires_in=3600,
        segment_processing=SegmentProcessing(table=GenerationConfig(format=SegmentFormat.HTML)),
    )
    task = await client.create_task(b"%PDF-1.4 not really", config, filename="a.pdf")
    seen["created"] = [task.status.value, task.message, task.task_url]
    SERVICE.start(task.task_id)
    segment = Segment("s1", "Table", "a | b", html="<table></table>")
    SERVICE.succeed(task.task_id, Output([Chunk("c1", [segment])], page_count=1))
    done = await client.get_task(task.task_id)
    seen["succeeded"] = [done.status.value, done.output.chunks[0].segments[0].html]
    seen["table_format"] = done.configuration.segment_processing.table.format.value
    bare = await client.get_task(task.task_id, include_chunks=False, base64_urls=True)
    seen["without_chunks"] = [len(bare.output.chunks), bare.configuration.input_file_url[:28]]
    updated = await client.update_task(task.task_id, Configuration(high_resolution=True))
    seen["updated"] = [updated.status.value, updated.message, updated.configuration.high_resolution]
    await client.cancel_task(task.task_id)
    back = await client.get_task(task.task_id)
    polled = await back.poll()  # through task_url
    seen["reverted"] = [polled.status.value, polled.message, polled.configuration.high_resolution]
    try:
        await client.update_task(task.task_id, Configuration())
    except httpx.HTTPStatusError as error:
        seen["unchanged"] = [error.response.status_code, error.response.text]
    await client.delete_task(task.task_id)
    try:
        await client.get_task(task.task_id)
    except httpx.HTTPStatusError as error:
        seen["deleted"] = [error.response.status_code, error.response.text]
    await client._client.aclose()
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(scenario())))
