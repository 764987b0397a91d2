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

One kind of value is made unique instead:

- `Idempotency-Key`: the generator draws few distinct keys (`0`, `AAA`, ...), so most
  positive requests with one reuse a key an earlier request sent with another body,
  and the server rightly answers `422 idempotency_key_reused` (docs/api.md, "Safe retries: idempotency keys")
  before the handler runs: the positive cases of most create operations never reached
  it. Each positive case's key gets a suffix of its own. Negative cases keep the key
  as generated, and replays and reuse are tested in the contract tests.

And one case is relabelled rather than changed: a stateful-phase request whose path
parameter is null, which schemathesis labels schema-valid although no null is (see
relabel_null_path_parameters).

These are the data-shaping hooks: only the first pass of .ci/schemathesis loads them.
The strict pass loads .ci/schemathesis_hooks_core.py alone (the batch check and the
guard of the run's own key, which change no request; this file loads it too), and
classifies what fails there instead (.ci/schemathesis_classify.py).
"""

import importlib.util
import itertools
import json
import os
import re

import schemathesis
from schemathesis import GenerationMode

# The hooks that change no request (the batch check, the run key's guard), shared with
# the strict pass; loaded from the file next to this one.
_CORE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis_hooks_core.py")
_spec = importlib.util.spec_from_file_location("schemathesis_hooks_core", _CORE)
_core = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_core)

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
_IDEMPOTENCY_HEADER = "idempotency-key"
_IDEMPOTENCY_MAX_LENGTH = 255
# A counter, not random: with one worker the run stays reproducible from its seed.
_idempotency_suffixes = itertools.count(1)


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
        for name in [n for n in case.headers if n.lower() == _IDEMPOTENCY_HEADER]:
            value = case.headers[name]
            if isinstance(value, str):
                # Still 1-255 printable ASCII characters, as the document asks.
                suffix = f"~{next(_idempotency_suffixes)}"
                case.headers[name] = value[: _IDEMPOTENCY_MAX_LENGTH - len(suffix)] + suffix
    return case


def _null_path_parameter(case):
    return any(value is None for value in (case.path_parameters or {}).values())


@schemathesis.hook("before_call")
def relabel_null_path_parameters(context, case, kwargs):
    # schemathesis 4.32.5's stateful phase follows an inferred link through a wildcard
    # (`data/*/lead_id` of a list) by picking one match without dropping nulls
    # (schemathesis/specs/openapi/stateful/__init__.py), so an activity whose `lead_id`
    # is null becomes `GET /v1/leads/None`, still labelled schema-valid. It is not (every
    # path id is a UUID): the case is relabelled negative, and is still sent and checked
    # as one (it must be refused with a 4xx).
    meta = case.meta
    if meta is not None and meta.generation.mode == GenerationMode.POSITIVE and _null_path_parameter(case):
        meta.generation.mode = GenerationMode.NEGATIVE
