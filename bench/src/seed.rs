//! The data set: one tenant with contacts, companies and leads, written in bulk by SQL as
//! the owner role (seeding is set-up, not what is measured, so it emits no events). Its
//! contacts carry two custom fields, `tier` (a select: bronze, silver, gold, platinum in
//! turn) and `seats` (a number, `n % 500`), indexed by the server's own trigger.
//!
//! Ids are derived from the row number (`…-8000-<n in hex>`), so the load generator and
//! the pgbench scripts can both pick a random existing row without a lookup.

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Sizes {
    pub contacts: u64,
    pub companies: u64,
    pub leads: u64,
}

/// The id of row `n` of a seeded table of the measured tenant; `kind` keeps the tables'
/// ids apart.
pub fn seeded_id(kind: Kind, n: u64) -> String {
    tenant_id_of(0, kind, n)
}

/// The id of row `n` of tenant `tenant` (0: the measured one, 1…: noise tenants), whose
/// index is the id's first group, so no two tenants' ids collide.
fn tenant_id_of(tenant: u32, kind: Kind, n: u64) -> String {
    format!("{tenant:08x}-000{}-4000-8000-{n:012x}", kind as u8)
}

/// The same id in SQL, for the pgbench scripts (`:n` is their random row number).
pub fn seeded_id_sql(kind: Kind, n: &str) -> String {
    tenant_id_sql(0, kind, n)
}

fn tenant_id_sql(tenant: u32, kind: Kind, n: &str) -> String {
    format!(
        "('{tenant:08x}-000{}-4000-8000-' || lpad(to_hex(({n})::bigint), 12, '0'))::uuid",
        kind as u8
    )
}

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Contact = 0,
    Company = 1,
    Lead = 2,
    Field = 3,
}

/// First names and surnames the contacts are made of (contact `n` is
/// `FIRST_NAMES[n % 50] LAST_NAMES[(n / 50) % 100]`), so a surname is shared by 1% of the
/// contacts and a full name by 0.02%, as in a real address book: the search case has
/// real work to rank, where `First17 Last17` names would each match one row.
pub const FIRST_NAMES: [&str; 50] = [
    "Ada",
    "Grace",
    "Alan",
    "John",
    "Mary",
    "James",
    "Linda",
    "Robert",
    "Patricia",
    "Michael",
    "Jennifer",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Chris",
    "Nancy",
    "Daniel",
    "Lisa",
    "Matthew",
    "Betty",
    "Anthony",
    "Margaret",
    "Mark",
    "Sandra",
    "Donald",
    "Ashley",
    "Steven",
    "Kim",
    "Paul",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "George",
];
pub const LAST_NAMES: [&str; 100] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kimura",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Lovelace",
];

pub struct Seeded {
    pub tenant_id: Uuid,
    pub api_key: String,
    /// The default pipeline's open stages, in order.
    pub open_stages: Vec<Uuid>,
}

/// Seeds the measured tenant and `noise` more tenants of the same shape and counts (the
/// other tenants a shared database holds), then vacuums and analyses once.
pub async fn seed(admin: &PgPool, sizes: Sizes, noise: u32) -> anyhow::Result<Seeded> {
    let seeded = seed_tenant(admin, sizes, 0).await?;
    for tenant in 1..=noise {
        seed_tenant(admin, sizes, tenant).await?;
    }
    // VACUUM as autovacuum would soon after a bulk load: it merges the GIN indexes'
    // pending lists (up to 4 MB each of unmerged entries, which every search reads whole
    // until then) and sets the visibility map. Without it the search case measured the
    // aftermath of seeding, about 20 ms of PostgreSQL CPU per search instead of 3.
    sqlx::query("VACUUM (ANALYZE)").execute(admin).await?;
    Ok(seeded)
}

