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
before_call).

Two more hooks keep the run honest rather than quiet:

- `batch_negative_data_rejection` is negative_data_rejection for the two batch upserts,
  where .ci/schemathesis.toml turns the built-in check off. It is the built-in check with
  exactly one exemption, the documented behaviour: a schema-violating request whose
  envelope is well formed (an object holding only `items`, an array of 1 to 100) and
  whose violation is in the body may be answered 200 when the answer refuses at least
  one item. A malformed envelope, a bad header or query value, or a 200 that refuses no
  item still fails the run.
- `filter_case` and `before_call` drop cases that would revoke the key the run authenticates with
  (MOMENTUM_SCHEMATHESIS_KEY_ID): revoking it turns every later request into a 401 and
  leaves the rest of the run testing nothing. Revocation itself is still exercised on
  the keys the run creates.
"""

import itertools
import json
import os
import re

import schemathesis
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import negative_data_rejection

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


# The batch upserts (server/src/api/batch.rs, docs/api.md, "Batch upsert"): each item is parsed
# and checked on its own, and a bad item is answered in its own result inside a 200, so
# one bad item does not sink the other 99.
_BATCH_OPERATIONS = {"contacts_batch_upsert", "companies_batch_upsert"}
_BATCH_MAX_ITEMS = 100


def _operation_id(case):
    return case.operation.definition.raw.get("operationId")


def _well_formed_envelope(body):
    if not isinstance(body, dict) or set(body) != {"items"}:
        return False
    items = body["items"]
    return isinstance(items, list) and 1 <= len(items) <= _BATCH_MAX_ITEMS


def _violation_only_in_body(meta):
    # Where schemathesis says it broke the request: the coverage phase names one
    # location, the other phases list their mutations. Anything outside the body (a
    # header, the query) must be refused as a whole, like on every other operation.
    data = meta.phase.data
    locations = {mutation.parameter_location for mutation in data.mutations}
    if data.parameter_location is not None:
        locations.add(data.parameter_location)
    return locations <= {ParameterLocation.BODY}


def _refused_items(response):
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - a body that is not JSON refuses no item
        return 0
    results = body.get("data") if isinstance(body, dict) else None
    if not isinstance(results, list):
        return 0
    return sum(1 for result in results if isinstance(result, dict) and result.get("status") == "error")


@schemathesis.check
def batch_negative_data_rejection(ctx, response, case):
    if _operation_id(case) not in _BATCH_OPERATIONS:
        return None
    meta = case.meta
    if (
        meta is not None
        and meta.generation.mode == GenerationMode.NEGATIVE
        and response.status_code == 200
        and _well_formed_envelope(case.body)
        and _violation_only_in_body(meta)
        and _refused_items(response) > 0
    ):
        # Per-item refusal, by design; whether each item's error is right is the
        # contract tests' job (contract-tests/tests/contract/batch.rs).
        return True
    return negative_data_rejection(ctx, response, case)


# The id of the key .ci/schemathesis creates for the run; unset when the hooks are used
# without that script.
_RUN_KEY_ID = os.environ.get("MOMENTUM_SCHEMATHESIS_KEY_ID", "").lower()


def _targets_run_key(case):
    if not _RUN_KEY_ID or _operation_id(case) != "api_keys_revoke":
        return False
    value = (case.path_parameters or {}).get("id")
    return isinstance(value, str) and value.lower() == _RUN_KEY_ID


@schemathesis.hook
def filter_case(context, case):
    return not _targets_run_key(case)


def _null_path_parameter(case):
    return any(value is None for value in (case.path_parameters or {}).values())


@schemathesis.hook
def before_call(context, case, kwargs):
    # The stateful phase fills path parameters from earlier responses (an `id` from
    # api_keys_list) after filter_case has run; refuse to send that request rather than
    # let it silently lock the run out.
    if _targets_run_key(case):
        raise RuntimeError("schemathesis was about to revoke the key it authenticates with")
    # schemathesis 4.32.5's stateful phase follows an inferred link through a wildcard
    # (`data/*/lead_id` of a list) by picking one match without dropping nulls
    # (schemathesis/specs/openapi/stateful/__init__.py), so an activity whose `lead_id`
    # is null becomes `GET /v1/leads/None`, still labelled schema-valid. It is not (every
    # path id is a UUID): the case is relabelled negative, and is still sent and checked
    # as one (it must be refused with a 4xx).
    meta = case.meta
    if meta is not None and meta.generation.mode == GenerationMode.POSITIVE and _null_path_parameter(case):
        meta.generation.mode = GenerationMode.NEGATIVE
