#!/usr/bin/env bash
# The OpenAI Chat Completions endpoint with curl: plain, then streaming (SSE).
set -euo pipefail
BASE="${ENGINE_BASE_URL:-http://127.0.0.1:8000/v1}"

curl -sS --fail-with-body "$BASE/chat/completions" \
  -H "content-type: application/json" -H "authorization: Bearer anything" \
  -d '{"model": "mock-1", "messages": [{"role": "user", "content": "Hello from curl"}]}'
echo

curl -sS -N --fail-with-body "$BASE/chat/completions" \
  -H "content-type: application/json" \
  -d '{"model": "mock-1", "stream": true, "messages": [{"role": "user", "content": "Stream please"}]}'

curl -sS --fail-with-body "$BASE/models"
echo
