#!/bin/sh
# Send a WhatsApp text message through wapi. --fail-with-body: print the error answer and exit
# non-zero when the gateway refuses (curl 7.76+).
curl -sS --fail-with-body -X POST "http://localhost:8080/api/messages" \
  -H "X-API-Key: YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"to": "923001234567", "text": "Hello from wapi"}'
