//! One hand-written example per schema that holds plain values: the resources, what
//! clients send, and the pieces of `meta`. Everything built only of other schemas (the
//! envelopes, the lists) is derived from these by `api::examples`. They tell one story —
//! Ada Lovelace of Analytical Engines Ltd, her lead and its pipeline — so the ids that
//! link records agree across examples, and each id is a UUIDv7 minted at its record's
//! `created_at`. The webhook URL is under `.example` (RFC 2606): tools that send the
//! document's examples (schemathesis's examples phase) make the server resolve it, and a
//! reserved name leads nowhere.

use serde_json::{json, Value};

pub const TENANT: &str = "019bb1a5-21e0-795c-a966-496f92584e1a";
pub const USER_ADA: &str = "019bbd72-1cf8-7d11-8768-386d91b6d85c";
pub const USER_CHARLES: &str = "019bc672-ec38-7cf2-8156-395ca729c0ad";
pub const CONTACT: &str = "019bd1e2-5248-753c-8560-0222635cb599";
pub const CONTACT_DUP: &str = "019bdbf2-d820-744e-be50-8254572da002";
pub const COMPANY: &str = "019be644-00d8-7efc-bb65-33e1e08db4db";
pub const PIPELINE: &str = "019bf13e-5240-7797-a8d9-4660c64b4c4d";
pub const STAGE_QUAL: &str = "019bfb89-e160-7511-8f5f-ad0c531b4158";
pub const STAGE_PROP: &str = "019c0472-4a88-7486-b728-77fc442fe17a";
pub const STAGE_WON: &str = "019c0e5a-d600-7d74-9ee4-15446e40962b";
pub const LEAD: &str = "019c2372-43e8-72c0-98ec-62893a760026";
pub const ACTIVITY: &str = "019c2d61-2090-775c-954d-4ce1c3202b5f";
pub const CUSTOM_FIELD: &str = "019c386f-cce8-7033-bb65-f2991edaea2b";
pub const LABEL: &str = "019c425a-1998-7528-b8a6-a9a92d389ba7";
pub const ASSOCIATION: &str = "019c4df7-ea78-7acc-a04b-37a2b6c6bbc8";
pub const API_KEY: &str = "019c56dd-8cb0-726c-8869-1c865f267482";
pub const SESSION_TOKEN: &str = "019c616f-aa50-7806-aced-78d285543bf9";
pub const QR_SESSION: &str = "019c6c62-c7f8-7c0b-bba2-498b6a191463";
pub const ENDPOINT: &str = "019c76bf-75e8-7cd9-90d2-7565a873c7a8";
pub const EVENT: &str = "019c80d1-18e8-72e3-b1ab-0019661e62d0";
pub const DELIVERY: &str = "019c8a26-7c80-7bf4-89b5-f9fa85b746a6";
pub const ATTEMPT: &str = "019c9532-ee88-7821-96f6-3074c5372b48";
pub const AUDIT: &str = "019c9ea4-4a48-7416-b248-932b7fca2c18";
pub const SANDBOX: &str = "019cb3a1-5c40-7d2e-9a61-3b7f0c2d9e41";
/// The sandbox's owner: a user of the sandbox, not of Ada's tenant.
pub const SANDBOX_OWNER: &str = "019cb3a1-5c40-7f13-8b20-6c1d4e5a7f92";
pub const EXPORT: &str = "019cb3a1-5c40-7e88-a4d2-91c0b7e3f5a6";
pub const IMPORT: &str = "019cb3b7-2e18-7a41-9c06-5d3e8f1a2b47";
/// What the server generates for `X-Request-Id` when the client sends none.
pub const REQUEST: &str = "019ca930-93b8-7a67-9587-7fbdb36184cc";

pub const ADA_EMAIL: &str = "ada@analytical-engines.co.uk";

