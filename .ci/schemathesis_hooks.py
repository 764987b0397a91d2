"""schemathesis hooks for .ci/schemathesis: keep positive cases positive.

A positive case is one schemathesis promises is valid, and positive_data_acceptance fails
the run when the server refuses it. Two kinds of value schemathesis cannot make valid are
taken out of positive cases (negative cases keep them, and are still checked):

- `cursor`: an opaque token the server issues (base64url JSON of the sort and the last
  row, server/src/api/pagination.rs). No string generated from the document can be one,
  and the server rightly answers a made-up cursor with 400. The stateful phase still
  follows real `next_cursor`s.
- `If-Match` / `If-None-Match` values that break their own documented pattern: the
  coverage phase only puts letters and digits into header values, so it cannot build an
  entity tag (which needs quotes) and sends an empty value marked positive instead.
  Values that match the pattern are kept.
"""

import json
import os
import re

import schemathesis
from schemathesis import GenerationMode

_DOCUMENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "openapi", "openapi.json")


def _condition_pattern():
    with open(_DOCUMENT, encoding="utf-8") as file:
        document = json.load(file)
    for methods in document["paths"].values():
        for operation in methods.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "header" and parameter["name"] == "If-Match":
                    return re.compile(parameter["schema"]["pattern"])
    raise RuntimeError("the document has no If-Match parameter")


_CONDITION = _condition_pattern()
_CONDITION_HEADERS = {"if-match", "if-none-match"}


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return case
    # Headers and query are mappings, not necessarily dicts (headers ignore case).
    if case.query is not None and "cursor" in case.query:
        del case.query["cursor"]
    if case.headers is not None:
        for name in [n for n in case.headers if n.lower() in _CONDITION_HEADERS]:
            value = case.headers[name]
            if not (isinstance(value, str) and _CONDITION.fullmatch(value)):
                del case.headers[name]
    return case
