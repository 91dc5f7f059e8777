#!/usr/bin/env python3
"""Extra check (not part of CI): drive `cutover mock` with the official Python SDKs on loopback.

    python3 -m venv /tmp/pyv && /tmp/pyv/bin/pip install cozepy openai
    cutover mock mocks/legacy.yaml --port 18081 &   cutover mock mocks/gateway.yaml --port 18082 &
    /tmp/pyv/bin/python bench/sdk_check.py 18081 18082

Keys are the mock profiles' documented test keys (read from the environment when set).
"""
import os
import sys

from cozepy import COZE_CN_BASE_URL, Coze, Message, TokenAuth  # noqa: F401
from openai import OpenAI

coze_port, oa_port = sys.argv[1], sys.argv[2]
coze = Coze(auth=TokenAuth(os.environ.get("LEGACY_KEY", "pat-mock-legacy-0000000000")),
            base_url=f"http://127.0.0.1:{coze_port}")
bot = "7350000000000000001"
conv = coze.conversations.create()
print("conversation", conv.id)
for i in range(3):
    poll = coze.chat.create_and_poll(bot_id=bot, user_id="u1", conversation_id=conv.id,
                                     additional_messages=[Message.build_user_question_text(f"question {i}")])
    print("chat", poll.chat.id, poll.chat.status, "usage", poll.chat.usage.output_count,
          "messages", [m.type for m in poll.messages])
msgs = list(coze.conversations.messages.list(conversation_id=conv.id, limit=2))
print("paged history:", len(msgs), "messages", [m.type.value for m in msgs])
slow = coze.chat.create_and_poll(bot_id=bot, user_id="u1", conversation_id=conv.id,
                                 additional_messages=[Message.build_user_question_text("timeout")], poll_timeout=0)
print("poll timeout -> cancel:", slow.chat.status)
stream_types = [e.event.value for e in coze.chat.stream(bot_id=bot, user_id="u1", conversation_id=conv.id,
                additional_messages=[Message.build_user_question_text("streamed")])]
print("stream events:", stream_types[:3], "...", stream_types[-2:])

oa = OpenAI(api_key=os.environ.get("GATEWAY_KEY", "sk-mock-gateway-0000000000"),
            base_url=f"http://127.0.0.1:{oa_port}/v1", max_retries=0)
m = oa.models.retrieve("gpt-4.1")
print("model", m.id)
r = oa.chat.completions.with_raw_response.create(model="gpt-4.1", messages=[{"role": "user", "content": "hi"}])
print("request id", r.headers.get("x-request-id"), "completion", r.parse().usage.completion_tokens)
print("OK")