/// The example of the schema `name`, when it is one written here.
pub fn of(name: &str) -> Option<Value> {
    Some(match name {
        "Meta" => json!({ "request_id": REQUEST }),
        // `next_cursor` is filled in from the page's last item (`examples::page`).
        "ListMeta" => json!({
            "request_id": REQUEST, "next_cursor": null, "has_more": true, "limit": 50
        }),
        "DuplicateMeta" => json!({ "request_id": REQUEST, "limit": 20 }),
        "Contact" => contact(),
        "ContactCreate" => json!({
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": ADA_EMAIL,
            "phone": "+442079460321",
            "title": "Head of Computation",
            "company_id": COMPANY,
            "tags": ["customer", "vip"],
            "notes": "Met at the Royal Society soirée; wants notes on the Bernoulli numbers.",
            "custom_fields": { "linkedin": "https://www.linkedin.com/in/ada-lovelace" }
        }),
        "ContactPatch" => json!({ "title": "Chief Analyst", "notes": null }),
        "ContactBatch" => json!({ "items": [
            {
                "first_name": "Ada", "last_name": "Lovelace", "email": ADA_EMAIL,
                "company_id": COMPANY, "tags": ["customer", "vip"], "owner_id": USER_CHARLES
            },
            { "first_name": "Augusta Ada", "last_name": "King", "email": "Ada@Analytical-Engines.co.uk" }
        ]}),
        "ContactBatchResponse" => json!({
            "data": [
                { "index": 0, "status": "updated", "data": contact() },
                {
                    "index": 1,
                    "status": "error",
                    "error": {
                        "code": "conflict",
                        "message": "items[0] has the same email; a batch holds each email once",
                        "details": [{
                            "field": "items[1].email",
                            "code": "duplicate_in_batch",
                            "message": "is also the email of items[0]"
                        }]
                    }
                }
            ],
            "meta": {
                "request_id": REQUEST, "created": 0, "updated": 1, "unchanged": 0, "failed": 1
            }
        }),
        "ContactBatchRead" => json!({
            "ids": [CONTACT, CONTACT_DUP],
            "emails": ["Ada@Analytical-Engines.co.uk"]
        }),
        "ContactBatchReadResponse" => json!({
            "data": [
                { "status": "found", "id": CONTACT, "data": contact() },
                { "status": "not_found", "id": CONTACT_DUP },
                { "status": "found", "email": "Ada@Analytical-Engines.co.uk", "data": contact() }
            ],
            "meta": { "request_id": REQUEST, "found": 2, "not_found": 1 }
        }),
        "CompanyBatchRead" => json!({
            "ids": [COMPANY],
            "domains": ["https://www.difference-engines.co.uk/"]
        }),
        "CompanyBatchReadResponse" => json!({
            "data": [
                { "status": "found", "id": COMPANY, "data": company() },
                { "status": "not_found", "domain": "https://www.difference-engines.co.uk/" }
            ],
            "meta": { "request_id": REQUEST, "found": 1, "not_found": 1 }
        }),
        "LeadBatchRead" => json!({ "ids": [LEAD] }),
        "LeadBatchReadResponse" => json!({
            "data": [{ "status": "found", "id": LEAD, "data": lead() }],
            "meta": { "request_id": REQUEST, "found": 1, "not_found": 0 }
        }),
        "Company" => company(),
        "CompanyCreate" => json!({
            "name": "Analytical Engines Ltd",
            "domain": "analytical-engines.co.uk",
            "website": "https://analytical-engines.co.uk",
            "industry": "Computing machinery",
            "employee_count": 42,
            "phone": "+442079460000",
            "address_line1": "12 St James's Square",
            "city": "London",
            "postal_code": "SW1Y 4LB",
            "country": "GB",
            "tags": ["customer"]
        }),
        "CompanyPatch" => json!({ "employee_count": 57, "address_line2": null }),
        "CompanyBatch" => json!({ "items": [
            { "name": "Analytical Engines Ltd", "domain": "analytical-engines.co.uk", "employee_count": 57 },
            { "name": "Difference Engines plc", "domain": "difference-engines.co.uk", "country": "GB" }
        ]}),
        "CompanyBatchResponse" => json!({
            "data": [
                { "index": 0, "status": "updated", "data": company() },
                { "index": 1, "status": "created", "data": {
                    "id": "019ca930-93b9-7c01-8e4d-27f0b3a9d152",
                    "name": "Difference Engines plc",
                    "domain": "difference-engines.co.uk",
                    "website": null, "industry": null, "employee_count": null, "phone": null,
                    "address_line1": null, "address_line2": null, "city": null,
                    "region": null, "postal_code": null, "country": "GB",
                    "tags": [], "custom_fields": {},
                    "owner_id": USER_CHARLES,
                    "created_at": "2026-03-01T11:37:39.641207Z",
                    "updated_at": "2026-03-01T11:37:39.641207Z",
                    "deleted_at": null
                }}
            ],
            "meta": {
                "request_id": REQUEST, "created": 1, "updated": 1, "unchanged": 0, "failed": 0
            }
        }),
        "Pipeline" => json!({
            "id": PIPELINE,
            "name": "Enterprise sales",
            "default": true,
            "stages": [stage_qualified(), stage(), stage_won()],
            "created_at": "2026-01-24T18:22:32.576011Z",
            "updated_at": "2026-01-30T10:02:40.512087Z"
        }),
        "PipelineCreate" => json!({
            "name": "Enterprise sales",
            "stages": [
                { "name": "Qualified", "probability": 20 },
                { "name": "Proposal sent", "probability": 60 },
                { "name": "Won", "kind": "won", "probability": 100 },
                { "name": "Lost", "kind": "lost", "probability": 0 }
            ]
        }),
        "PipelinePatch" => json!({ "name": "Enterprise sales (EMEA)", "default": true }),
        "Stage" => stage(),
        // Every stage in one page, as the server lists them.
        "StageList" => json!({
            "data": [stage_qualified(), stage(), stage_won()],
            "meta": {
                "request_id": REQUEST,
                "next_cursor": null,
                "has_more": false,
                "limit": crate::domain::pipeline::STAGES_MAX
            }
        }),
        "StageCreate" => json!({ "name": "Negotiation", "position": 2, "probability": 80 }),
        "StagePatch" => json!({ "name": "Proposal sent", "probability": 65 }),
        "StageOrder" => json!({ "stage_ids": [STAGE_PROP, STAGE_QUAL, STAGE_WON] }),
        "Lead" => lead(),
        "LeadCreate" => json!({
            "title": "Difference Engine No. 2 licence",
            "pipeline_id": PIPELINE,
            "stage_id": STAGE_PROP,
            "value": "125000.00",
            "currency": "GBP",
            "expected_close_date": "2026-06-30",
            "owner_id": USER_CHARLES,
            "contact_id": CONTACT,
            "company_id": COMPANY,
            "source": "referral"
        }),
        "LeadPatch" => json!({ "stage_id": STAGE_WON, "value": "132500.00" }),
        "LeadConversion" => json!({ "lead": lead(), "contact": contact(), "company": company() }),
        "Activity" => activity(),
        "ActivityCreate" => json!({
            "type": "call",
            "subject": "Pricing call about the Difference Engine licence",
            "body": "Ada wants a quote for 3 seats.\nFollow up with the proposal by Friday.",
            "contact_id": CONTACT,
            "lead_id": LEAD,
            "owner_id": USER_CHARLES,
            "completed_at": "2026-02-05T10:30:00Z"
        }),
        "ActivityPatch" => json!({ "due_at": "2026-02-13T15:00:00Z", "body": null }),
        "CustomField" => json!({
            "id": CUSTOM_FIELD,
            "record_type": "contact",
            "key": "linkedin",
            "label": "LinkedIn profile",
            "type": "url",
            "options": [],
            "required": false,
            "unique": true,
            "created_at": "2026-02-07T14:09:37.512330Z",
            "updated_at": "2026-02-07T14:09:37.512330Z"
        }),
        "CustomFieldCreate" => json!({
            "record_type": "contact",
            "key": "linkedin",
            "label": "LinkedIn profile",
            "type": "url",
            "unique": true
        }),
        "CustomFieldPatch" => json!({ "label": "LinkedIn", "required": true }),
        "AssociationLabel" => json!({
            "id": LABEL,
            "name": "Champion",
            "description": "The contact who argues for us inside the deal.",
            "from_type": "contact",
            "to_type": "lead",
            "created_at": "2026-02-09T12:22:07.384770Z",
            "updated_at": "2026-02-09T12:22:07.384770Z"
        }),
        "AssociationLabelCreate" => json!({
            "name": "Champion",
            "description": "The contact who argues for us inside the deal.",
            "from_type": "contact",
            "to_type": "lead"
        }),
        "AssociationLabelPatch" => json!({ "description": null, "unrestricted": true }),
        "Association" => json!({
            "id": ASSOCIATION,
            "from_type": "contact",
            "from_id": CONTACT,
            "to_type": "lead",
            "to_id": LEAD,
            "label_id": LABEL,
            "created_at": "2026-02-11T18:30:19.640118Z"
        }),
        "AssociationCreate" => json!({
            "from_type": "contact",
            "from_id": CONTACT,
            "to_type": "lead",
            "to_id": LEAD,
            "label_id": LABEL
        }),
        "RecordAssociation" => json!({
            "id": ASSOCIATION,
            "direction": "outgoing",
            "other_type": "lead",
            "other_id": LEAD,
            "label_id": LABEL,
            "created_at": "2026-02-11T18:30:19.640118Z"
        }),
        "MergeRequest" => json!({ "duplicate_id": CONTACT_DUP }),
        "DuplicateSuggestion" => json!({
            "contact_id": CONTACT,
            "duplicate_id": CONTACT_DUP,
            "score": 0.94,
            "reasons": ["email", "name"],
            "name_similarity": 0.88
        }),
        "User" => user(),
        "UserCreate" => json!({
            "email": "charles@analytical-engines.co.uk", "name": "Charles Babbage", "role": "member"
        }),
        "UserPatch" => json!({ "name": "Charles Babbage", "role": "admin" }),
        "ApiKey" => api_key(),
        "ApiKeyCreate" => json!({
            "name": "Zapier sync",
            "scopes": ["contacts:read", "contacts:write", "companies:read"],
            "expires_at": "2027-02-13T00:00:00Z"
        }),
        "ApiKeyUpdate" => json!({
            "name": "Zapier sync (read-only)",
            "scopes": ["contacts:read", "companies:read"],
            "expires_at": "2027-01-31T00:00:00Z"
        }),
        "ApiKeyRotate" => json!({ "overlap_seconds": 3600 }),
        "Me" => json!({
            "tenant": { "id": TENANT, "name": "Analytical Engines Ltd" },
            "user": user(),
            "credential": {
                "kind": "api_key",
                "id": API_KEY,
                "name": "Zapier sync",
                "scopes": ["contacts:read", "contacts:write", "companies:read"],
                "expires_at": "2027-02-13T00:00:00Z"
            },
            "rate_limits": [
                { "class": "auth", "limit": 10, "remaining": 10, "reset": 0 },
                { "class": "read", "limit": 1000, "remaining": 997, "reset": 1 },
                { "class": "write", "limit": 300, "remaining": 288, "reset": 3 },
                { "class": "admin", "limit": 60, "remaining": 60, "reset": 0 },
                { "class": "webhook_test", "limit": 10, "remaining": 10, "reset": 0 }
            ]
        }),
        "ApiKeyWithSecret" => json!({
            "api_key": api_key(),
            "secret": "mk_q7x2lmr9c4tw8kzp_\
                       3f9a1c7e5b2d8046f1a3c5e7092b4d6f8a0c2e4f6b8d0a1c3e5f7091b2d4f6a8"
        }),
        "QrSession" => json!({
            "id": QR_SESSION,
            "status": "approved",
            "user_id": USER_ADA,
            "expires_at": "2026-02-17T16:20:39.812455Z"
        }),
        "QrSessionCreated" => json!({
            "id": QR_SESSION,
            "status": "pending",
            "expires_at": "2026-02-17T16:20:39.812455Z",
            "poll_secret": "b6c1e0f49a2d73854fe1c09d2b7a6e3f",
            "qr_content": format!("momentum://qr-login?session={QR_SESSION}"),
            "qr_svg_url": format!("/v1/auth/qr-sessions/{QR_SESSION}/qr.svg"),
            "qr_png_url": format!("/v1/auth/qr-sessions/{QR_SESSION}/qr.png")
        }),
        "SessionToken" => session_token(),
        "SessionTokenIssued" => json!({
            "token": "mst_h3kq8vz1n5rd0wye_\
                      9e2c4a6f8b0d1e3f5a7c9e1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d1f",
            "token_id": SESSION_TOKEN,
            "expires_at": "2026-03-17T13:13:54.207661Z",
            "user_id": USER_ADA,
            "tenant_id": TENANT,
            "scopes": ["contacts:read", "contacts:write"]
        }),
        "AuditEvent" => json!({
            "id": AUDIT,
            "action": "api_key.revoked",
            "actor_kind": "api_key",
            "actor_id": API_KEY,
            "actor_user_id": USER_ADA,
            "target_type": "api_key",
            "target_id": API_KEY,
            "data": { "name": "Zapier sync" },
            "created_at": "2026-02-27T10:28:13.330982Z"
        }),
        "Export" => export(),
        "Import" => json!({
            "id": IMPORT,
            "record_type": "contact",
            "format": "csv",
            "match_key": "email",
            "columns": [
                { "column": "E-mail", "field": "email" },
                { "column": "First name", "field": "first_name" },
                { "column": "Plan", "field": "custom_fields.plan" },
                { "column": "Notes (internal)", "field": null }
            ],
            "status": "completed",
            "progress": {
                "bytes_read": 1_204_118,
                "size_bytes": 1_204_118,
                "rows_read": 10_000,
                "created": 9_412,
                "updated": 530,
                "unchanged": 51,
                "failed": 7
            },
            "errors_truncated": false,
            "errors_url": format!("/v1/imports/{IMPORT}/errors"),
            "error_code": null,
            "error_message": null,
            "started_at": "2026-03-03T12:20:01.104266Z",
            "completed_at": "2026-03-03T12:20:09.871532Z",
            "created_at": "2026-03-03T12:20:00.918402Z",
            "updated_at": "2026-03-03T12:20:09.871532Z"
        }),
        "ImportError" => json!({
            "line": 318,
            "column": "E-mail",
            "field": "email",
            "code": "invalid",
            "message": "must be a valid email address"
        }),
        "ExportCreate" => json!({
            "record_type": "contact",
            "format": "csv",
            "filters": { "owner_id": USER_ADA, "custom_field": ["tier:eq:gold"] }
        }),
        "Sandbox" => sandbox(),
        "SandboxCreate" => json!({ "name": "ci run 1842", "expires_in": 7200, "seed": "demo" }),
        "SandboxWithSecret" => json!({
            "sandbox": sandbox(),
            "owner_email": ADA_EMAIL,
            "secret": "mk_b4r8tq2zl6nw0ycx_\
                       9c1e3a5f7b2d4068e1f3a5c7e9b0d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c1e3f5"
        }),
        "WebhookEndpoint" => endpoint(),
        "WebhookEndpointWithSecret" => {
            let mut endpoint = endpoint();
            endpoint["secret"] = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into();
            endpoint
        }
        "WebhookEndpointCreate" => json!({
            "url": "https://hooks.analytical-engines.example/momentum",
            "description": "CRM sync to the ledger",
            "event_types": ["contact.created", "contact.updated", "lead.won"],
            "filters": [{ "event_type": "contact.updated", "changed_fields": ["email", "phone"] }]
        }),
        "WebhookEndpointPatch" => json!({ "enabled": false, "description": null }),
        "WebhookDelivery" => json!({
            "id": DELIVERY,
            "event_id": EVENT,
            "event_type": "contact.updated",
            "endpoint_id": ENDPOINT,
            "status": "delivered",
            "attempt_count": 2,
            "last_status_code": 200,
            "last_error": null,
            "last_attempt_at": "2026-02-23T10:59:01.118204Z",
            "next_attempt_at": null,
            "delivered_at": "2026-02-23T10:59:01.118204Z",
            "created_at": "2026-02-23T10:58:24.896733Z",
            "updated_at": "2026-02-23T10:59:01.118204Z"
        }),
        "WebhookAttempt" => json!({
            "id": ATTEMPT,
            "delivery_id": DELIVERY,
            "trigger": "scheduled",
            "status_code": 503,
            "duration_ms": 184,
            "response_body": "upstream connect error",
            "error": null,
            "created_at": "2026-02-25T14:27:49.384511Z"
        }),
        "WebhookRecover" => json!({
            "since": "2026-02-22T00:00:00Z", "until": "2026-02-23T12:00:00Z"
        }),
        "WebhookRecovery" => json!({ "queued": 14 }),
        "Event" => json!({
            "id": EVENT,
            "type": "contact.updated",
            "timestamp": "2026-02-21T15:28:33.512088Z",
            "data": contact(),
            "changed_fields": ["phone", "title"],
            "previous": { "phone": null, "title": "Analyst" }
        }),
        "SearchHit" => json!({
            "type": "contact",
            "id": CONTACT,
            "score": 0.91,
            "title": "Ada Lovelace",
            "subtitle": ADA_EMAIL,
            "contact": contact()
        }),
        "Health" => json!({ "status": "ok", "database": { "encrypted": true } }),
        _ => return None,
    })
}

