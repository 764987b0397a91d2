// One flow through Momentum's API with the generated TypeScript client (openapi-fetch over
// the types openapi-typescript makes of openapi/openapi.json), against a live server:
// create contacts, page through them with the cursor, merge-patch a field to null, read a
// 404's error envelope, and receive a signed webhook verified with the Standard Webhooks
// library. Every step asserts; any failure exits non-zero.
//
//   MOMENTUM_BASE_URL=http://127.0.0.1:8080 MOMENTUM_API_KEY=mk_... node dist/flow.js
//
// .ci/clients type-checks it (tsc, strict) and runs it; see clients/README.md.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import createClient from "openapi-fetch";
import { Webhook } from "standardwebhooks";
import type { components, paths } from "./generated/schema.js";

type Contact = components["schemas"]["Contact"];

const baseUrl = requiredEnv("MOMENTUM_BASE_URL");
const apiKey = requiredEnv("MOMENTUM_API_KEY");
// How long a webhook may take to arrive: the worker is woken by the commit, so this is
// only the bound on a stuck run.
const WEBHOOK_TIMEOUT_MS = 30_000;

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`${name} is not set`);
  }
  return value;
}

function log(message: string): void {
  console.log(`flow.ts: ${message}`);
}

const client = createClient<paths>({
  baseUrl,
  headers: { Authorization: `Bearer ${apiKey}` },
});

// --- a webhook receiver ---------------------------------------------------------------
// Deliveries are verified as they arrive; the flow waits for the one it triggers.
interface Delivery {
  headers: Record<string, string>;
  body: string;
}

const deliveries: Delivery[] = [];
let arrived: () => void = () => {};

function headerMap(request: IncomingMessage): Record<string, string> {
  const map: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (typeof value === "string") {
      map[name] = value;
    } else if (Array.isArray(value)) {
      map[name] = value.join(", ");
    }
  }
  return map;
}

const receiver = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    deliveries.push({ headers: headerMap(request), body: Buffer.concat(chunks).toString("utf8") });
    response.writeHead(204).end();
    arrived();
  });
});

async function listen(): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    receiver.once("error", reject);
    receiver.listen(0, "127.0.0.1", resolve);
  });
  const address = receiver.address() as AddressInfo;
  return `http://127.0.0.1:${address.port}/hook`;
}

interface WebhookEvent {
  type: string;
  data: { id: string; title?: string | null };
}

function isWebhookEvent(value: unknown): value is WebhookEvent {
  if (typeof value !== "object" || value === null) return false;
  const event = value as { type?: unknown; data?: unknown };
  if (typeof event.type !== "string") return false;
  if (typeof event.data !== "object" || event.data === null) return false;
  return typeof (event.data as { id?: unknown }).id === "string";
}

