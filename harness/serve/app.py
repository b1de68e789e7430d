"""The FastAPI app: routes, error handlers, the key check, start-up and shutdown.

    GET  /health                 {"status": "ok", "batches": {...}}  (no key needed)
    GET  /v1/models              the one model, with its max_model_len and harness fingerprint
    POST /v1/completions         string or token-id prompts; echo + logprobs; generation
    POST /v1/chat/completions    through the model's chat template
    POST /tokenize, /detokenize  vLLM's shapes

`batches` in /health counts the model-thread calls each micro-batcher made and the items they
carried (so a client can see that concurrent requests were batched): `prompts` encodes completion
prompts and scores the echoed ones (one `score_tokens` call per batch), `generate` calls the
adapter's `generate` once per batch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from harness.serve import handlers
from harness.serve.batcher import MAX_WAIT_S
from harness.serve.engine import Engine
from harness.serve.errors import Guard, install_handlers
from harness.serve.handlers import Server
from harness.serve.schemas import ChatRequest, CompletionRequest, DetokenizeRequest, TokenizeRequest


def create_app(engine: Engine, *, max_batch: int = 8, max_wait_s: float = MAX_WAIT_S, api_key: str | None = None) -> FastAPI:
    server = Server.build(engine, max_batch, max_wait_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        server.scorer.start()
        server.generator.start()
        yield
        await server.scorer.stop()
        await server.generator.stop()
        server.thread.close()

    app = FastAPI(title="harness serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = server
    install_handlers(app)
    app.add_middleware(Guard, api_key=api_key)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "batches": {"prompts": server.scorer.stats.as_dict(), "generate": server.generator.stats.as_dict()},
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [_model_card(server)]}

    @app.get("/v1/models/{model_id:path}")
    async def model(model_id: str) -> dict[str, Any]:
        server.check_model(model_id)
        return _model_card(server)

    # Responses go out as JSONResponse directly: an echoed 2,049-token prompt is thousands of
    # small dicts, which FastAPI's generic encoder would walk again for nothing.
    @app.post("/v1/completions")
    async def completions(req: CompletionRequest) -> JSONResponse:
        return JSONResponse(await handlers.completions(server, req))

    @app.post("/v1/chat/completions")
    async def chat_completions(req: ChatRequest) -> JSONResponse:
        return JSONResponse(await handlers.chat_completions(server, req))

    @app.post("/tokenize")
    async def tokenize(req: TokenizeRequest) -> dict[str, Any]:
        server.check_model(req.model)
        ids = await server.thread.run(engine.encode, req.prompt)
        if req.add_special_tokens:
            ids = [engine.prefix_token, *ids]
        return {"tokens": ids, "count": len(ids), "max_model_len": engine.max_length}

    @app.post("/detokenize")
    async def detokenize(req: DetokenizeRequest) -> dict[str, Any]:
        server.check_model(req.model)
        server.check_ids(req.tokens, "tokens")
        return {"prompt": await server.thread.run(engine.decode, req.tokens)}

    return app


def _model_card(server: Server) -> dict[str, Any]:
    info = server.engine.info
    return {
        "id": server.model_id,
        "object": "model",
        "created": server.created,
        "owned_by": "harness",
        "max_model_len": info.max_length,
        "harness_fingerprint": info.fingerprint,
        "harness_adapter": info.adapter,
        "has_chat_template": server.engine.has_chat_template,
    }
