"""A local GGUF chat model in process (llama-cpp-python) as a LangChain chat model.

Loaded once per file and settings, without mmap (mmap'd weights fell to ~0.5 tokens/s on these
machines) and with few threads (2 cores, shared); one generation at a time per loaded model
(llama.cpp's context is not thread-safe), others wait for it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Iterator

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

log = logging.getLogger(__name__)

_LOADED: dict[tuple, tuple[Any, threading.Lock]] = {}
_LOADING = threading.Lock()


def load_llama(path: str, threads: int, context: int) -> tuple[Any, threading.Lock]:
    key = (path, threads, context)
    with _LOADING:
        if key not in _LOADED:
            from llama_cpp import Llama

            started = time.perf_counter()
            llama = Llama(model_path=path, n_ctx=context, n_threads=threads, n_threads_batch=threads,
                          use_mmap=False, n_gpu_layers=0, verbose=False)
            log.info("loaded %s in %.1f s (%d threads, context %d)", path, time.perf_counter() - started, threads, context)
            _LOADED[key] = (llama, threading.Lock())
        return _LOADED[key]


def _role(message: BaseMessage) -> str:
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, HumanMessage):
        return "user"
    return "assistant"


class LocalGGUFChat(BaseChatModel):
    """`create_chat_completion` of a llama.cpp model with the chat template stored in the GGUF file."""

    model_path: str
    n_threads: int = 2
    n_ctx: int = 4096
    max_tokens: int = 300
    temperature: float = 0.0
    prompt_chars: int = 0  # the budget of the passages in the prompt (llm.fit_passages); 0 = all
    last_usage: dict = {}  # tokens of the last call: prompt, completion; seconds to first token, total

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-gguf"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_threads": self.n_threads, "n_ctx": self.n_ctx}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager=None,
                  **kwargs: Any) -> ChatResult:
        text = "".join(chunk.text for chunk in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager=None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        llama, lock = load_llama(self.model_path, self.n_threads, self.n_ctx)
        chat = [{"role": _role(m), "content": m.content if isinstance(m.content, str) else str(m.content)} for m in messages]
        with lock:
            started, first, pieces = time.perf_counter(), None, 0
            # the messages' own tokens (the chat template adds a few more)
            prompt_tokens = sum(len(llama.tokenize(m["content"].encode("utf-8"), add_bos=False)) for m in chat)
            stream = llama.create_chat_completion(messages=chat, stream=True, temperature=self.temperature,
                                                  max_tokens=kwargs.get("max_tokens", self.max_tokens), stop=stop)
            for part in stream:
                delta = part["choices"][0].get("delta", {}).get("content")
                if not delta:
                    continue
                first = first or time.perf_counter()
                pieces += 1
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                if run_manager:
                    run_manager.on_llm_new_token(delta, chunk=chunk)
                yield chunk
            now = time.perf_counter()
            self.last_usage.clear()
            self.last_usage.update(prompt_chars=sum(len(m["content"]) for m in chat), prompt_tokens=prompt_tokens, completion_pieces=pieces, seconds=round(now - started, 3),
                                   first_token_seconds=round((first or now) - started, 3))
