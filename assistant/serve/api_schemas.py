"""Request and response bodies of the HTTP APIs (assistant/api.py), as pydantic models: FastAPI
validates requests with them and publishes them in /openapi.json.

The OpenAI-compatible models carry only the fields this server reads or writes; other request
fields (temperature, max_tokens, n, …) are accepted and ignored, because the answer is extracted
from the reports, not sampled, and a client such as Open WebUI sends them with every request.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Mode = Literal["extractive", "llm"]


class FiltersIn(BaseModel):
    """Restrict the answer to a district and/or reports (a district the question names wins, visibly)."""

    model_config = ConfigDict(extra="forbid")
    district: str | None = Field(None, description="闵行区 / 静安区 (or Minhang / Jing'an); empty or 全部 = all",
                                 examples=["静安区"])
    doc_ids: list[str] = Field(default_factory=list, max_length=20, description="report ids, see /source",
                               examples=[["jingan-2023-plan-report"]])


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str
    answer: str = ""


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(..., description="the question, Chinese or English", examples=["那静安区呢？"])
    history: list[str | Turn] = Field(default_factory=list, max_length=50,
                                      description="earlier turns, oldest first: questions, or {question, answer}",
                                      examples=[["闵行区2023年社会消费品零售总额完成了多少？"]])
    filters: FiltersIn | None = None
    mode: Mode | None = Field(None, description="extractive (default) or llm (when an LLM is configured)")


class Citation(BaseModel):
    n: int = Field(..., description="the [n] marker in the answer")
    chunk_id: str
    doc_id: str
    title: str
    breadcrumb: list[str]
    text: str = Field(..., description="the cited passage")
    url: str = Field(..., description="absolute link to the passage in the source viewer")
    page: int = Field(0, description="the passage's page in the source file (PDF reports); 0 when it has no pages")


class Passage(BaseModel):
    chunk_id: str
    doc_id: str
    title: str
    breadcrumb: list[str]
    text: str
    url: str = Field(..., description="absolute link to the passage in the source viewer")
    district: str
    year: str
    score: float
    scores: dict[str, float] = Field(default_factory=dict, description="per retriever (lexical, dense)")


class AskResponse(BaseModel):
    answer: str = Field(..., description="the answer; every sentence ends with its [n] citation markers")
    refused: bool = Field(..., description="true when the reports do not answer the question")
    reading: str = Field(..., description="how the question was understood, e.g. 理解为：静安区 2023年 实际完成 · …")
    mode: str
    question: str
    standalone_question: str
    citations: list[Citation]
    closest: list[Passage] = Field(..., description="with a refusal: the closest passages")
    query: dict[str, Any] | None = Field(None, description="the understood question: scope, periods, intent, measure")
    timings_ms: dict[str, float]
    warnings: list[str] = Field(..., description="reports served from an older build (failed to load)")


class SearchResponse(BaseModel):
    q: str
    reading: str
    hits: list[Passage]
    timings_ms: dict[str, float]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error shape, used by every API route (the openai SDK reads `error.message`)."""

    error: ErrorDetail


# ----------------------------------------------------------------------------- OpenAI-compatible


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, …: accepted and ignored
    model: str = Field(..., examples=["policy-qa"])
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=200,
                                        description="the last user message is the question; earlier user turns its context")
    stream: bool = False
    stream_options: StreamOptions | None = None
    filters: FiltersIn | None = Field(None, description="extension: restrict to a district and/or reports")


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str = "stop"
    logprobs: None = None


class Usage(BaseModel):
    """Counted in characters: the answer is extracted, no tokenizer is involved."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class PolicyQA(BaseModel):
    """Extension field of a completion (and of the last stream chunk): the structured answer."""

    refused: bool
    reading: str
    citations: list[Citation]
    closest: list[Passage]
    query: dict[str, Any] | None = None
    warnings: list[str]
    mode: str


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    policy_qa: PolicyQA


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "policy-qa"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
