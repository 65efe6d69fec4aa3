"""A real HTTP server on 127.0.0.1 (random port) speaking OpenAI's chat-completions protocol.

Each request pops the next scripted action (a reply with logprobs, sampled choices, an
HTTP error, a delay past the client's timeout, a malformed body); with an empty script
it answers "4" with logprobs. Every request body and its headers are recorded.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def logprob_reply(tokens: list[str], top: dict[str, float], at: int | None = None) -> dict:
    """A completion whose reply is ``tokens``; the token at index ``at`` (default: the last) has ``top`` alternatives."""
    at = len(tokens) - 1 if at is None else at
    content = []
    for i, t in enumerate(tokens):
        alts = [{"token": k, "logprob": math.log(p), "bytes": list(k.encode())} for k, p in top.items()] if i == at \
            else [{"token": t, "logprob": -0.01, "bytes": list(t.encode())}]
        content.append({"token": t, "logprob": alts[0]["logprob"], "bytes": list(t.encode()), "top_logprobs": alts})
    return completion(["".join(tokens)], logprobs={"content": content, "refusal": None})


def completion(contents: list[str], logprobs: dict | None = None) -> dict:
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "judge-test",
            "choices": [{"index": i, "finish_reason": "stop", "logprobs": logprobs if i == 0 else None,
                         "message": {"role": "assistant", "content": c}} for i, c in enumerate(contents)],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}}


class FakeChatServer:
    """Start with :meth:`start`, script with :meth:`push`, read ``requests`` afterwards."""

    def __init__(self):
        self.script: deque = deque()
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body,
                                        "headers": {k.lower(): v for k, v in self.headers.items()}})
                kind, arg = server.script.popleft() if server.script else ("json", logprob_reply(["4"], {"4": 1.0}))
                try:
                    if kind == "sleep":  # longer than the client's timeout; the client has gone when we answer
                        time.sleep(arg)
                        kind, arg = "json", logprob_reply(["4"], {"4": 1.0})
                    if kind == "status":
                        self._send(arg, json.dumps({"error": {"message": f"scripted {arg}", "type": "test"}}),
                                   headers={"retry-after": "0"} if arg == 429 else {})
                    elif kind == "raw":
                        self._send(200, arg)
                    else:
                        self._send(200, json.dumps(arg))
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, code, text, headers=None):
                data = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def push(self, *actions: tuple[str, object]) -> None:
        self.script.extend(actions)

    def start(self) -> "FakeChatServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
