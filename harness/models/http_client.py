"""The one HTTP client of served models: retry policy, timeouts, error mapping and counters.

Everything that can go wrong on the network is decided here, so the `openai` adapter reads as
"build request -> send -> parse" and a test server can inject every fault:

- Retried: 429, 5xx, connection errors (refused, reset, dropped mid-answer) and timeouts. Every
  other answer of 400 or more fails at once: resending a bad request cannot make it good.
- Waiting between tries: the server's `Retry-After` (seconds or an HTTP date) when it sends one
  (at most RETRY_AFTER_CAP_S), otherwise exponential back-off from BACKOFF_START_S doubling up to
  BACKOFF_CAP_S, with jitter (each wait shortened by up to a quarter) so that clients that failed
  together do not come back together. The same rules as the official `openai` client.
- A request is tried at most `1 + max_retries` times; each try may take `timeout_s`.
- Errors are one line naming the server, the call and what came back (the status and the first
  line of the server's own message). The API key is sent as a bearer token and never appears in
  a message: the client reads it from the environment variable *named* in the configuration,
  and scrubs it from anything a server echoes back.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from harness.errors import HarnessError

BACKOFF_START_S = 0.5
BACKOFF_CAP_S = 8.0
RETRY_AFTER_CAP_S = 120.0
MESSAGE_CHARS = 300  # of a server's error message quoted in ours


class ServerError(Exception):
    """A request that got no usable answer. `status` is the HTTP status (None when no answer came
    back at all); `retryable` says whether sending it again may help."""

    def __init__(self, message: str, status: int | None = None, retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """The wait a `Retry-After` header asks for: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_S)


def backoff_seconds(attempt: int) -> float:
    """Wait before try `attempt + 1` (attempt counts from 0) when the server named none."""
    return min(BACKOFF_CAP_S, BACKOFF_START_S * 2**attempt) * (1 - 0.25 * random.random())


def server_message(response: Any) -> str:
    """The first line of the error message in a server's answer (OpenAI's {"error": {"message"}},
    FastAPI's {"detail"}, or the body's text)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        elif error is not None:
            message = error
        message = message or body.get("detail") or body.get("message")
    if message is None:
        message = response.text
    if not isinstance(message, str):
        message = json.dumps(message)
    lines = message.strip().splitlines()
    first = lines[0] if lines else "no message"
    return first[:MESSAGE_CHARS] + ("..." if len(first) > MESSAGE_CHARS else "")


class HTTPClient:
    """JSON over HTTP to one server, with the retry policy above.

    `post_many` sends up to `concurrency` requests at once (threads sharing one connection pool)
    and returns the answers in input order, a ServerError in place of each request that failed.
    """

    def __init__(
        self, server: str, *, api_key_env: str | None = None, timeout_s: float = 120.0, max_retries: int = 5, concurrency: int = 4
    ) -> None:
        import httpx2

        self.server = server
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.concurrency = int(concurrency)
        self._key = _read_key(server, api_key_env)
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        self._http = httpx2.Client(
            headers=headers,
            timeout=httpx2.Timeout(self.timeout_s),
            limits=httpx2.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
            trust_env=True,
        )
        self._lock = threading.Lock()
        # Counters for a requests/s display: tries sent, retries, requests that failed for good,
        # requests answered, and the wall time during which at least one request was in flight.
        self.sent = self.retries = self.failures = self.answered = 0
        self.busy_s = 0.0
        self._in_flight = 0
        self._busy_since = 0.0

    # ---- sending -------------------------------------------------------------------------

    def get(self, url: str) -> Any:
        return self._request("GET", url, None)

    def post(self, url: str, body: dict[str, Any]) -> Any:
        return self._request("POST", url, body)

    def post_many(self, url: str, bodies: Sequence[dict[str, Any]]) -> list[Any]:
        """Answers in input order; a ServerError stands in for each request that failed."""

        def one(body: dict[str, Any]) -> Any:
            try:
                return self._request("POST", url, body)
            except ServerError as e:
                return e

        if len(bodies) <= 1 or self.concurrency == 1:
            return [one(b) for b in bodies]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(bodies))) as pool:
            return list(pool.map(one, bodies))

    def _request(self, method: str, url: str, body: dict[str, Any] | None) -> Any:
        where = f"{self.server}: {method} {url_path(url)}"
        attempt = 0
        self._started()
        try:
            while True:
                error = self._try(method, url, body, where)
                if not isinstance(error, ServerError):
                    self._count(answered=1)
                    return error
                if not error.retryable or attempt >= self.max_retries:
                    self._count(failures=1)
                    if attempt:
                        raise ServerError(f"{error} (after {attempt} {'retry' if attempt == 1 else 'retries'})", error.status)
                    raise error
                wait = error.retry_after if error.retry_after is not None else backoff_seconds(attempt)
                self._count(retries=1)
                time.sleep(wait)
                attempt += 1
        finally:
            self._stopped()

    def _try(self, method: str, url: str, body: dict[str, Any] | None, where: str) -> Any:
        """The parsed JSON answer, or a ServerError saying what happened instead."""
        import httpx2

        self._count(sent=1)
        try:
            response = self._http.request(method, url, json=body)
        except httpx2.TimeoutException:
            return ServerError(f"{where} got no answer within {self.timeout_s:g} s", retryable=True)
        except httpx2.TransportError as e:
            return ServerError(f"{where} failed: {self._scrub(_first_line(e))}", retryable=True)
        status = response.status_code
        if status >= 400 or status < 200:
            retryable = status == 429 or status >= 500
            retry_after = retry_after_seconds(response.headers.get("retry-after")) if retryable else None
            message = self._scrub(server_message(response))
            return ServerError(f"{where} answered {status}: {message}", status, retryable, retry_after)
        try:
            return response.json()
        except ValueError:
            return ServerError(f"{where} answered {status} with a body that is not JSON", status)

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "[key]") if self._key else text

    # ---- counters ------------------------------------------------------------------------

    def _count(self, sent: int = 0, retries: int = 0, failures: int = 0, answered: int = 0) -> None:
        with self._lock:
            self.sent += sent
            self.retries += retries
            self.failures += failures
            self.answered += answered

    def _started(self) -> None:
        with self._lock:
            if self._in_flight == 0:
                self._busy_since = time.perf_counter()
            self._in_flight += 1

    def _stopped(self) -> None:
        with self._lock:
            self._in_flight -= 1
            if self._in_flight == 0:
                self.busy_s += time.perf_counter() - self._busy_since

    def progress_note(self) -> str:
        """e.g. "12.3 req/s, 2 retries, 1 failed" over the requests sent so far."""
        with self._lock:
            busy = self.busy_s + (time.perf_counter() - self._busy_since if self._in_flight else 0.0)
            done = self.answered + self.failures
            note = f"{done / busy:.1f} req/s" if busy > 0 else "0.0 req/s"
            if self.retries:
                note += f", {self.retries} {'retry' if self.retries == 1 else 'retries'}"
            if self.failures:
                note += f", {self.failures} failed"
            return note

    def close(self) -> None:
        self._http.close()


def _read_key(server: str, api_key_env: str | None) -> str | None:
    if not api_key_env:
        return None
    key = os.environ.get(api_key_env, "")
    if not key.strip():
        raise HarnessError(
            f"{server}: the environment variable {api_key_env} (api_key_env) is not set or empty; "
            f"export the API key in it"
        )
    return key.strip()


def url_path(url: str) -> str:
    """The path of a URL, for messages (the server is named separately)."""
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
