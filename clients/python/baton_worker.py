#!/usr/bin/env python3
"""A baton worker in Python, with the standard library only.

    python3 baton_worker.py --server URL --token-file FILE --handlers FILE.py
                            [--capabilities a,b] [--concurrency N] [--id ID] [--ca FILE]

The handlers file defines ``handlers = {"type": function}``. A function is called as
``function(payload, ctx)`` and returns the task's result (plain JSON). ``ctx`` has
``checkpoint(state, progress)``, ``progress(pct)``, ``last_checkpoint`` (the newest intact
checkpoint as ``{"seq", "progress", "state"}``, or None), ``attempt``, ``epoch``,
``task_id``, ``run_id`` and ``cancelled`` (a threading.Event set when the task must stop: its
lease is gone or it timed out). Raise ``NonRetryableError`` (``from baton_worker import
NonRetryableError``, or any exception with ``retryable = False``) to fail for good.

It speaks the worker protocol of docs/worker-protocol.md: it registers, claims by long poll,
heartbeats from a thread of its own (a handler that blocks never costs the lease), names the
lease epoch on every write, and stops writing about a task once the server answers
409 LEASE_LOST: the newer attempt's outcome stands.
"""

import argparse
import hashlib
import importlib.util
import json
import math
import os
import random
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

CLAIM_WAIT_MS = 10_000
MAX_CLAIM = 256


class NonRetryableError(Exception):
    """Fails the task for good: no further attempt."""

    retryable = False


class LeaseLost(Exception):
    """The server refused a write: this worker no longer holds the task."""


class ApiError(Exception):
    def __init__(self, status, code, message, details=None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.details = details or {}


# --- canonical JSON and checksums (the same bytes as the server's canonicalJson) -----------


def _js_number(value):
    """A number as JavaScript's JSON.stringify writes it (Number::toString)."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        raise ValueError("JSON has no NaN or Infinity")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that read back as the same double, as JavaScript does;
    # only the notation differs. value = 0.DIGITS x 10^point.
    text = repr(abs(value))
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    if whole != "0":
        digits, point = whole + fraction, len(whole)
    else:
        stripped = fraction.lstrip("0")
        digits, point = stripped, -(len(fraction) - len(stripped))
    point += int(exponent or 0)
    digits = digits.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    exp_text = f"e+{e}" if e >= 0 else f"e-{-e}"
    return sign + digits[0] + ("." + digits[1:] if k > 1 else "") + exp_text


def _is_index(key):
    return key.isdigit() and key.isascii() and (key == "0" or key[0] != "0") and int(key) < 2**32 - 1


def _key_order(key):
    # The server sorts keys by UTF-16 code units, and then JavaScript objects list keys that are
    # array indices ("0", "42") first, in numeric order: canonical JSON keeps both rules.
    if _is_index(key):
        return (0, int(key), b"")
    return (1, 0, key.encode("utf-16-be", "surrogatepass"))


def canonical_json(value):
    """JSON with object keys sorted at every level, written as JavaScript would."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return _js_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted((str(k) for k in value.keys()), key=_key_order)
        items = {str(k): v for k, v in value.items()}
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical_json(items[k]) for k in keys) + "}"
    raise TypeError(f"not JSON: {type(value).__name__}")


def checksum_of(state):
    return hashlib.sha256(canonical_json(state).encode("utf-8", "surrogatepass")).hexdigest()


# --- HTTP ----------------------------------------------------------------------------------


def _is_loopback(host):
    return host in ("localhost", "::1") or host.startswith("127.")


