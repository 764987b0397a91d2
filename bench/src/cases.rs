//! The measured cases: each an HTTP request for the load generator and the pgbench script
//! of the SQL transaction the server runs for it, statement for statement (as PostgreSQL
//! logged them with `log_statement = all`; see bench/README.md).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hyper::Method;
use momentum_server::api::pagination;
use momentum_server::db::contacts::ContactSort;
use momentum_server::db::custom_fields::WALK_ROWS_PER_ROW;
use momentum_server::db::page::SortValue;
use rand::Rng;
use sqlx::PgPool;
use uuid::Uuid;

use crate::load::Spec;
use crate::seed::{seeded_id, seeded_id_sql, Kind, Seeded, Sizes, LAST_NAMES};

pub struct Case {
    pub name: &'static str,
    pub label: &'static str,
    pub spec: Spec,
    pub script: String,
    pub vars: Vec<(&'static str, String)>,
}

const CONTACT_COLUMNS: &str = "id, first_name, last_name, email, phone, title, notes, tags, \
                               custom_fields, company_id, created_at, updated_at, deleted_at";

const LEAD_COLUMNS: &str = "id, title, contact_id, company_id, pipeline_id, stage_id, status, \
                            value, currency, expected_close_date, owner_id, source, lost_reason, \
                            prospect_first_name, prospect_last_name, prospect_email, \
                            prospect_phone, prospect_company_name, prospect_company_domain, \
                            converted_at, stage_changed_at, won_at, lost_at, custom_fields, \
                            created_at, updated_at, deleted_at";

const FIELD_COLUMNS: &str = "id, record_type, key, label, type, options, required, \"unique\", \
                             created_at, updated_at";

/// Every case [`all`] builds, in its order (`--cases` is checked against them before
/// the seed, which [`all`] needs).
pub const NAMES: [&str; 8] = [
    "get_contact",
    "list_contacts",
    "list_contacts_deep",
    "list_contacts_custom_field",
    "list_contacts_custom_field_range",
    "create_contact",
    "search",
    "move_lead",
];

/// How every server transaction starts: the tenant pinned for row-level security.
const BEGIN: &str = "BEGIN;\nSELECT set_config('app.tenant_id', :tenant, true);\n";

/// Where the deep-page case starts: this far into the contacts, in list order.
const DEEP_FRACTION: f64 = 0.9;

pub async fn all(admin: &PgPool, seeded: &Seeded, sizes: Sizes) -> anyhow::Result<Vec<Case>> {
    let tenant = ("tenant", seeded.tenant_id.to_string());
    let contacts = sizes.contacts;
    let mut cases = Vec::new();

    cases.push(Case {
        name: "get_contact",
        label: "GET /v1/contacts/{id}",
        spec: Arc::new(move |_| {
            let n = rand::thread_rng().gen_range(1..=contacts);
            (
                Method::GET,
                format!("/v1/contacts/{}", seeded_id(Kind::Contact, n)),
                None,
            )
        }),
        script: format!(
            "\\set n random(1, {contacts})\n{BEGIN}\
             SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = {};\nCOMMIT;\n",
            seeded_id_sql(Kind::Contact, ":n")
        ),
        vars: vec![tenant.clone()],
    });

    cases.push(Case {
        name: "list_contacts",
        label: "GET /v1/contacts?limit=50",
        spec: Arc::new(|_| (Method::GET, "/v1/contacts?limit=50".into(), None)),
        script: format!(
            "{BEGIN}SELECT {CONTACT_COLUMNS} FROM contacts WHERE true \
             ORDER BY created_at ASC, id ASC LIMIT :limit;\nCOMMIT;\n"
        ),
        vars: vec![tenant.clone(), ("limit", "51".into())],
    });

    let offset = ((contacts as f64 * DEEP_FRACTION) as i64).max(1) - 1;
    let (after_at, after_id): (DateTime<Utc>, Uuid) = sqlx::query_as(
        "SELECT created_at, id FROM contacts WHERE tenant_id = $1 \
         ORDER BY created_at, id OFFSET $2 LIMIT 1",
    )
    .bind(seeded.tenant_id)
    .bind(offset)
    .fetch_one(admin)
    .await?;
    let cursor = pagination::encode(
        ContactSort::CreatedAt,
        false,
        &SortValue::Time(after_at),
        after_id,
    );
    let deep_path = format!("/v1/contacts?limit=50&cursor={cursor}");
    cases.push(Case {
        name: "list_contacts_deep",
        label: "GET /v1/contacts?limit=50&cursor= (90%)",
        spec: Arc::new(move |_| (Method::GET, deep_path.clone(), None)),
        script: format!(
            "{BEGIN}SELECT {CONTACT_COLUMNS} FROM contacts WHERE true \
             AND (created_at, id) > (:after_at, :after_id) \
             ORDER BY created_at ASC, id ASC LIMIT :limit;\nCOMMIT;\n"
        ),
        vars: vec![
            tenant.clone(),
            ("limit", "51".into()),
            (
                "after_at",
                after_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            ),
            ("after_id", after_id.to_string()),
        ],
    });

    // A custom field filter: the server reads the record type's definitions, then lists
    // through the values index (an EXISTS per filter). `tier` holds one value in four.
    cases.push(Case {
        name: "list_contacts_custom_field",
        label: "GET /v1/contacts?limit=50&custom_field=tier:eq:gold",
        spec: Arc::new(|_| {
            (
                Method::GET,
                "/v1/contacts?limit=50&custom_field=tier:eq:gold".into(),
                None,
            )
        }),
        script: custom_field_script("cfv.v_text = :value", true),
        vars: vec![
            tenant.clone(),
            ("limit", "51".into()),
            ("record_type", "contact".into()),
            ("field", seeded_id(Kind::Field, 1)),
            ("value", "gold".into()),
        ],
    });
    // A selective range (`seats` 490-499: 2% of the contacts).
    cases.push(Case {
        name: "list_contacts_custom_field_range",
        label: "GET /v1/contacts?limit=50&custom_field=seats:gte:490",
        spec: Arc::new(|_| {
            (
                Method::GET,
                "/v1/contacts?limit=50&custom_field=seats:gte:490".into(),
                None,
            )
        }),
        script: custom_field_script("cfv.v_float >= :value AND cfv.v_num >= :value", false),
        vars: vec![
            tenant.clone(),
            ("limit", "51".into()),
            ("record_type", "contact".into()),
            ("field", seeded_id(Kind::Field, 2)),
            ("value", "490".into()),
        ],
    });

    let run = Uuid::new_v4().simple().to_string();
    // Numbered here, not by the load generator's sequence: that restarts at 0 with every
    // run of the case (the warm-up, each side-by-side slice), and a repeated email is a 409.
    let created = Arc::new(AtomicU64::new(0));
    cases.push(Case {
        name: "create_contact",
        label: "POST /v1/contacts",
        spec: Arc::new(move |_| {
            let n = created.fetch_add(1, Ordering::Relaxed);
            let body = serde_json::json!({
                "first_name": "Ada",
                // Not a seeded surname: the contacts this case creates must not become
                // matches of the search case's surnames, which run after it.
                "last_name": "Byron",
                "email": format!("ada-{run}-{n}@bench.example"),
                "title": "Buyer",
            });
            (Method::POST, "/v1/contacts".into(), Some(body.to_string()))
        }),
        // The event's data is the contact as the API answers it, serialised by the server;
        // here a literal of the same shape and size.
        script: format!(
            "\\set n random(1, 4611686018427387903)\n{BEGIN}\
             INSERT INTO contacts (id, tenant_id, first_name, last_name, email, phone, title, \
             notes, tags, custom_fields, company_id) \
             VALUES (uuid_v7(), :tenant, 'Ada', 'Byron', 'pgbench-' || :n || '@bench.example', \
             NULL, 'Buyer', NULL, '{{}}', '{{}}', NULL) RETURNING {CONTACT_COLUMNS};\n\
             SELECT emit_event('contact.created', :event);\nCOMMIT;\n"
        ),
        vars: vec![tenant.clone(), ("event", contact_event_json())],
    });

    cases.push(search_case(tenant.clone()));

    let leads = sizes.leads;
    let stages = seeded.open_stages.clone();
    let targets = stages.clone();
    // Each lead's current open stage (seeded as n % 4), so every request moves its lead on
    // to the next one: a real stage change each time, as in the pgbench script.
    let positions: Arc<Vec<AtomicU8>> =
        Arc::new((0..=leads).map(|n| AtomicU8::new((n % 4) as u8)).collect());
    cases.push(Case {
        name: "move_lead",
        label: "PATCH /v1/leads/{id} (stage move)",
        spec: Arc::new(move |_| {
            let n = rand::thread_rng().gen_range(1..=leads);
            let next = (positions[n as usize].load(Ordering::Relaxed) + 1) % 4;
            positions[n as usize].store(next, Ordering::Relaxed);
            let body = serde_json::json!({ "stage_id": targets[next as usize] });
            (
                Method::PATCH,
                format!("/v1/leads/{}", seeded_id(Kind::Lead, n)),
                Some(body.to_string()),
            )
        }),
        script: move_lead_script(leads),
        vars: vec![
            tenant,
            ("s1", stages[0].to_string()),
            ("s2", stages[1].to_string()),
            ("s3", stages[2].to_string()),
            ("s4", stages[3].to_string()),
            ("event", lead_event_json()),
        ],
    });
    Ok(cases)
}

/// The server's filtered list: the definitions of the record type, then the page through
/// one `EXISTS` on the values index (`compare`: the comparison the filter's type makes).
/// The statements of a custom-field filtered first page, as `db::custom_fields::list_page`
/// sends them: it walks the next [`WALK_ROWS_PER_ROW`] × 51 rows of the list's order and
/// keeps those the filter matches, and only when that does not fill the page does it
/// gather every match and sort them. pgbench cannot branch on how many rows a statement
/// returned, so `walk_fills` says which the seeded data leads to: `tier:eq:gold` (one
/// contact in four) fills the page within the walk; `seats:gte:490` (one in fifty, 8 in
/// the 408 rows walked) does not, and runs both statements, as the server does.
fn custom_field_script(compare: &str, walk_fills: bool) -> String {
    let walk = WALK_ROWS_PER_ROW * 51;
    let filter = format!(
        "AND EXISTS (SELECT 1 FROM custom_field_values cfv WHERE cfv.record_id = id \
         AND cfv.field_id = :field AND {compare}"
    );
    let walked = format!(
        "SELECT {CONTACT_COLUMNS} FROM (SELECT * FROM contacts WHERE true \
         ORDER BY created_at ASC, id ASC LIMIT {walk}) contacts WHERE true \
         {filter} OFFSET 0) ORDER BY created_at ASC, id ASC LIMIT :limit;\n"
    );
    let gathered = if walk_fills {
        String::new()
    } else {
        format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE true {filter}) \
             ORDER BY created_at ASC, id ASC LIMIT :limit;\n"
        )
    };
    format!(
        "{BEGIN}SELECT {FIELD_COLUMNS} FROM custom_field_definitions WHERE record_type = :record_type;\n\
         {walked}{gathered}COMMIT;\n"
    )
}