fn contact() -> Value {
    json!({
        "id": CONTACT,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": ADA_EMAIL,
        "phone": "+442079460321",
        "title": "Head of Computation",
        "company_id": COMPANY,
        "tags": ["customer", "vip"],
        "notes": "Met at the Royal Society soirée; wants notes on the Bernoulli numbers.",
        "custom_fields": { "linkedin": "https://www.linkedin.com/in/ada-lovelace" },
        "owner_id": USER_CHARLES,
        "created_at": "2026-01-18T16:13:49.320417Z",
        "updated_at": "2026-02-02T09:41:12.058230Z",
        "deleted_at": null
    })
}

fn company() -> Value {
    json!({
        "id": COMPANY,
        "name": "Analytical Engines Ltd",
        "domain": "analytical-engines.co.uk",
        "website": "https://analytical-engines.co.uk",
        "industry": "Computing machinery",
        "employee_count": 57,
        "phone": "+442079460000",
        "address_line1": "12 St James's Square",
        "address_line2": null,
        "city": "London",
        "region": null,
        "postal_code": "SW1Y 4LB",
        "country": "GB",
        "tags": ["customer"],
        "custom_fields": {},
        "owner_id": USER_CHARLES,
        "created_at": "2026-01-22T15:12:55.512904Z",
        "updated_at": "2026-02-10T08:03:47.771562Z",
        "deleted_at": null
    })
}

