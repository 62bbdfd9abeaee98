"""The OpenAI-compatible endpoint, driven by the official `openai` package as the client, against the
real app (bundled model, real index, real corpus) on loopback: non-streaming, streaming (also read
raw off the wire), a three-turn conversation, a refusal, filters, bad requests and the API key."""

from __future__ import annotations

import json
import logging

import httpx
import openai
import pytest

from _reliability import serve
from assistant.service import Assistant
from assistant.serve.web import create_app

pytestmark = pytest.mark.integration

RETAIL_Q = "闵行区2023年社会消费品零售总额完成了多少？"


@pytest.fixture(scope="module")
def url(real_assistant):
    with serve(create_app(real_assistant, include_chat=False)) as url:
        yield url


@pytest.fixture(scope="module")
def client(url):
    return openai.OpenAI(base_url=url + "/v1", api_key="not-needed", max_retries=0, timeout=60)


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def test_models_list_one_model_per_answer_mode(client):
    # no LLM is configured by default: only the extractive mode is offered
    assert [m.id for m in client.models.list()] == ["policy-qa"]


def test_non_streaming_answer_cites_with_absolute_links(client, url):
    completion = client.chat.completions.create(model="policy-qa", messages=[user(RETAIL_Q)])
    content = completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop" and completion.object == "chat.completion"
    assert "1983.09" in content and "[1]" in content
    answer, sources = content.split("**来源 Sources**")
    assert f"]({url}/source/minhang-2023-plan-report#" in sources  # markdown link, absolute URL
    extra = completion.model_extra["policy_qa"]
    assert extra["refused"] is False
    assert extra["reading"].startswith("理解为：闵行区 2023年")
    first = extra["citations"][0]
    assert first["n"] == 1 and first["url"].startswith(url + "/source/") and "1983.09" in first["text"]
    assert httpx.get(first["url"]).status_code == 200  # the link opens the report
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_streaming_matches_the_non_streaming_reply(client):
    whole = client.chat.completions.create(model="policy-qa", messages=[user(RETAIL_Q)]).choices[0].message.content
    chunks = list(client.chat.completions.create(model="policy-qa", messages=[user(RETAIL_Q)], stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    last_choice = [c for c in chunks if c.choices][-1]
    assert last_choice.choices[0].finish_reason == "stop"
    assert last_choice.model_extra["policy_qa"]["citations"][0]["n"] == 1
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(whole)
    assert len({c.id for c in chunks}) == 1


def test_stream_wire_format(url):
    """Raw SSE: every event is `data: <json>` + a blank line, the stream ends with `data: [DONE]`."""
    body = {"model": "policy-qa", "stream": True, "messages": [user(RETAIL_Q)]}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = "".join(response.iter_text())
    events = raw.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    for event in events[:-2]:
        assert event.startswith("data: ")
        data = json.loads(event[len("data: "):])
        assert data["object"] == "chat.completion.chunk" and data["model"] == "policy-qa"


def test_three_turn_conversation(client):
    messages = [user(RETAIL_Q)]
    first = client.chat.completions.create(model="policy-qa", messages=messages).choices[0].message.content
    assert "1983.09" in first
    messages += [{"role": "assistant", "content": first}, user("那静安区呢？")]
    second = client.chat.completions.create(model="policy-qa", messages=messages)
    assert "1707.89" in second.choices[0].message.content  # 静安区 2023 outcome, not 闵行's figure
    assert "1983.09" not in second.choices[0].message.content
    assert second.model_extra["policy_qa"]["reading"].startswith("理解为：静安区 2023年")
    messages += [{"role": "assistant", "content": second.choices[0].message.content}, user("2024年的目标呢？")]
    third = client.chat.completions.create(model="policy-qa", messages=messages)
    extra = third.model_extra["policy_qa"]
    assert extra["reading"].startswith("理解为：静安区 2024年 目标"), extra["reading"]
    assert all(c["doc_id"].startswith("jingan") for c in extra["citations"])


def test_refusal_is_flagged(client):
    completion = client.chat.completions.create(model="policy-qa", messages=[user("浦东新区2023年社会消费品零售总额是多少？")])
    extra = completion.model_extra["policy_qa"]
    assert extra["refused"] is True and extra["citations"] == []
    content = completion.choices[0].message.content
    assert "未找到" in content and "[1]" not in content
    assert "最接近的段落 Closest passages" in content  # what the reports hold, for orientation


def test_filters_extension_restricts_the_district(client):
    completion = client.chat.completions.create(model="policy-qa", messages=[user("2023年外贸进出口总额是多少？")],
                                                extra_body={"filters": {"district": "静安区"}})
    extra = completion.model_extra["policy_qa"]
    assert extra["citations"] and all(c["doc_id"].startswith("jingan") for c in extra["citations"])


def test_bad_requests_get_openai_errors_and_one_log_line(client, caplog):
    caplog.set_level(logging.WARNING, logger="assistant.serve.api")
    with pytest.raises(openai.BadRequestError, match="no user message") as raised:
        client.chat.completions.create(model="policy-qa", messages=[{"role": "system", "content": "You are helpful."}])
    assert raised.value.status_code == 400 and raised.value.body["param"] == "messages"
    with pytest.raises(openai.NotFoundError, match="does not exist; use policy-qa"):
        client.chat.completions.create(model="gpt-4o", messages=[user(RETAIL_Q)])
    with pytest.raises(openai.BadRequestError, match="at least 1 item"):
        client.chat.completions.create(model="policy-qa", messages=[])
    with pytest.raises(openai.BadRequestError, match="unknown district"):
        client.chat.completions.create(model="policy-qa", messages=[user(RETAIL_Q)], extra_body={"filters": {"district": "浦东"}})
    with pytest.raises(openai.BadRequestError, match="only text content"):
        client.chat.completions.create(model="policy-qa", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}])
    with pytest.raises(openai.BadRequestError, match="the limit is 500"):
        client.chat.completions.create(model="policy-qa", messages=[user("问" * 600)])
    records = [r for r in caplog.records if r.name == "assistant.serve.api"]
    assert len(records) == 6 and all(r.exc_info is None and r.message.startswith("rejected POST") for r in records)


def test_api_key_is_required_when_set(real_assistant):
    keyed = Assistant(real_assistant.settings.replace(api_key="s3cret-key"), real_assistant.index, real_assistant.embedder)
    with serve(create_app(keyed, include_chat=False)) as url:
        with pytest.raises(openai.AuthenticationError, match="missing or wrong API key"):
            openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0).models.list()
        response = httpx.post(url + "/v1/chat/completions", json={"model": "policy-qa", "messages": [user(RETAIL_Q)]})
        assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
        assert httpx.get(url + "/openapi.json").status_code == 401
        good = openai.OpenAI(base_url=url + "/v1", api_key="s3cret-key", max_retries=0, timeout=60)
        assert "1983.09" in good.chat.completions.create(model="policy-qa", messages=[user(RETAIL_Q)]).choices[0].message.content