/// `GET /v1/search?q=<surname>&limit=20`, a random one of the seeded surnames, each shared
/// by 1% of the contacts (1,000 of 100,000): every request ranks a thousand matches to
/// serve the best twenty. The server runs `search_records` (`db::search::SEARCH_SQL`) and
/// then reads the contacts of the page by id. The script computes the function's
/// arguments in SQL as `domain::search::Needle` does for a one-word query (lower case,
/// `%word%`, the word-start pattern, typo matching on, the word), and collects the page's
/// contact ids with `array_agg` so its second statement can read them (pgbench can carry
/// only one row from a statement to the next). Checked with pgbench against a database
/// seeded like this one (`-M prepared`, as the runtime role).
fn search_case(tenant: (&'static str, String)) -> Case {
    let names = LAST_NAMES
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let count = LAST_NAMES.len();
    Case {
        name: "search",
        label: "GET /v1/search?q=<surname>&limit=20",
        spec: Arc::new(move |_| {
            let name = LAST_NAMES[rand::thread_rng().gen_range(0..count)];
            (Method::GET, format!("/v1/search?q={name}&limit=20"), None)
        }),
        script: format!(
            "\\set k random(1, {count})\n{BEGIN}\
             SELECT coalesce(array_agg(id) FILTER (WHERE kind = 'contact'), '{{}}') AS ids \
             FROM search_records(\
             lower((ARRAY[{names}])[:k::int]), '%' || lower((ARRAY[{names}])[:k::int]) || '%', \
             :word_start || lower((ARRAY[{names}])[:k::int]), true, \
             lower((ARRAY[{names}])[:k::int]), \
             ARRAY['contact', 'company', 'lead', 'activity'], NULL, NULL, NULL, 21) \\gset\n\
             SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = ANY(:ids::uuid[]);\nCOMMIT;\n"
        ),
        // pgbench would read `[:alnum:]` in the script as a variable, so the pattern's
        // start comes in as one.
        vars: vec![tenant, ("word_start", "(^|[^[:alnum:]])".into())],
    }
}

/// A created contact as the server serialises it into the event.
fn contact_event_json() -> String {
    serde_json::json!({
        "id": "019a0000-0000-7000-8000-000000000000",
        "first_name": "Ada",
        "last_name": "Byron",
        "email": "pgbench@bench.example",
        "phone": null,
        "title": "Buyer",
        "notes": null,
        "tags": [],
        "custom_fields": {},
        "company_id": null,
        "created_at": "2026-11-26T10:00:00.000000Z",
        "updated_at": "2026-11-26T10:00:00.000000Z",
        "deleted_at": null,
    })
    .to_string()
}

/// The lead's fields as the server serialises them into its two events.
fn lead_event_json() -> String {
    serde_json::json!({
        "id": "00000000-0002-4000-8000-000000000007",
        "title": "Deal 7",
        "value": "700.00",
        "source": "seed",
        "status": "open",
        "won_at": null,
        "lost_at": null,
        "currency": "USD",
        "owner_id": null,
        "stage_id": "019a0000-0000-7000-8000-000000000000",
        "company_id": "00000000-0001-4000-8000-000000000008",
        "contact_id": "00000000-0000-4000-8000-000000000008",
        "created_at": "2026-01-01T00:00:00.007+00:00",
        "updated_at": "2026-11-26T08:12:42.829094+00:00",
        "deleted_at": null,
        "lost_reason": null,
        "pipeline_id": "019a0000-0000-7000-8000-000000000001",
        "converted_at": null,
        "prospect_email": null,
        "prospect_phone": null,
        "stage_changed_at": "2026-11-26T08:12:42.829094+00:00",
        "prospect_last_name": null,
        "expected_close_date": null,
        "prospect_first_name": null,
        "prospect_company_name": null,
        "prospect_company_domain": null,
        "custom_fields": {},
    })
    .to_string()
}

/// The server's stage move: lock the lead, read the target stage, record the stage
/// change, rewrite the lead, emit `lead.updated` and `lead.stage_changed`. The server
/// binds the lead's merged fields in the UPDATE; unchanged here, so they are the row's
/// own. The target stage is one of the four open ones at random (the API case always
/// moves the lead on, so a quarter of these inserts find no change: a slightly lighter
/// ceiling, never a heavier one).
fn move_lead_script(leads: u64) -> String {
    let lead = seeded_id_sql(Kind::Lead, ":n");
    format!(
        "\\set n random(1, {leads})\n\\set k random(1, 4)\n{BEGIN}\
         SELECT {LEAD_COLUMNS} FROM leads WHERE id = {lead} FOR UPDATE;\n\
         SELECT id, pipeline_id, name, position, probability, kind, created_at, updated_at \
         FROM stages WHERE id = (ARRAY[:s1, :s2, :s3, :s4]::uuid[])[:k::int] FOR SHARE \\gset t_\n\
         INSERT INTO activities (id, tenant_id, type, system, subject, lead_id) \
         SELECT uuid_v7(), l.tenant_id, 'stage_change', true, \
         left('Stage changed: ' || f.name || ' → ' || :t_name, 200), l.id \
         FROM leads l JOIN stages f ON f.id = l.stage_id \
         WHERE l.stage_id <> :t_id AND l.id = {lead};\n\
         UPDATE leads SET pipeline_id = :t_pipeline_id, stage_id = :t_id, status = :t_kind, \
         stage_changed_at = CASE WHEN stage_id = :t_id THEN stage_changed_at ELSE now() END, \
         won_at = CASE WHEN :t_kind = 'won' THEN coalesce(CASE WHEN status = 'won' THEN won_at END, now()) END, \
         lost_at = CASE WHEN :t_kind = 'lost' THEN coalesce(CASE WHEN status = 'lost' THEN lost_at END, now()) END, \
         updated_at = now(), \
         (title, contact_id, company_id, value, currency, expected_close_date, owner_id, source, \
         lost_reason, prospect_first_name, prospect_last_name, prospect_email, prospect_phone, \
         prospect_company_name, prospect_company_domain, custom_fields) = ROW(title, contact_id, \
         company_id, value, currency, expected_close_date, owner_id, source, lost_reason, \
         prospect_first_name, prospect_last_name, prospect_email, prospect_phone, \
         prospect_company_name, prospect_company_domain, custom_fields) \
         WHERE id = {lead} RETURNING {LEAD_COLUMNS};\n\
         SELECT emit_event('lead.updated', :event);\n\
         SELECT emit_event('lead.stage_changed', :event);\nCOMMIT;\n"
    )
}