fn stage() -> Value {
    json!({
        "id": STAGE_PROP,
        "pipeline_id": PIPELINE,
        "name": "Proposal sent",
        "position": 1,
        "probability": 60,
        "kind": "open",
        "created_at": "2026-01-28T11:52:05.384226Z",
        "updated_at": "2026-01-28T11:52:05.384226Z"
    })
}

fn stage_qualified() -> Value {
    json!({
        "id": STAGE_QUAL,
        "pipeline_id": PIPELINE,
        "name": "Qualified",
        "position": 0,
        "probability": 20,
        "kind": "open",
        "created_at": "2026-01-26T18:21:16.902344Z",
        "updated_at": "2026-01-26T18:21:16.902344Z"
    })
}

fn stage_won() -> Value {
    json!({
        "id": STAGE_WON,
        "pipeline_id": PIPELINE,
        "name": "Won",
        "position": 2,
        "probability": 100,
        "kind": "won",
        "created_at": "2026-01-30T10:02:40.512087Z",
        "updated_at": "2026-01-30T10:02:40.512087Z"
    })
}

fn lead() -> Value {
    json!({
        "id": LEAD,
        "title": "Difference Engine No. 2 licence",
        "pipeline_id": PIPELINE,
        "stage_id": STAGE_PROP,
        "status": "open",
        "value": "125000.00",
        "currency": "GBP",
        "expected_close_date": "2026-06-30",
        "owner_id": USER_CHARLES,
        "contact_id": CONTACT,
        "company_id": COMPANY,
        "source": "referral",
        "lost_reason": null,
        "prospect_first_name": null,
        "prospect_last_name": null,
        "prospect_email": null,
        "prospect_phone": null,
        "prospect_company_name": null,
        "prospect_company_domain": null,
        "custom_fields": {},
        "stage_changed_at": "2026-02-04T14:05:31.227840Z",
        "won_at": null,
        "lost_at": null,
        "converted_at": null,
        "created_at": "2026-02-03T12:20:17.896514Z",
        "updated_at": "2026-02-04T14:05:31.227840Z",
        "deleted_at": null
    })
}