// Waits for a verified delivery that `accept` takes. A delivery whose signature does not
// verify fails the flow at once: the server signs every one.
async function verifiedDelivery(
  webhook: Webhook,
  accept: (event: WebhookEvent) => boolean,
): Promise<WebhookEvent> {
  const deadline = Date.now() + WEBHOOK_TIMEOUT_MS;
  let checked = 0;
  for (;;) {
    for (; checked < deliveries.length; checked++) {
      const delivery = deliveries[checked];
      assert.ok(delivery !== undefined);
      // Throws WebhookVerificationError on a bad signature or a stale timestamp.
      const event = webhook.verify(delivery.body, delivery.headers);
      assert.ok(isWebhookEvent(event), `not a Momentum event: ${delivery.body}`);
      if (accept(event)) return event;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new Error(`no matching webhook within ${WEBHOOK_TIMEOUT_MS} ms (${deliveries.length} received)`);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left);
      arrived = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

// Deleting the endpoint right after its delivery races the worker recording that delivery
// (the endpoint's health); the server orders their locks so that this is never a conflict.
async function deleteEndpoint(id: string): Promise<void> {
  const removed = await client.DELETE("/v1/webhook-endpoints/{id}", { params: { path: { id } } });
  assert.equal(removed.response.status, 204, JSON.stringify(removed.error));
}

// --- the flow -------------------------------------------------------------------------
async function main(): Promise<void> {
  const run = randomUUID().slice(0, 8);
  const hookUrl = await listen();

  // A webhook endpoint on this receiver, for contact updates only: the patch below is
  // the one event it should receive.
  const endpoint = await client.POST("/v1/webhook-endpoints", {
    body: { url: hookUrl, event_types: ["contact.updated"], description: `flow.ts ${run}` },
  });
  assert.equal(endpoint.response.status, 201, JSON.stringify(endpoint.error));
  assert.ok(endpoint.data !== undefined);
  const endpointId = endpoint.data.data.id;
  const secret = endpoint.data.data.secret;
  assert.match(secret, /^whsec_/);
  log(`webhook endpoint ${endpointId} -> ${hookUrl}`);

  try {
    // Three contacts sharing a last name no other run uses, so the list below sees
    // exactly these.
    const lastName = `Flow-ts-${run}`;
    const created: Contact[] = [];
    for (const first of ["Ada", "Grace", "Edsger"]) {
      const { data, error, response } = await client.POST("/v1/contacts", {
        body: {
          first_name: first,
          last_name: lastName,
          email: `${first.toLowerCase()}.${run}@example.com`,
          title: "Engineer",
        },
      });
      assert.equal(response.status, 201, JSON.stringify(error));
      assert.ok(data !== undefined);
      assert.equal(data.data.last_name, lastName);
      assert.equal(response.headers.get("location"), `/v1/contacts/${data.data.id}`);
      created.push(data.data);
    }
    log(`created ${created.length} contacts`);

    // Two pages with the cursor: 2, then the last one.
    const first = await client.GET("/v1/contacts", { params: { query: { q: lastName, limit: 2 } } });
    assert.equal(first.response.status, 200, JSON.stringify(first.error));
    assert.ok(first.data !== undefined);
    assert.equal(first.data.data.length, 2);
    assert.equal(first.data.meta.has_more, true);
    const cursor = first.data.meta.next_cursor;
    assert.ok(typeof cursor === "string" && cursor !== "", "the first page has a next_cursor");
    const second = await client.GET("/v1/contacts", { params: { query: { q: lastName, limit: 2, cursor } } });
    assert.equal(second.response.status, 200, JSON.stringify(second.error));
    assert.ok(second.data !== undefined);
    assert.equal(second.data.data.length, 1);
    assert.equal(second.data.meta.has_more, false);
    assert.equal(second.data.meta.next_cursor ?? null, null);
    const firstIds = first.data.data.map((c) => c.id);
    const secondIds = second.data.data.map((c) => c.id);
    assert.ok(!secondIds.some((id) => firstIds.includes(id)), "the pages overlap");
    assert.deepEqual([...firstIds, ...secondIds].sort(), created.map((c) => c.id).sort());
    log("paged 2 + 1 contacts with the cursor");

    // Merge Patch: `null` clears the field.
    const target = created[0];
    assert.ok(target !== undefined);
    const patched = await client.PATCH("/v1/contacts/{id}", {
      params: { path: { id: target.id } },
      body: { title: null },
    });
    assert.equal(patched.response.status, 200, JSON.stringify(patched.error));
    assert.ok(patched.data !== undefined);
    assert.equal(patched.data.data.title ?? null, null);
    const reread = await client.GET("/v1/contacts/{id}", { params: { path: { id: target.id } } });
    assert.equal(reread.response.status, 200, JSON.stringify(reread.error));
    assert.ok(reread.data !== undefined);
    assert.equal(reread.data.data.title ?? null, null);
    assert.equal(reread.data.data.first_name, "Ada", "the patch kept the fields it left out");
    log("merge-patched title to null");

    // A 404 in the error envelope.
    const missingId = randomUUID();
    const missing = await client.GET("/v1/contacts/{id}", { params: { path: { id: missingId } } });
    assert.equal(missing.response.status, 404);
    assert.equal(missing.data, undefined);
    assert.ok(missing.error !== undefined);
    assert.equal(missing.error.error.code, "not_found");
    assert.ok(missing.error.error.message.length > 0);
    assert.ok(Array.isArray(missing.error.error.details));
    assert.equal(missing.error.meta.request_id, missing.response.headers.get("x-request-id"));
    log("404 answered with error.code not_found");

    // The patch's webhook, verified.
    const event = await verifiedDelivery(
      new Webhook(secret),
      (e) => e.type === "contact.updated" && e.data.id === target.id,
    );
    assert.equal(event.data.title ?? null, null);
    log(`webhook contact.updated for ${event.data.id} verified`);
  } finally {
    // This receiver stops with the flow: no retries aimed at it afterwards.
    await deleteEndpoint(endpointId);
    receiver.close();
  }
  log("PASS");
}

main().catch((error: unknown) => {
  console.error("flow.ts: FAIL:", error);
  process.exit(1);
});
