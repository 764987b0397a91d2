"""schemathesis hooks that change no request: loaded by both passes of .ci/schemathesis.

Neither shapes the data schemathesis generates, which is why the strict pass (every
check, no data-shaping hook) loads this file alone:

- `batch_negative_data_rejection` is negative_data_rejection for the two batch upserts,
  where .ci/schemathesis.toml turns the built-in check off. It is the built-in check with
  exactly one exemption, the documented behaviour: a schema-violating request whose
  envelope is well formed (an object holding only `items`, an array of 1 to 100) and
  whose violation is in the body may be answered 200 when the answer refuses at least
  one item. A malformed envelope, a bad header or query value, or a 200 that refuses no
  item still fails the run.
- `filter_case` and `before_call` drop cases that would revoke or rotate the key the
  run authenticates with (MOMENTUM_SCHEMATHESIS_KEY_ID): revoking it, or rotating it
  with no overlap (the stateful phase takes its id from api_keys_list), turns every
  later request into a 401 and leaves the rest of the run testing nothing. Revocation
  and rotation themselves are still exercised on the keys the run creates. This keeps
  the run alive; it shapes no data.
"""

import os

import schemathesis
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import negative_data_rejection


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


# What would lock the run out of its own key: revoking it, or rotating it (the old
# secret, which the run holds, stops working when the overlap ends, at once for 0).
_LOCKING_OUT = ("api_keys_revoke", "api_keys_rotate")


def _targets_run_key(case):
    if not _RUN_KEY_ID or _operation_id(case) not in _LOCKING_OUT:
        return False
    value = (case.path_parameters or {}).get("id")
    return isinstance(value, str) and value.lower() == _RUN_KEY_ID


@schemathesis.hook
def filter_case(context, case):
    return not _targets_run_key(case)


@schemathesis.hook("before_call")
def refuse_to_revoke_the_run_key(context, case, kwargs):
    # The stateful phase fills path parameters from earlier responses (an `id` from
    # api_keys_list) after filter_case has run; refuse to send that request rather than
    # let it silently lock the run out.
    if _targets_run_key(case):
        raise RuntimeError(
            "schemathesis was about to revoke or rotate the key it authenticates with"
        )


