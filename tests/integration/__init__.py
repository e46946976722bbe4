"""Real libraries (aiohttp, uvicorn + httpx, websockets) on loopback, on stock asyncio and nexusloop."""
