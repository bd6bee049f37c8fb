"""HTTP transport to one CVAT server: a pooled session, timeouts, and retries only where safe.

Why: FiftyOne's CVAT client had no timeouts, no retries, ``verify=False`` and unbounded loops
(``shared/reference/fiftyone-implementation-notes.md``). Every call here has a connect and a read
timeout; retries use exponential backoff with jitter and are bounded in count and total time.

Which failures are retried:

* connection errors where the request provably never reached the server (refused, DNS,
  connect timeout): any method;
* HTTP 429 (throttled): any method, login included: CVAT (DRF) checks its rate limits before
  the view runs, so a throttled request did nothing. The wait is what ``Retry-After`` says,
  bounded only by ``max_total``;
* dropped connections, read timeouts, truncated bodies and HTTP 502/503/504: only for
  idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS) or calls the caller marks
  ``retry=True`` because repeating them cannot create a second object (login; starting an
  export, which CVAT deduplicates by its deterministic ``rq_id``). A ``POST``/``PATCH`` that
  creates something is never repeated: its failure is reported with a clear message instead.
  TUS chunk ``PATCH`` requests are resumed by the upload code (``HEAD`` gives the offset).

One ``requests.Session`` is shared by all threads; its connection pool is sized with
``pool_size`` so a thread pool of that many workers never waits for a connection.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from annosync.cvat.errors import (
    CvatBadRequest,
    CvatConnectionError,
    CvatError,
    CvatProtocolError,
    CvatTimeout,
    error_from_response,
)

__all__ = [
    "JSON_MEDIA_TYPE",
    "RetryPolicy",
    "Timeouts",
    "Transport",
]

log = logging.getLogger("annosync.cvat")

JSON_MEDIA_TYPE = "application/vnd.cvat+json"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_MAX_ERROR_BODY = 64 * 1024
_MAX_REDIRECTS = 5


def _origin(url: str) -> tuple[str, str]:
    """Scheme and ``host:port`` (default ports made explicit): what a redirect must keep."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return parts.scheme, f"{(parts.hostname or '').lower()}:{port}"


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait: ``connect`` for a TCP/TLS connection, ``read`` between bytes of an
    ordinary answer, ``long_read`` for calls whose answer may take long to start (big
    annotation bodies, uploads, downloads)."""

    connect: float = 10.0
    read: float = 60.0
    long_read: float = 600.0

    @classmethod
    def coerce(cls, value: Timeouts | float | tuple[float, float] | None) -> Timeouts:
        if value is None:
            return cls()
        if isinstance(value, Timeouts):
            return value
        if isinstance(value, tuple):
            connect, read = value
            return cls(float(connect), float(read), max(float(read), cls.long_read))
        return cls(float(value), float(value), max(float(value), cls.long_read))

    def pair(self, long: bool = False) -> tuple[float, float]:
        return (self.connect, self.long_read if long else self.read)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: at most ``retries`` repeats, waits ``backoff * 2**n`` (capped at
    ``backoff_max``) minus up to ``jitter`` of it at random, and never past ``max_total``
    seconds of waiting for one call. ``Retry-After`` is honoured up to ``backoff_max``."""

    retries: int = 4
    backoff: float = 0.5
    backoff_max: float = 20.0
    jitter: float = 0.5
    max_total: float = 120.0
    statuses: frozenset[int] = field(default=frozenset({429, 502, 503, 504}))

    @classmethod
    def coerce(cls, value: RetryPolicy | int | None) -> RetryPolicy:
        if value is None:
            return cls()
        if isinstance(value, RetryPolicy):
            return value
        return cls(retries=max(0, int(value)))

    def throttle_delay(self, throttled: int, retry_after: float | None) -> float:
        """Seconds to wait after the ``throttled``-th 429 of a call: what ``Retry-After``
        says (DRF rounds it up to whole seconds) plus a little jitter so parallel clients do
        not come back at the same instant; without it, the usual backoff."""
        if retry_after is None or retry_after < 0:
            return max(self.delay(throttled), 0.05)
        return retry_after + random.uniform(0.0, min(1.0, 0.1 * retry_after + 0.05))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before repeat number ``attempt`` (1-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.backoff_max)
        base = min(self.backoff * (2 ** (attempt - 1)), self.backoff_max)
        return base - random.uniform(0.0, base * self.jitter)


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _never_sent(exc: BaseException) -> bool:
    """True when a connection error happened before any byte of the request was sent."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    return isinstance(cause, (NewConnectionError, ConnectTimeoutError))


def _rewind(body: Any) -> None:
    seek = getattr(body, "seek", None)
    if callable(seek):
        seek(0)


def _user_agent() -> str:
    try:
        from importlib.metadata import version

        ours = version("annosync")
    except Exception:  # pragma: no cover - not installed
        ours = "0"
    return f"annosync/{ours} python-requests/{requests.__version__}"


class Transport:
    """Sends requests to ``base_url`` (``https://host[/prefix]``) and turns failures into
    :class:`~annosync.cvat.errors.CvatError`. Thread-safe."""

    def __init__(
        self,
        base_url: str,
        *,
        timeouts: Timeouts | float | tuple[float, float] | None = None,
        retry: RetryPolicy | int | None = None,
        verify: bool | str = True,
        pool_size: int = 16,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        adapter: HTTPAdapter | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CvatError("invalid CVAT URL: expected http(s)://host[:port][/prefix]")
        if parts.username or parts.password:
            # Never echo it: the URL holds a secret. Credentials belong in Credentials.
            raise CvatError("the CVAT URL must not contain a user name or password; pass them "
                            "as credentials (or ANNOSYNC_CVAT_USERNAME/PASSWORD)")
        self._origin = (parts.scheme, parts.netloc)
        self._prefix = parts.path.rstrip("/")
        self.timeouts = Timeouts.coerce(timeouts)
        self.retry = RetryPolicy.coerce(retry)
        self._sleep = sleep
        self.session = requests.Session()
        if adapter is None:
            adapter = HTTPAdapter(
                pool_connections=4, pool_maxsize=max(1, pool_size), max_retries=0
            )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.verify = verify
        self.session.headers.update({"Accept": JSON_MEDIA_TYPE, "User-Agent": _user_agent()})
        if headers:
            self.session.headers.update(headers)
        self._reauth: Callable[[str | None], bool] | None = None
        self._lock = threading.Lock()

    # ---------------------------------------------------------------------------- URLs

    @property
    def origin(self) -> str:
        return f"{self._origin[0]}://{self._origin[1]}"

    def url(self, path: str) -> str:
        """Absolute URL for an API path (``/api/...``) or a server-given absolute URL.

        URLs the server builds (``next`` page links, TUS ``Location``, export ``result_url``)
        carry the host the server believes it has, which behind a reverse proxy is often an
        internal one (cvat#10192). They are re-based onto the configured URL, keeping their path
        from ``/api/`` on and their already percent-encoded query.
        """
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            p = parts.path
            idx = p.find("/api/")
            if idx >= 0:
                p = self._prefix + p[idx:]
            return urlunsplit((self._origin[0], self._origin[1], p, parts.query, ""))
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    # ---------------------------------------------------------------------------- requests

    def set_reauth(self, callback: Callable[[str | None], bool] | None) -> None:
        """Called once on a 401 with the Authorization header the request carried; when it
        returns True the request is replayed (with the then current credentials)."""
        self._reauth = callback

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        long: bool = False,
        stream: bool = False,
        retry: bool | None = None,
        allow_status: Iterable[int] = (),
        reauth: bool = True,
    ) -> requests.Response:
        """Send one request (with bounded retries) and return the response.

        Raises a :class:`CvatError` subclass for a status outside 2xx and ``allow_status``,
        :class:`CvatConnectionError` / :class:`CvatTimeout` for network failures.
        ``retry=None`` retries by method (idempotent ones only); ``True`` marks a POST whose
        repetition is harmless; ``False`` disables retries on anything but "never sent".
        """
        method = method.upper()
        url = self.url(path)
        shown_path = urlsplit(url).path
        may_repeat = (method in IDEMPOTENT_METHODS) if retry is None else retry
        allowed = set(allow_status)
        policy = self.retry
        attempt = 0
        redirects = 0
        sent = 0
        throttled = 0
        waited = 0.0
        reauthed = not reauth or self._reauth is None
        while True:
            attempt += 1
            if sent:
                _rewind(data)
            sent += 1
            started = time.monotonic()
            auth_value = self.session.headers.get("Authorization")
            sent_auth = auth_value if isinstance(auth_value, str) else None
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=dict(headers) if headers else None,
                    timeout=self.timeouts.pair(long),
                    # explicit: else requests lets REQUESTS_CA_BUNDLE override a CA bundle or
                    # verify=False given here
                    verify=self.session.verify,
                    stream=stream,
                    # Redirects are followed below, by hand: only reads, only on this server
                    # (requests would send cookies and custom headers to another host).
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as exc:
                raise CvatConnectionError(
                    "TLS verification failed (set verify to a CA bundle path if the server "
                    "uses a private CA)",
                    method=method, path=shown_path, detail=_short(exc),
                ) from exc
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                retryable = _never_sent(exc) or may_repeat
                delay = policy.delay(attempt)
                if retryable and attempt <= policy.retries and waited + delay <= policy.max_total:
                    log.debug("%s %s: %s; retry %d in %.2fs", method, shown_path,
                              type(exc).__name__, attempt, delay)
                    self._sleep(delay)
                    waited += delay
                    continue
                raise self._network_error(exc, method, shown_path, may_repeat, attempt,
                                          self.timeouts.pair(long)[1]) from exc
            except requests.exceptions.RequestException as exc:
                raise CvatConnectionError(
                    "request failed", method=method, path=shown_path, detail=_short(exc)
                ) from exc
            elapsed = time.monotonic() - started
            status = resp.status_code
            log.debug("%s %s -> %d (%.3fs, attempt %d)", method, shown_path, status, elapsed,
                      attempt)
            if status == 429:
                # A throttled request never reached the view (DRF checks throttles before the
                # handler), so any method may be repeated, login included. CVAT says when to
                # come back (Retry-After); the only bound is the total wait.
                throttled += 1
                delay = policy.throttle_delay(throttled, _retry_after(resp))
                if waited + delay <= policy.max_total:
                    log.debug("%s %s: throttled (429); retry in %.2fs", method, shown_path,
                              delay)
                    resp.close()
                    self._sleep(delay)
                    waited += delay
                    attempt -= 1
                    continue
            elif status in policy.statuses and may_repeat and attempt <= policy.retries:
                delay = policy.delay(attempt, _retry_after(resp))
                if waited + delay <= policy.max_total:
                    resp.close()
                    self._sleep(delay)
                    waited += delay
                    continue
            if status == 401 and not reauthed and _replayable(data):
                reauthed = True
                assert self._reauth is not None
                if self._reauth(sent_auth):
                    resp.close()
                    attempt -= 1
                    continue
            resp.attempts = attempt  # type: ignore[attr-defined]
            if 200 <= status < 300 or status in allowed:
                return resp
            if 300 <= status < 400:
                resp.close()
                location = resp.headers.get("Location")
                target = urljoin(url, location) if location else "?"
                if (location and method in ("GET", "HEAD") and redirects < _MAX_REDIRECTS
                        and _origin(target) == _origin(url)):
                    redirects += 1
                    url, params = target, None  # the new URL carries its own query
                    shown_path = urlsplit(url).path
                    attempt -= 1
                    continue
                where = urlsplit(target)
                elsewhere = _origin(target) != _origin(url) and location
                raise CvatBadRequest(
                    (f"the server redirected {method} to another host ({where.scheme}://"
                     f"{where.netloc}); annosync does not follow it with your credentials: "
                     "configure the client with the server's final URL") if elsewhere else
                    (f"the server redirected {method} to {target}; configure the client with "
                     "the server's final URL"),
                    status=status, method=method, path=shown_path,
                )
            content = (resp.raw.read(_MAX_ERROR_BODY, decode_content=True) if stream
                       else resp.content)
            resp.close()
            message = None
            if status == 429:
                message = (f"throttled by CVAT's rate limits; still refused after waiting "
                           f"{waited:.0f}s (try again later, or ask the admin to raise "
                           "REST_FRAMEWORK's DEFAULT_THROTTLE_RATES)")
            raise error_from_response(
                status, method, shown_path, content, resp.headers.get("Content-Type"),
                message=message,
            )

    def _network_error(self, exc: BaseException, method: str, path: str, may_repeat: bool,
                       attempts: int, read_timeout: float) -> CvatError:
        tries = f" after {attempts} attempt{'s' if attempts != 1 else ''}"
        if isinstance(exc, requests.exceptions.Timeout) and not _never_sent(exc):
            msg = f"no answer within {read_timeout:g}s read timeout{tries}"
            if not may_repeat:
                msg += ("; the request was not repeated because it may have been processed "
                        "(check the server before retrying)")
            return CvatTimeout(msg, method=method, path=path, detail=_short(exc))
        if _never_sent(exc):
            return CvatConnectionError(
                f"cannot connect to {self.origin}{tries}", method=method, path=path,
                detail=_short(exc),
            )
        msg = f"connection lost{tries}"
        if not may_repeat:
            msg += ("; the request was not repeated because it may have been processed "
                    "(check the server before retrying)")
        return CvatConnectionError(msg, method=method, path=path, detail=_short(exc))

    def json(self, resp: requests.Response) -> Any:
        """The JSON body of a response, or :class:`CvatProtocolError`."""
        try:
            return resp.json()
        except ValueError as exc:
            req = resp.request
            raise CvatProtocolError(
                "expected a JSON answer",
                status=resp.status_code,
                method=req.method if req is not None else None,
                path=urlsplit(resp.url).path,
                detail=resp.text[:200],
            ) from exc

    def close(self) -> None:
        self.session.close()


def _replayable(body: Any) -> bool:
    return body is None or isinstance(body, (bytes, str, dict)) or callable(
        getattr(body, "seek", None)
    )


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:297] + "..."