fn activity() -> Value {
    json!({
        "id": ACTIVITY,
        "type": "call",
        "subject": "Pricing call about the Difference Engine licence",
        "body": "Ada wants a quote for 3 seats.\nFollow up with the proposal by Friday.",
        "system": false,
        "contact_id": CONTACT,
        "company_id": null,
        "lead_id": LEAD,
        "owner_id": USER_CHARLES,
        "due_at": null,
        "completed_at": "2026-02-05T10:30:00Z",
        "custom_fields": {},
        "created_at": "2026-02-05T10:37:46.256610Z",
        "updated_at": "2026-02-05T10:37:46.256610Z",
        "deleted_at": null
    })
}

fn user() -> Value {
    json!({
        "id": USER_ADA,
        "email": ADA_EMAIL,
        "name": "Ada Lovelace",
        "role": "owner",
        "active": true,
        "deactivated_at": null,
        "created_at": "2026-01-14T16:58:51.192004Z",
        "updated_at": "2026-01-14T16:58:51.192004Z"
    })
}

fn api_key() -> Value {
    json!({
        "id": API_KEY,
        "prefix": "mk_q7x2lmr9c4tw8kzp",
        "name": "Zapier sync",
        "user_id": USER_ADA,
        "scopes": ["contacts:read", "contacts:write", "companies:read"],
        "expires_at": "2027-02-13T00:00:00Z",
        "last_used_at": "2026-02-26T07:45:02.003117Z",
        "revoked_at": null,
        "previous_secret_expires_at": null,
        "created_at": "2026-02-13T11:58:06.384902Z",
        "updated_at": "2026-02-13T11:58:06.384902Z"
    })
}

