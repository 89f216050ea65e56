"""The benchmark's server process: Trustroom's app as `trustroom serve` builds it, plus a
bare baseline endpoint in the same process that streams a request body to a plain file
(fsynced before it answers, as any upload that is then recorded must be; `?durable=false`
leaves it in the page cache) and back, with no parsing, authentication or encryption.

    python benchmarks/exchange_server.py PORT   (settings from TRUSTROOM_* variables)
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import anyio
import uvicorn
from fastapi import Request
from fastapi.responses import FileResponse, JSONResponse

from trustroom.app import create_app
from trustroom.settings import Settings


def main(port: int) -> None:
    settings = Settings()
    app = create_app(settings)
    bare = Path(settings.data_dir) / "bare"
    bare.mkdir(parents=True, exist_ok=True)

    @app.post("/bench/bare", include_in_schema=False)
    async def bare_upload(request: Request, durable: bool = True) -> JSONResponse:
        name = uuid.uuid4().hex
        size = 0
        async with await anyio.open_file(bare / name, "wb") as file:
            async for chunk in request.stream():
                await file.write(chunk)
                size += len(chunk)
            if durable:  # on disk before the answer, as an upload that is then recorded must be
                await file.flush()
                await anyio.to_thread.run_sync(os.fsync, file.wrapped.fileno())
        return JSONResponse({"name": name, "byteSize": size}, status_code=201)

    @app.get("/bench/bare/{name}", include_in_schema=False)
    async def bare_download(name: str) -> FileResponse:
        return FileResponse(bare / Path(name).name, media_type="application/octet-stream")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(int(sys.argv[1]))
