"""A headless Chromium driven over its DevTools protocol on a pipe (``--remote-debugging-pipe``:
JSON messages ending in NUL on file descriptors 3 and 4), so no websocket or driver library is
needed. Debian's ``chromium`` package; tests skip with the reason when it is absent."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--remote-debugging-pipe", "--window-size=1280,1000", "--hide-scrollbars"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    def __init__(self, executable: str, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="annosync-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire() -> None:  # in the child: the pipe ends on fds 3 (reads) and 4 (writes)
            # moved above 4 first: a pipe end may itself be fd 3 or 4 (when fd 0-2 are closed)
            read_end = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            write_end = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.proc = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={self.profile}",
                                      "about:blank"], preexec_fn=wire, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._next = 0
        self.session: str | None = None

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: bool = True) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        # Every read waits at most until the deadline: a command Chromium never answers (a page
        # promise that never settles, a hung renderer) fails this test instead of hanging the run.
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                    raise TimeoutError(f"chromium did not answer {method} in {self.timeout:.0f} s")
                chunk = os.read(self._from_chrome, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed its DevTools pipe")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return dict(answer.get("result", {}))

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": url}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 1000,
                                                         "deviceScaleFactor": 1,
                                                         "mobile": False})
        deadline = time.monotonic() + self.timeout
        check = f"location.href === {json.dumps(url)} && document.readyState === 'complete'"
        while not self.eval(check):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            time.sleep(0.05)

    def eval(self, expression: str) -> Any:
        got = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True})
        if "exceptionDetails" in got:
            raise RuntimeError(f"{expression}: {got['exceptionDetails']}")
        return got["result"].get("value")

    def images_ready(self, within: float = 20.0) -> bool:
        """Start every image's load (``loading="lazy"`` ones far below the fold never start by
        themselves in a headless page that is never scrolled) and wait until each has loaded
        or failed, at most ``within`` seconds: True when all settled in time."""
        return bool(self.eval(
            "(() => { const imgs = [...document.images]; imgs.forEach(i => { i.loading = 'eager'; });"
            " const settle = i => i.complete ? null : new Promise(r => {"
            " i.addEventListener('load', r); i.addEventListener('error', r); });"
            " return Promise.race([Promise.all(imgs.map(settle)).then(() => true),"
            f" new Promise(r => setTimeout(() => r(false), {within * 1000:.0f}))]); }})()"))

    def screenshot(self, path: Path) -> Path:
        # Every image decoded and two frames painted first: on a loaded machine a capture taken
        # right after the load event can show a page whose images are not painted yet. Each wait
        # is bounded in the page, so a capture is taken (and checked) even if one never settles.
        self.images_ready()
        self.eval("Promise.race([Promise.all([...document.images].map(i => i.decode()"
                  ".catch(() => null))), new Promise(r => setTimeout(r, 20000))])"
                  ".then(() => new Promise(r => requestAnimationFrame(() => "
                  "requestAnimationFrame(() => r(true)))))")
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self.timeout = min(self.timeout, 5.0)
        with contextlib.suppress(Exception):
            self.send("Browser.close", session=False)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_chrome, self._from_chrome):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)
