"""The real ``chunkr-ai`` client against ``taskcore serve``'s handler on a real socket
(uvicorn in a thread, 127.0.0.1, an ephemeral port): create, poll to completion while a
worker thread finishes the task, get, update, cancel back, a refused update, delete;
prints what it saw as JSON.

Run as a subprocess by tests/test_server_clients.py: the client applies ``nest_asyncio``
to the whole process, which no other test should share.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx
from chunkr_ai import Chunkr
from chunkr_ai.models import Configuration

from server_helpers import running
from taskcore.chunkr import Chunk, Output, Segment
from taskcore.server import Services


def finish(services: Services, task_id: str) -> None:
    """The worker's side: pick the task up and succeed it."""
    services.chunkr.start(task_id)
    segment = Segment("s1", "Title", "Annual report")
    services.chunkr.succeed(task_id, Output([Chunk("c1", [segment])], page_count=1))


async def scenario(url: str, services: Services) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    client: Any = Chunkr(url=f"{url}/api/v1", api_key="KEY")
    client._client = httpx.AsyncClient()
    task = await client.create_task(b"%PDF-1.4 not really", Configuration(), filename="a.pdf")
    seen["created"] = [task.status.value, task.message, task.task_url]
    worker = threading.Thread(target=finish, args=(services, task.task_id))
    worker.start()
    done = await task.poll()  # GETs task_url until the task is no longer Starting/Processing
    worker.join()
    seen["polled"] = [done.status.value, done.output.chunks[0].segments[0].content]
    updated = await client.update_task(task.task_id, Configuration(high_resolution=True))
    seen["updated"] = [updated.status.value, updated.message]
    await client.cancel_task(task.task_id)
    back = await client.get_task(task.task_id)
    seen["reverted"] = [back.status.value, back.configuration.high_resolution]
    try:
        await client.update_task(task.task_id, Configuration())
    except httpx.HTTPStatusError as error:
        seen["unchanged"] = error.response.status_code
    await client.delete_task(task.task_id)
    try:
        await client.get_task(task.task_id)
    except httpx.HTTPStatusError as error:
        seen["deleted"] = [error.response.status_code, error.response.text]
    await client._client.aclose()
    return seen


def main() -> None:
    with running() as (url, services):
        services.keys.chunkr["KEY"] = "user"
        seen = asyncio.run(scenario(url, services))
    print(json.dumps({"url": url, **seen}))


if __name__ == "__main__":
    main()
