"""The port answers while the app starts: `python app.py` binds its socket first and, until the chat
is built (Gradio's import alone takes 4-5 s on these machines), answers every request on it with
503 "starting" and `Retry-After` (a page that reloads itself), instead of refusing the connection.
Then the same socket is handed to uvicorn; connections that arrive during the handover wait in the
listen backlog. Issue 23: a restart after a kill -9 is reachable within seconds.
"""

from __future__ import annotations

import socket
import threading

PAGE = ("<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><meta http-equiv='refresh' content='2'>"
        "<title>正在启动 Starting</title></head><body><p>问答助手正在启动，请稍候…… The assistant is starting; "
        "this page reloads by itself.</p></body></html>").encode("utf-8")
MAX_HEAD = 16 * 1024


def listen(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound now (OSError when the port is taken, as uvicorn would say)."""
    return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET, backlog=2048)


def _answer(connection: socket.socket) -> None:
    connection.settimeout(1.0)  # a slow or silent client does not hold up the others for long
    head = b""
    try:
        while b"\r\n\r\n" not in head and len(head) < MAX_HEAD:
            chunk = connection.recv(4096)
            if not chunk:
                return
            head += chunk
        body = b"" if head.startswith(b"HEAD ") else PAGE
        connection.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nCache-Control: no-store\r\n"
                           b"Content-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                           % len(PAGE) + body)
    except OSError:
        pass
    finally:
        connection.close()


class StartingResponder:
    """Answers 503 on `sock` in a thread until `stop()`; the socket stays open for uvicorn."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self._stop = sock, threading.Event()
        self.answered = 0
        self._thread = threading.Thread(target=self._serve, name="starting", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.answered += 1
            _answer(connection)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.settimeout(None)  # blocking again: uvicorn's event loop sets it up its own way
