"""Schemathesis hooks for `tests/e2e/fuzz.rs`: what keeps one fuzzing run from sawing off the
branch it sits on. Everything else the fuzzer may do to the gateway, it does.

- `DELETE /api/keys/{id}` never names a key the runs authenticate with (`FUZZ_KEEP_KEYS`, their
  public ids, comma-separated). The stateful phase takes ids from `GET /api/keys` answers, so it
  would revoke the admin key mid-run and every later case would test only the 401 path. Such a
  case is sent for a key id that does not exist instead (still a revocation, answered 404). The
  rewrite happens just before the call, the one place every phase's cases pass (a `map_case`
  hook misses the ids stateful links fill in, and slows generation several times over).
- `POST /api/session/logout`: once a logout succeeded, the simulated session is linked again
  (`POST /api/simulator {"action":"link"}` with `FUZZ_ADMIN_KEY` at `FUZZ_BASE`), so the cases
  after it reach the send path instead of its 503.
"""

import os

import requests
import schemathesis

KEEP = {key for key in os.environ.get("FUZZ_KEEP_KEYS", "").split(",") if key}
# A well-formed public id that no key has (ids are 8 random base62 characters).
UNKNOWN_KEY = "Fuzz0000"
REVOKE = ("DELETE", "/api/keys/{id}")
LOGOUT = ("POST", "/api/session/logout")


def _is(case, operation):
    return (case.method.upper(), case.path) == operation


@schemathesis.hook
def before_call(context, case, kwargs):
    if _is(case, REVOKE) and str(case.path_parameters.get("id")) in KEEP:
        case.path_parameters["id"] = UNKNOWN_KEY


@schemathesis.hook
def after_call(context, case, response):
    if _is(case, LOGOUT) and response.status_code == 200:
        relink = requests.post(
            f"{os.environ['FUZZ_BASE']}/api/simulator",
            json={"action": "link"},
            headers={"X-API-Key": os.environ["FUZZ_ADMIN_KEY"]},
            timeout=10,
        )
        relink.raise_for_status()
