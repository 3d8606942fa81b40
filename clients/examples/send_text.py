# Send a WhatsApp text message through wapi (Python 3, standard library only).
import json
import urllib.error
import urllib.request

request = urllib.request.Request(
    "http://localhost:8080/api/messages",
    data=json.dumps({"to": "923001234567", "text": "Hello from wapi"}).encode(),
    headers={"X-API-Key": "YOUR_API_KEY", "Content-Type": "application/json"},
    method="POST",
)
try:
    with urllib.request.urlopen(request) as response:
        body = json.load(response)
except urllib.error.HTTPError as error:
    body = json.load(error)
if not body["success"]:
    raise SystemExit(f"{body['code']}: {body['error']}")
print(f"message {body['data']['id']} is {body['data']['status']}")