class Api:
    """JSON over HTTP(S) with the bearer token; refusals become ApiError."""

    def __init__(self, server, token, ca=None, log=print):
        self.base = server.rstrip("/") + "/api/v1"
        self.token = token
        self.context = ssl.create_default_context(cafile=ca) if ca else None
        parsed = urllib.parse.urlparse(server)
        if parsed.scheme == "http" and not _is_loopback(parsed.hostname or ""):
            log(f"warning: the token goes to {parsed.hostname} over plain http; use https")

    def request(self, method, path, body=None, query=None, timeout=30):
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"authorization": f"Bearer {self.token}", "accept": "application/json"}
        if data is not None:
            headers["content-type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.context) as res:
                return json.loads(res.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")
            try:
                problem = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                problem = {"code": "HTTP_ERROR", "message": text[:200]}
            raise ApiError(error.code, problem.get("code"), problem.get("message"), problem.get("details")) from None


def _unreachable(error):
    """A failed exchange or a server in trouble: worth repeating. A refusal is an answer."""
    if isinstance(error, ApiError):
        return error.status in (429, 502, 503, 504)
    return isinstance(error, (urllib.error.URLError, OSError, TimeoutError, ConnectionError))


# --- the worker ----------------------------------------------------------------------------


class Context:
    """What a handler gets besides its payload."""

    def __init__(self, worker, task, last_checkpoint):
        self._worker = worker
        self._task = task
        self.task_id = task["id"]
        self.run_id = task.get("runId")
        self.attempt = task["attempt"]
        self.epoch = task["epoch"]
        self.last_checkpoint = last_checkpoint
        self.cancelled = threading.Event()
        self.lease_lost = False

    def _write(self, path, item):
        if self.lease_lost:
            raise LeaseLost(f"task {self.task_id}: the lease is gone")
        item = {"taskId": self.task_id, "epoch": self.epoch, **item}
        try:
            return self._worker.write(path, {"workerId": self._worker.id, "items": [item]})
        except ApiError as error:
            if error.code == "LEASE_LOST":
                self._lose()
                raise LeaseLost(f"task {self.task_id}: {error}") from None
            raise

    def _lose(self):
        self.lease_lost = True
        self.cancelled.set()

    def checkpoint(self, state, progress=None):
        """Saves `state` (plain JSON) durably; returns when the server has it."""
        pct = self._task.get("progress", 0) if progress is None else progress
        body = {"progress": max(0, min(100, pct)), "state": state, "checksum": checksum_of(state), "keep": 5}
        out = self._write("/worker/checkpoint", {"checkpoint": body})
        self._task["progress"] = body["progress"]
        return out["outcomes"][0]["checkpoint"]["seq"]

    def progress(self, pct, message=None):
        self._write("/worker/progress", {"progress": max(0, min(100, pct)), "message": message})
        self._task["progress"] = pct


class Worker:
    def __init__(self, api, handlers, worker_id, capabilities, concurrency, heartbeat_ms=1000, log=print):
        self.api = api
        self.handlers = handlers
        self.id = worker_id
        self.capabilities = capabilities
        self.concurrency = concurrency
        self.heartbeat_s = heartbeat_ms / 1000
        self.log = log
        self.lock = threading.Lock()
        self.held = {}  # task id -> Context
        self.claims_in_flight = 0
        self.to_check = []
        self.stopping = threading.Event()
        self.slot_free = threading.Condition(self.lock)

    # Writes about a task are retried while the server is out of reach, never after a refusal.
    def write(self, path, body):
        delay = 0.2
        while True:
            try:
                return self.api.request("POST", path, body)
            except Exception as error:  # noqa: BLE001 - sorted by _unreachable
                if not _unreachable(error):
                    raise
                self.log(f"{path}: {error}; trying again in {delay:.1f} s")
                time.sleep(delay)
                delay = min(delay * 2, 5)

    def register(self):
        self.api.request(
            "POST",
            "/worker/register",
            {
                "id": self.id,
                "capabilities": self.capabilities,
                "types": sorted(self.handlers),
                "concurrency": self.concurrency,
                "meta": {"language": "python", "pid": os.getpid(), "host": socket.gethostname()},
            },
        )

    # Heartbeats run on a thread of their own: a handler that holds the CPU or blocks on I/O
    # never keeps the worker from renewing its leases.
    def heartbeat_loop(self):
        while not self.stopping.is_set() or self.held:
            with self.lock:
                held = [{"taskId": tid, "epoch": ctx.epoch} for tid, ctx in self.held.items()]
            try:
                answer = self.api.request("POST", "/worker/heartbeat", {"workerId": self.id, "held": held}, timeout=10)
                self.apply_heartbeat(answer, held)
            except Exception as error:  # noqa: BLE001 - a missed beat is retried next interval
                self.log(f"heartbeat: {error}")
            time.sleep(self.heartbeat_s)

    def apply_heartbeat(self, answer, sent):
        epochs = {h["taskId"]: h["epoch"] for h in sent}
        with self.lock:
            for task_id in answer.get("lost", []):
                ctx = self.held.get(task_id)
                if ctx is not None and ctx.epoch == epochs.get(task_id):
                    self.log(f"task {task_id}: lease lost (attempt {ctx.attempt}); stopping it")
                    ctx._lose()
            if answer.get("workerState") == "lost":
                self.log("declared lost by the server; every held task is elsewhere now")
                for ctx in self.held.values():
                    ctx._lose()
        if answer.get("workerState") == "lost" and not self.stopping.is_set():
            self.register()
            return
        # Tasks running under this worker that it does not hold: a claim whose answer never
        # arrived. A claim still in flight may be what put them there: look again once its
        # tasks are held (a claim started after the server's answer cannot have).
        with self.lock:
            unknown = [t for t in answer.get("unnamed", []) if t["id"] not in self.held]
            if self.claims_in_flight > 0:
                self.to_check = unknown
                return
        self.give_back(unknown)

    def give_back(self, tasks):
        for task in tasks:
            with self.lock:
                if task["id"] in self.held:
                    continue
            self.log(f"task {task['id']}: running under this worker, unknown to it; given back")
            error = {"code": "ATTEMPT_ABANDONED", "message": "the worker no longer knew of this attempt", "retryable": True}
            self.fail(task, error, 0)

    def last_checkpoint(self, task):
        if task.get("checkpointSeq", 0) == 0:
            return None
        listed = self.api.request("GET", f"/worker/tasks/{urllib.parse.quote(task['id'])}/checkpoints", query={"workerId": self.id})
        for cp in listed["checkpoints"]:  # newest first
            if checksum_of(cp["state"]) == cp["checksum"]:
                return {"seq": cp["seq"], "progress": cp["progress"], "state": cp["state"]}
            self.log(f"task {task['id']}: checkpoint {cp['seq']} is corrupt; skipped")
            self.api.request(
                "POST",
                "/worker/events",
                {"workerId": self.id, "type": "checkpoint:corrupt", "taskId": task["id"], "reason": "checksum mismatch", "data": {"seq": cp["seq"]}},
            )
        return None

    def retry_delay_ms(self, task, retryable):
        if not retryable or task["attempt"] >= task["maxAttempts"]:
            return None
        b = task["backoff"]
        raw = min(b["maxMs"], b["initialMs"] * b["factor"] ** max(0, task["attempt"] - 1))
        return max(0, round(raw * (1 - b["jitter"] * random.random())))

    def fail(self, task, error, duration_ms):
        item = {
            "taskId": task["id"],
            "epoch": task["epoch"],
            "error": error,
            "retryDelayMs": self.retry_delay_ms(task, error["retryable"]),
            "durationMs": duration_ms,
        }
        try:
            self.write("/worker/fail", {"workerId": self.id, "items": [item]})
        except ApiError as refusal:
            self.log(f"task {task['id']}: failure not recorded ({refusal})")

    def run_task(self, task):
        started = time.monotonic()
        ctx = None
        try:
            ctx = Context(self, task, self.last_checkpoint(task))
            with self.lock:
                self.held[task["id"]] = ctx
            handler = self.handlers[task["type"]]
            timer = None
            if task.get("timeoutMs"):
                timer = threading.Timer(task["timeoutMs"] / 1000, ctx.cancelled.set)
                timer.daemon = True
                timer.start()
            try:
                result = handler(task.get("payload"), ctx)
            finally:
                if timer:
                    timer.cancel()
            took = round((time.monotonic() - started) * 1000)
            if ctx.lease_lost:
                self.log(f"task {task['id']}: lease lost; its result is not written")
                return
            if ctx.cancelled.is_set() and task.get("timeoutMs") and took >= task["timeoutMs"]:
                self.fail(task, {"code": "TIMEOUT", "message": f"timed out after {task['timeoutMs']} ms", "retryable": True}, took)
                return
            item = {"taskId": task["id"], "epoch": task["epoch"], "result": result, "durationMs": took}
            self.write("/worker/complete", {"workerId": self.id, "items": [item]})
            self.log(f"task {task['id']}: completed (attempt {task['attempt']})")
        except LeaseLost as lost:
            self.log(f"{lost}; nothing more is written")
        except ApiError as refusal:
            if refusal.code == "LEASE_LOST":
                self.log(f"task {task['id']}: lease lost ({refusal}); nothing more is written")
            else:
                self.log(f"task {task['id']}: refused: {refusal}")
        except Exception as error:  # noqa: BLE001 - a handler's failure is the task's
            if ctx is not None and ctx.lease_lost:
                self.log(f"task {task['id']}: lease lost; its failure is not written")
            else:
                retryable = getattr(error, "retryable", True) is not False
                message = f"{type(error).__name__}: {error}"
                traceback.print_exc(file=sys.stderr)
                self.fail(task, {"code": "HANDLER_ERROR", "message": message[:10_000], "retryable": retryable}, round((time.monotonic() - started) * 1000))
        finally:
            with self.lock:
                self.held.pop(task["id"], None)
                self.slot_free.notify_all()

    def claim_loop(self):
        while not self.stopping.is_set():
            with self.lock:
                while len(self.held) + self.claims_in_flight >= self.concurrency and not self.stopping.is_set():
                    self.slot_free.wait(1)
                if self.stopping.is_set():
                    return
                free = self.concurrency - len(self.held)
                self.claims_in_flight += 1
            tasks = []
            try:
                answer = self.api.request(
                    "POST",
                    "/worker/claim",
                    {"workerId": self.id, "limit": min(free, MAX_CLAIM), "capabilities": self.capabilities, "types": sorted(self.handlers), "waitMs": CLAIM_WAIT_MS},
                    timeout=CLAIM_WAIT_MS / 1000 + 30,
                )
                tasks = answer["tasks"]
            except Exception as error:  # noqa: BLE001 - the server is out of reach: pause, look again
                self.log(f"claim: {error}")
                time.sleep(1)
            finally:
                with self.lock:
                    for task in tasks:
                        # Held from now on: heartbeats name it before its thread starts.
                        self.held[task["id"]] = _Pending(task)
                    self.claims_in_flight -= 1
                    waiting, self.to_check = self.to_check, []
            self.give_back(waiting)
            for task in tasks:
                threading.Thread(target=self.run_task, args=(task,), daemon=True).start()

    def run(self):
        self.register()
        self.log(f"worker {self.id} registered: types {', '.join(sorted(self.handlers))}")
        threading.Thread(target=self.heartbeat_loop, daemon=True).start()
        self.claim_loop()
        # Stopping: say so, let the running tasks finish, then go.
        with self.lock:
            while self.held:
                self.slot_free.wait(1)
        try:
            self.api.request("POST", "/worker/state", {"workerId": self.id, "state": "stopped"})
        except Exception as error:  # noqa: BLE001 - the server learns of it from the silence
            self.log(f"stopping: {error}")


class _Pending:
    """A claimed task whose thread has not started yet: held, with its epoch."""

    def __init__(self, task):
        self.epoch = task["epoch"]
        self.attempt = task["attempt"]
        self.lease_lost = False

    def _lose(self):
        self.lease_lost = True


def load_handlers(path):
    spec = importlib.util.spec_from_file_location("baton_handlers", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"--handlers: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["baton_worker"] = sys.modules[__name__]
    spec.loader.exec_module(module)
    handlers = getattr(module, "handlers", None)
    if not isinstance(handlers, dict) or not handlers or not all(callable(f) for f in handlers.values()):
        raise SystemExit(f'--handlers: {path} must define handlers = {{"type": function, ...}}')
    return handlers


def main(argv=None):
    parser = argparse.ArgumentParser(description="A baton worker in Python (standard library only).")
    parser.add_argument("--server", required=True, help="URL of baton serve, e.g. https://baton:7420")
    parser.add_argument("--token-file", help="file holding the worker token (default: $BATON_TOKEN)")
    parser.add_argument("--handlers", required=True, help='Python file defining handlers = {"type": function}')
    parser.add_argument("--capabilities", default="", help="comma-separated capabilities")
    parser.add_argument("--concurrency", type=int, default=4, help="tasks at once (default 4)")
    parser.add_argument("--id", help="worker id (default: py-HOST-PID)")
    parser.add_argument("--ca", help="PEM file of a private CA to trust")
    parser.add_argument("--heartbeat-ms", type=int, default=1000, help="heartbeat interval (default 1000)")
    args = parser.parse_args(argv)
    if not 1 <= args.concurrency <= 1000:
        parser.error("--concurrency: expected a whole number from 1 to 1000")
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as f:
            token = f.read().strip()
    else:
        token = os.environ.get("BATON_TOKEN", "")
    if not token:
        parser.error("no token: pass --token-file FILE or set BATON_TOKEN")

    def log(line):
        print(f"[baton-worker {os.getpid()}] {line}", file=sys.stderr, flush=True)

    api = Api(args.server, token, ca=args.ca, log=log)
    capabilities = [c for c in args.capabilities.split(",") if c]
    worker = Worker(
        api,
        load_handlers(args.handlers),
        args.id or f"py-{socket.gethostname()}-{os.getpid()}",
        capabilities,
        args.concurrency,
        heartbeat_ms=args.heartbeat_ms,
        log=log,
    )

    def stop(signum, _frame):
        log(f"signal {signum}: finishing the running tasks, claiming no more")
        worker.stopping.set()
        with worker.lock:
            worker.slot_free.notify_all()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()


if __name__ == "__main__":
    main()
