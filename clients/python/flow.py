"""One flow through Momentum's API with the generated Python client (openapi-python-client's
package made of openapi/openapi.json), against a live server: create contacts, page through
them with the cursor, merge-patch a field to null, read a 404's error envelope, and receive
a signed webhook verified with the Standard Webhooks library. Every step asserts; any
failure exits non-zero.

    MOMENTUM_BASE_URL=http://127.0.0.1:8080 MOMENTUM_API_KEY=mk_... python flow.py

.ci/clients generates the package into clients/python/generated, checks this file with
`mypy --strict` (the generated package included) and runs it; see clients/README.md.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from momentum_client import AuthenticatedClient
from momentum_client.api.contacts import contacts_create, contacts_get, contacts_list, contacts_update
from momentum_client.api.webhooks import webhook_endpoints_create, webhook_endpoints_delete
from momentum_client.models import (
    Contact,
    ContactCreate,
    ContactEnvelope,
    ContactList,
    ContactPatch,
    ErrorEnvelope,
    EventType,
    WebhookEndpointCreate,
    WebhookEndpointWithSecretEnvelope,
)
from momentum_client.types import Response, Unset
from standardwebhooks.webhooks import Webhook

# How long a webhook may take to arrive: the worker is woken by the commit, so this is
# only the bound on a stuck run.
WEBHOOK_TIMEOUT_S = 30.0

T = TypeVar("T")


class FlowError(Exception):
    pass


def check(condition: bool, message: str) -> None:
    # Not `assert`: `python -O` would drop it, and the flow would pass without checking.
    if not condition:
        raise FlowError(message)


def log(message: str) -> None:
    print(f"flow.py: {message}", flush=True)


def required_env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise FlowError(f"{name} is not set")
    return value


def parsed(response: Response[T | ErrorEnvelope], status: int, kind: type[T]) -> T:
    """The body of a response that must have `status`, as the generated model `kind`."""
    body = response.parsed
    check(
        response.status_code == status,
        f"expected {status}, got {int(response.status_code)}: {response.content.decode(errors='replace')}",
    )
    check(isinstance(body, kind), f"expected a {kind.__name__}, got {body!r}")
    assert isinstance(body, kind)  # for mypy: check() above has already failed otherwise
    return body


# --- a webhook receiver ---------------------------------------------------------------
class Delivery:
    def __init__(self, headers: dict[str, str], body: bytes) -> None:
        self.headers = headers
        self.body = body


deliveries: queue.Queue[Delivery] = queue.Queue()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # the name http.server dispatches to
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        deliveries.put(Delivery({name.lower(): value for name, value in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def verified_delivery(webhook: Webhook, event_type: str, record_id: str) -> dict[str, Any]:
    """Waits for the verified delivery of `event_type` about `record_id`. A delivery whose
    signature does not verify fails the flow at once: the server signs every one."""
    deadline = time.monotonic() + WEBHOOK_TIMEOUT_S
    received = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FlowError(f"no {event_type} webhook within {WEBHOOK_TIMEOUT_S} s ({received} received)")
        try:
            delivery = deliveries.get(timeout=left)
        except queue.Empty:
            continue
        received += 1
        # Raises WebhookVerificationError on a bad signature or a stale timestamp.
        event = webhook.verify(delivery.body, delivery.headers)
        check(isinstance(event, dict), f"not a Momentum event: {delivery.body!r}")
        data = event.get("data")
        check(isinstance(data, dict), f"an event without data: {event!r}")
        if event.get("type") == event_type and data.get("id") == record_id:
            return dict(event)


def delete_endpoint(client: AuthenticatedClient, endpoint_id: uuid.UUID) -> None:
    # Deleting the endpoint right after its delivery races the worker recording that
    # delivery (the endpoint's health); the server orders their locks so that this is never
    # a conflict.
    removed = webhook_endpoints_delete.sync_detailed(endpoint_id, client=client)
    check(removed.status_code == 204, f"deleting the endpoint: {int(removed.status_code)}")


# --- the flow -------------------------------------------------------------------------
def main() -> None:
    client = AuthenticatedClient(
        base_url=required_env("MOMENTUM_BASE_URL"),
        token=required_env("MOMENTUM_API_KEY"),
        raise_on_unexpected_status=True,
    )
    run = uuid.uuid4().hex[:8]

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{server.server_address[1]}/hook"

    # A webhook endpoint on this receiver, for contact updates only: the patch below is
    # the one event it should receive.
    endpoint = parsed(
        webhook_endpoints_create.sync_detailed(
            client=client,
            body=WebhookEndpointCreate(
                url=hook_url, event_types=[EventType.CONTACT_UPDATED], description=f"flow.py {run}"
            ),
        ),
        201,
        WebhookEndpointWithSecretEnvelope,
    ).data
    check(endpoint.secret.startswith("whsec_"), f"not a Standard Webhooks secret: {endpoint.secret[:6]}...")
    log(f"webhook endpoint {endpoint.id} -> {hook_url}")

    try:
        # Three contacts sharing a last name no other run uses, so the list below sees
        # exactly these.
        last_name = f"Flow-py-{run}"
        created: list[Contact] = []
        for first in ["Ada", "Grace", "Edsger"]:
            response = contacts_create.sync_detailed(
                client=client,
                body=ContactCreate(
                    first_name=first,
                    last_name=last_name,
                    email=f"{first.lower()}.{run}@example.com",
                    title="Engineer",
                ),
            )
            contact = parsed(response, 201, ContactEnvelope).data
            check(contact.last_name == last_name, f"last_name {contact.last_name!r}")
            check(
                response.headers.get("location") == f"/v1/contacts/{contact.id}",
                f"Location {response.headers.get('location')!r}",
            )
            created.append(contact)
        log(f"created {len(created)} contacts")

        # Two pages with the cursor: 2, then the last one.
        first_page = parsed(contacts_list.sync_detailed(client=client, q=last_name, limit=2), 200, ContactList)
        check(len(first_page.data) == 2, f"first page: {len(first_page.data)} contacts")
        check(first_page.meta.has_more, "first page: has_more is false")
        cursor = first_page.meta.next_cursor
        check(isinstance(cursor, str) and cursor != "", f"first page: next_cursor {cursor!r}")
        assert isinstance(cursor, str)
        second_page = parsed(
            contacts_list.sync_detailed(client=client, q=last_name, limit=2, cursor=cursor), 200, ContactList
        )
        check(len(second_page.data) == 1, f"second page: {len(second_page.data)} contacts")
        check(not second_page.meta.has_more, "second page: has_more is true")
        last_cursor = second_page.meta.next_cursor
        check(last_cursor is None or isinstance(last_cursor, Unset), f"second page: next_cursor {last_cursor!r}")
        first_ids = [c.id for c in first_page.data]
        second_ids = [c.id for c in second_page.data]
        check(not set(first_ids) & set(second_ids), "the pages overlap")
        check(
            sorted(first_ids + second_ids) == sorted(c.id for c in created),
            "the pages do not hold exactly the contacts created",
        )
        log("paged 2 + 1 contacts with the cursor")

        # Merge Patch: `None` is sent as `null`, which clears the field.
        target = created[0]
        patched = parsed(
            contacts_update.sync_detailed(target.id, client=client, body=ContactPatch(title=None)),
            200,
            ContactEnvelope,
        ).data
        check(patched.title is None, f"patched title {patched.title!r}")
        reread = parsed(contacts_get.sync_detailed(target.id, client=client), 200, ContactEnvelope).data
        check(reread.title is None, f"re-read title {reread.title!r}")
        check(reread.first_name == "Ada", f"the patch changed first_name to {reread.first_name!r}")
        log("merge-patched title to null")

        # A 404 in the error envelope.
        missing = contacts_get.sync_detailed(uuid.uuid4(), client=client)
        error = parsed(missing, 404, ErrorEnvelope)
        check(error.error.code == "not_found", f"error.code {error.error.code!r}")
        check(error.error.message != "", "error.message is empty")
        check(isinstance(error.error.details, list), "error.details is not a list")
        check(
            error.meta.request_id == missing.headers.get("x-request-id"),
            f"meta.request_id {error.meta.request_id!r} is not X-Request-Id",
        )
        log("404 answered with error.code not_found")

        # The patch's webhook, verified.
        event = verified_delivery(Webhook(endpoint.secret), "contact.updated", str(target.id))
        check(event["data"].get("title") is None, f"webhook title {event['data'].get('title')!r}")
        log(f"webhook contact.updated for {event['data']['id']} verified")
    finally:
        # This receiver stops with the flow: no retries aimed at it afterwards.
        delete_endpoint(client, endpoint.id)
        server.shutdown()
    log("PASS")


if __name__ == "__main__":
    try:
        main()
    except Exception:  # any failure fails the flow, with its traceback
        traceback.print_exc()
        print("flow.py: FAIL", file=sys.stderr)
        sys.exit(1)
