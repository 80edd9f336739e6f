"""Load a page in headless chromium and report its console errors, through the DevTools protocol over a pipe.

``load_page(path, expressions)`` starts ``chromium --headless --remote-debugging-pipe`` (commands on fd 3, replies
and events on fd 4, NUL-terminated JSON), opens the page, waits for its load event, evaluates each JavaScript
expression in it and returns ``(errors, values)``. ``errors`` lists every uncaught exception
(``Runtime.exceptionThrown``), ``console.error``/``console.assert`` call (``Runtime.consoleAPICalled``) and browser
log entry of level error (``Log.entryAdded``: failed resource loads, refused requests, broken data URIs...).
No Python package beyond the standard library is needed; the tests that use it skip only when chromium is absent.
"""
from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MISSING = "chromium not installed (Debian: apt-get install chromium; .ci/run installs it)"


def find_chromium() -> str | None:
    for name in NAMES:
        if shutil.which(name):
            return shutil.which(name)
    return None


class _Browser:
    def __init__(self, exe: str, profile: str):
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()

        def child():  # the browser reads commands on fd 3 and writes replies to fd 4
            r, w = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (cmd_r, res_w))  # never 3 or 4 themselves
            os.dup2(r, 3)  # dup2 makes the copies inheritable (the pipes are close-on-exec)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-extensions",
             f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=False,
            preexec_fn=child)
        os.close(cmd_r)
        os.close(res_w)
        self._next = 0
        self.messages: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        while True:
            chunk = os.read(self._res_r, 65536)
            if not chunk:
                self.messages.put(None)
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                self.messages.put(json.loads(raw))

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        return self._next

    def wait(self, pred, events: list, deadline: float) -> dict:
        """The first message satisfying ``pred``; every event seen on the way is appended to ``events``."""
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("chromium did not answer in time")
            msg = self.messages.get(timeout=left)
            if msg is None:
                raise RuntimeError("chromium exited")
            if "method" in msg:
                events.append(msg)
            if pred(msg):
                return msg

    def call(self, method: str, params: dict | None, session: str | None, events: list, deadline: float) -> dict:
        i = self.send(method, params, session)
        msg = self.wait(lambda m: m.get("id") == i, events, deadline)
        if "error" in msg:
            raise RuntimeError(f"{method}: {msg['error']}")
        return msg["result"]

    def close(self):
        try:
            self.send("Browser.close")
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - a browser that does not close is killed
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)


def _errors(events: list) -> list[str]:
    out = []
    for e in events:
        m, p = e["method"], e.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            out.append("exception: " + str(d.get("exception", {}).get("description") or d.get("text")))
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(f"console.{p['type']}: " + " ".join(str(a.get("value", a.get("description")))
                                                          for a in p.get("args", [])))
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            out.append(f"log ({p['entry'].get('source')}): {p['entry'].get('text')} {p['entry'].get('url', '')}")
    return out


def load_page(path: str | Path, expressions=(), timeout: float = 60.0, settle: float = 0.5):
    """Open ``path`` (a file) in headless chromium; ``(console errors, values of expressions)``."""
    exe = find_chromium()
    if exe is None:
        raise RuntimeError(MISSING)
    deadline = time.time() + timeout
    events: list = []
    with tempfile.TemporaryDirectory() as profile:
        b = _Browser(exe, profile)
        try:
            target = b.call("Target.createTarget", {"url": "about:blank"}, None, events, deadline)["targetId"]
            session = b.call("Target.attachToTarget", {"targetId": target, "flatten": True}, None, events,
                             deadline)["sessionId"]
            for domain in ("Runtime", "Log", "Page"):
                b.call(f"{domain}.enable", None, session, events, deadline)
            b.call("Page.navigate", {"url": Path(path).resolve().as_uri()}, session, events, deadline)
            b.wait(lambda m: m.get("method") == "Page.loadEventFired", events, deadline)
            end = time.time() + settle  # late errors (timers, image decoding) still count
            while time.time() < end:
                try:
                    msg = b.messages.get(timeout=max(0.01, end - time.time()))
                except queue.Empty:
                    break
                if msg is not None and "method" in msg:
                    events.append(msg)
            values = []
            for expr in expressions:
                r = b.call("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True},
                           session, events, deadline)
                if "exceptionDetails" in r:
                    raise RuntimeError(f"{expr!r} raised: {r['exceptionDetails'].get('text')}")
                values.append(r["result"].get("value"))
        finally:
            b.close()
    return _errors(events), values