async fn seed_tenant(admin: &PgPool, sizes: Sizes, index: u32) -> anyhow::Result<Seeded> {
    let (name, email) = if index == 0 {
        ("Bench".to_owned(), "owner@bench.example".to_owned())
    } else {
        (
            format!("Noise {index}"),
            format!("owner@noise{index}.bench.example"),
        )
    };
    let tenant = momentum_server::db::tenants::provision(admin, &name, &email)
        .await
        .with_context(|| format!("cannot create tenant {name}"))?;
    let tenant_id = tenant.tenant_id;
    let company = tenant_id_sql(index, Kind::Company, "n");
    let contact = tenant_id_sql(index, Kind::Contact, "n");
    let lead = tenant_id_sql(index, Kind::Lead, "n");
    let company_of = tenant_id_sql(index, Kind::Company, "1 + n % $3::bigint");
    let contact_of = tenant_id_sql(index, Kind::Contact, "1 + n % $4::bigint");
    let tier = tenant_id_of(index, Kind::Field, 1);
    let seats = tenant_id_of(index, Kind::Field, 2);
    // created_at a millisecond apart, in row order, so list pages have a stable order
    // that the deep-page case can point into.
    // The definitions first: the trigger indexes a contact's values as it is written.
    sqlx::query(
        "INSERT INTO custom_field_definitions (id, tenant_id, record_type, key, label, type, \
           options) \
         VALUES ($2, $1, 'contact', 'tier', 'Tier', 'select', \
                 ARRAY['bronze', 'silver', 'gold', 'platinum']), \
                ($3, $1, 'contact', 'seats', 'Seats', 'number', '{}')",
    )
    .bind(tenant_id)
    .bind(Uuid::parse_str(&tier)?)
    .bind(Uuid::parse_str(&seats)?)
    .execute(admin)
    .await
    .context("seeding the custom fields failed")?;
    let statements = [
        format!(
            "INSERT INTO companies (id, tenant_id, name, domain, industry, employee_count, \
               country, tags, created_at, updated_at) \
             SELECT {company}, $1, 'Company ' || n, 'company' || n || '.example', \
               (ARRAY['Software', 'Retail', 'Finance', 'Health'])[1 + n % 4], n % 5000, 'GB', \
               ARRAY['seed'], t, t \
             FROM generate_series(1, $2::bigint) AS n, \
               LATERAL (SELECT timestamptz '2026-01-01' + n * interval '1 millisecond') AS x(t)"
        ),
        format!(
            "INSERT INTO contacts (id, tenant_id, first_name, last_name, email, phone, title, \
               tags, custom_fields, company_id, created_at, updated_at) \
             SELECT {contact}, $1, ($4::text[])[1 + n % 50], ($5::text[])[1 + (n / 50) % 100], \
               lower(($4::text[])[1 + n % 50] || '.' || ($5::text[])[1 + (n / 50) % 100]) || n \
                 || '@bench.example', \
               '+4420' || lpad(n::text, 8, '0'), 'Buyer', ARRAY['seed'], \
               jsonb_build_object('tier', (ARRAY['bronze', 'silver', 'gold', 'platinum'])[1 + n % 4], \
                                  'seats', n % 500), \
               CASE WHEN n % 5 <> 0 THEN {company_of} END, t, t \
             FROM generate_series(1, $2::bigint) AS n, \
               LATERAL (SELECT timestamptz '2026-01-01' + n * interval '1 millisecond') AS x(t)"
        ),
        format!(
            "INSERT INTO leads (id, tenant_id, title, contact_id, company_id, pipeline_id, \
               stage_id, status, value, currency, source, created_at, updated_at, \
               stage_changed_at) \
             SELECT {lead}, $1, 'Deal ' || n, \
               {contact_of}, {company_of}, \
               s.pipeline_id, s.ids[1 + n % 4], 'open', (n % 1000) * 100, 'USD', 'seed', t, t, t \
             FROM generate_series(1, $2::bigint) AS n, \
               LATERAL (SELECT timestamptz '2026-01-01' + n * interval '1 millisecond') AS x(t), \
               (SELECT pipeline_id, array_agg(id ORDER BY position) AS ids FROM stages \
                 WHERE tenant_id = $1 AND kind = 'open' GROUP BY pipeline_id) AS s"
        ),
    ];
    let counts = [
        (sizes.companies, sizes.companies),
        (sizes.contacts, sizes.companies),
        (sizes.leads, sizes.companies),
    ];
    for (sql, (rows, companies)) in statements.iter().zip(counts) {
        let mut query = sqlx::query(sql)
            .bind(tenant_id)
            .bind(rows as i64)
            .bind(companies as i64);
        if sql.contains("INSERT INTO contacts") {
            query = query.bind(&FIRST_NAMES[..]).bind(&LAST_NAMES[..]);
        } else if sql.contains("$4") {
            query = query.bind(sizes.contacts as i64);
        }
        query.execute(admin).await.context("seeding failed")?;
    }
    let open_stages: Vec<Uuid> = sqlx::query_scalar(
        "SELECT array_agg(id ORDER BY position) FROM stages \
         WHERE tenant_id = $1 AND kind = 'open'",
    )
    .bind(tenant_id)
    .fetch_one(admin)
    .await?;
    Ok(Seeded {
        tenant_id,
        api_key: tenant.api_key,
        open_stages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_and_distinct_per_kind() {
        let contact: Uuid = seeded_id(Kind::Contact, 255).parse().unwrap();
        let lead: Uuid = seeded_id(Kind::Lead, 255).parse().unwrap();
        assert_ne!(contact, lead);
        assert!(contact.to_string().ends_with("0000000000ff"));
    }

    #[test]
    fn noise_tenants_ids_differ_from_the_measured_ones() {
        let measured: Uuid = seeded_id(Kind::Contact, 7).parse().unwrap();
        let noise: Uuid = tenant_id_of(20, Kind::Contact, 7).parse().unwrap();
        assert_ne!(measured, noise);
        assert!(noise.to_string().starts_with("00000014-0000-"));
        // The SQL form builds the same text for the same row.
        assert!(tenant_id_sql(20, Kind::Contact, "n").starts_with("('00000014-0000-4000-8000-'"));
    }
}
