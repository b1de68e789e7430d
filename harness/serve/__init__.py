"""`harness serve`: any model the harness loads, behind an OpenAI-compatible HTTP API.

    schemas.py   the request bodies (pydantic), with the ranges a request is checked against
    errors.py    OpenAI's error shape, and the middleware that turns every failure into it
    text.py      token bytes -> text, character offsets and token strings
    engine.py    everything that touches the adapter (runs on the one model thread)
    batcher.py   the model thread, and the micro-batcher that groups concurrent requests
    handlers.py  /v1/completions and /v1/chat/completions: request -> adapter calls -> response
    app.py       the FastAPI app: routes, error handlers, start-up and shutdown

The command itself is harness/commands/serve.py; docs/serve.md describes the API.
"""
