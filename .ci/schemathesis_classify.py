"""Classifies the failures of .ci/schemathesis's strict pass; fails on any it cannot name.

    python3 .ci/schemathesis_classify.py EXIT_STATUS EVENTS.ndjson...

(the document the run tested is read from openapi/openapi.json)

The strict pass runs every check without the hooks that shape requests, so it may fail,
but only where no OpenAPI document can say what the server accepts. Each failure of a
check is read from schemathesis's event stream (`--report ndjson`: every scenario with
its cases, the checks run on each and the recorded answer) and put in one of these
categories, each matched on the check, the request and the answer's error code:

- made_up_cursor: a `cursor` the API did not issue, answered 400 `bad_request` naming
  `cursor` (app/page.rs). A cursor is opaque; the document says so in words, and no
  schema can list the values a server will issue.
- reused_idempotency_key: an `Idempotency-Key` sent before with another request,
  answered 422 `idempotency_key_reused`. Whether a key was used is state, not form.

- empty_condition_header_sent_as_valid: a tool bug, not the server's nor the
  document's. schemathesis 4.32.5's coverage phase builds header values from letters
  and digits only (HEADER_ALLOWED_CHARS in schemathesis/specs/openapi/coverage/_wire.py);
  for a pattern that needs another character (`If-Match` needs `*` or `"`,
  pattern_requires_char_outside) it makes no value, and its default positive case then
  sends the header empty, still labelled valid. The document forbids that twice
  (`minLength: 1` and the pattern); the classifier checks that the value sent is empty
  and that the document's schema for that header refuses it, so a malformed value the
  document allowed would still fail CI.

Every other failure (and a failed run with no failure in the stream, or an error event)
fails CI with its details printed. The counts per category are printed by name, so a new
kind of failure shows up as one, never as a larger count of a known one.
"""

import base64
import json
import os
import re
import sys
from collections import Counter

CATEGORIES = ("made_up_cursor", "reused_idempotency_key", "empty_condition_header_sent_as_valid")
CONDITION_HEADERS = ("If-Match", "If-None-Match")


def _answer(interaction):
    response = (interaction or {}).get("response") or {}
    content = response.get("content")
    if isinstance(content, dict) and "$base64" in content:
        content = base64.b64decode(content["$base64"]).decode("utf-8", "replace")
    elif isinstance(content, dict):
        content = content.get("string", "")
    try:
        error = json.loads(content or "")["error"]
    except (ValueError, KeyError, TypeError):
        error = {}
    fields = {detail.get("field") for detail in error.get("details") or [] if isinstance(detail, dict)}
    return response.get("status_code"), error.get("code"), fields


def _header(case, name):
    for key, value in (case.get("headers") or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def _documented_header(document, method, path, name):
    """The schema the document gives header `name` of the operation, if it has one."""
    operation = document.get("paths", {}).get(path, {}).get((method or "").lower(), {})
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "header" and parameter.get("name", "").lower() == name.lower():
            return parameter.get("schema") or {}
    return None


def _refused_by(schema, value):
    if schema is None:
        return False
    if len(value) < schema.get("minLength", 0):
        return True
    pattern = schema.get("pattern")
    return pattern is not None and re.search(pattern, value) is None


def classify(document, check, case, interaction):
    status, code, fields = _answer(interaction)
    query = case.get("query") or {}
    if check == "positive_data_acceptance":
        if status == 400 and code == "bad_request" and fields == {"cursor"} and "cursor" in query:
            return "made_up_cursor"
        if status == 422 and code == "idempotency_key_reused" and _header(case, "Idempotency-Key") is not None:
            return "reused_idempotency_key"
        phase = ((case.get("meta") or {}).get("phase") or {}).get("name")
        for name in CONDITION_HEADERS:
            value = _header(case, name)
            if (
                phase == "coverage"
                and status == 400
                and code == "bad_request"
                and fields == {name}
                and value == ""
                and _refused_by(_documented_header(document, case.get("method"), case.get("path"), name), value)
            ):
                return "empty_condition_header_sent_as_valid"
    return None


def describe(label, check, case, interaction, info):
    status, code, fields = _answer(interaction)
    failure = (info or {}).get("failure") or {}
    request = {key: case.get(key) for key in ("method", "path", "path_parameters", "query", "headers", "body") if case.get(key) is not None}
    phase = ((case.get("meta") or {}).get("phase") or {})
    mode = ((case.get("meta") or {}).get("generation") or {}).get("mode")
    return (
        f"{label}: {check} ({failure.get('code', '?')} {failure.get('title', '')}) in phase "
        f"{phase.get('name')}, {mode} case\n"
        f"    answered {status} {code} naming {sorted(f for f in fields if f)}\n"
        f"    request {json.dumps(request, ensure_ascii=True, default=str)[:600]}\n"
        f"    generated as: {json.dumps(phase.get('data'), default=str)[:400]}"
    )


_DOCUMENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "openapi", "openapi.json")


def main():
    exit_status = int(sys.argv[1])
    with open(_DOCUMENT, encoding="utf-8") as file:
        document = json.load(file)
    counts = Counter({category: 0 for category in CATEGORIES})
    unknown = []
    errors = []
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8") as events:
            for line in events:
                event = json.loads(line)
                for kind, data in event.items():
                    if "Error" in kind:
                        errors.append(f"{kind}: {json.dumps(data, default=str)[:800]}")
                scenario = event.get("ScenarioFinished")
                if not scenario:
                    continue
                recorder = scenario.get("recorder") or {}
                for case_id, checks in (recorder.get("checks") or {}).items():
                    for check in checks:
                        if check.get("status") != "failure":
                            continue
                        case = (recorder.get("cases") or {}).get(case_id, {}).get("value") or {}
                        interaction = (recorder.get("interactions") or {}).get(case_id)
                        category = classify(document, check["name"], case, interaction)
                        if category is None:
                            unknown.append(
                                describe(recorder.get("label"), check["name"], case, interaction, check.get("failure_info"))
                            )
                        else:
                            counts[category] += 1
    for category in CATEGORIES:
        print(f"schemathesis strict: {counts[category]:5d} {category}")
    print(f"schemathesis strict: {len(unknown):5d} unclassified")
    ok = True
    for line in errors:
        print(f"schemathesis strict: error event: {line}", file=sys.stderr)
        ok = False
    for line in unknown:
        print(f"schemathesis strict: unclassified failure: {line}", file=sys.stderr)
        ok = False
    if exit_status != 0 and sum(counts.values()) == 0 and not unknown:
        print(
            f"schemathesis strict: the run failed (exit {exit_status}) without a failure in its events",
            file=sys.stderr,
        )
        ok = False
    if not sys.argv[2:]:
        print("schemathesis strict: no event stream to classify", file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
