"""An asyncio coroutine chain run by asyncio.run; the innermost coroutine spins."""
import asyncio
import sys

from _ready import capture, signal_ready


async def leaf(ready):  # F:leaf
    await asyncio.sleep(0)
    signal_ready(ready, frames=capture(sys._getframe()))
    while True: pass  # L:leaf


class Service:
    async def handle(self, ready):  # F:handle
        await leaf(ready)  # L:handle


async def outer(ready):  # F:outer
    await Service().handle(ready)  # L:outer


if __name__ == "__main__":
    asyncio.run(outer(sys.argv[1]))  # L:main
