"""The HTTP ceiling: a bare uvicorn + FastAPI endpoint on the webhook's path that reads
the body and answers 202, served the way `leadfarm` serves (uvicorn, no access log).

Run as `python -m bench.bare --port P`.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI, Request, Response


def create_app() -> FastAPI:
    app = FastAPI()

    @app.post("/ingest/v1/webhooks/{name}")
    async def webhook(name: str, request: Request) -> Response:
        await request.body()
        return Response(b'{"status":"ok"}', status_code=202, media_type="application/json")

    add_readiness(app)
    return app


def add_readiness(app: FastAPI) -> None:
    """`GET /readyz`, which the bench waits for before driving a ceiling."""

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