fn session_token() -> Value {
    json!({
        "id": SESSION_TOKEN,
        "prefix": "mst_h3kq8vz1n5rd0wye",
        "user_id": USER_ADA,
        "qr_session_id": QR_SESSION,
        "scopes": ["contacts:read", "contacts:write"],
        "last_used_at": "2026-02-16T08:02:11.540337Z",
        "revoked_at": null,
        "expires_at": "2026-03-17T13:13:54.207661Z",
        "created_at": "2026-02-15T13:13:54.207661Z",
        "updated_at": "2026-02-15T13:13:54.207661Z"
    })
}

fn endpoint() -> Value {
    json!({
        "id": ENDPOINT,
        "url": "https://hooks.analytical-engines.example/momentum",
        "description": "CRM sync to the ledger",
        "event_types": ["contact.created", "contact.updated", "lead.won"],
        "filters": [{ "event_type": "contact.updated", "changed_fields": ["email", "phone"] }],
        "enabled": true,
        "disabled_at": null,
        "disabled_reason": null,
        "failing_since": null,
        "last_success_at": "2026-02-23T10:59:01.118204Z",
        "previous_secret_expires_at": null,
        "created_at": "2026-02-19T16:33:05.640771Z",
        "updated_at": "2026-02-19T16:33:05.640771Z"
    })
}

fn export() -> Value {
    json!({
        "id": EXPORT,
        "record_type": "contact",
        "format": "csv",
        "status": "completed",
        "filters": { "owner_id": USER_ADA, "custom_field": ["tier:eq:gold"] },
        "rows": 1842,
        "size_bytes": 412_316,
        "error_code": null,
        "error_message": null,
        "download_url": format!("/v1/exports/{EXPORT}/download"),
        "snapshot_at": "2026-03-03T12:17:02.531204Z",
        "started_at": "2026-03-03T12:17:02.529871Z",
        "completed_at": "2026-03-03T12:17:03.902117Z",
        "expires_at": "2026-03-04T12:17:03.902117Z",
        "created_at": "2026-03-03T12:17:02.528114Z",
        "updated_at": "2026-03-03T12:17:03.902117Z"
    })
}

fn sandbox() -> Value {
    json!({
        "id": SANDBOX,
        "name": "ci run 1842",
        "seed": "demo",
        "owner_user_id": SANDBOX_OWNER,
        "expires_at": "2026-03-03T14:17:02.528114Z",
        "created_at": "2026-03-03T12:17:02.528114Z"
    })
}
