//! `momentum`: serve the API, run the webhook worker, migrate, print the OpenAPI document,
//! create tenants, check a running server's health.

use std::process::ExitCode;

use anyhow::Context;
use momentum_server::config::{
    self, Cli, Command, DatabaseArgs, HealthcheckArgs, LogFormat, TenantCommand,
};
use momentum_server::startup::{self, EmbeddedDatabase};
use momentum_server::{api, db, telemetry};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

// glibc's allocator showed as a fifth of the server's CPU when listing 50 contacts
// (malloc, free, malloc_consolidate): a response is built from many small values. See
// docs/performance.md, "Optimisations".
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The logs, and the traces when `traced` and the `OTEL_*` variables ask for them (see
/// `telemetry`). Fails, naming the variable, on a `RUST_LOG` or `MOMENTUM_LOG_FORMAT`
/// that does not parse: a typo must not silently log something else. The log filter
/// applies to the logs alone: traces take their own spans whatever `RUST_LOG` says.
fn init_tracing(traced: bool) -> anyhow::Result<Option<telemetry::Traces>> {
    let filter = config::log_filter()?;
    let format = LogFormat::from_env()?;
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Json => logs.json().with_filter(filter).boxed(),
        LogFormat::Text => logs.with_filter(filter).boxed(),
    };
    let mut layers = vec![logs];
    let pipeline = if traced { telemetry::pipeline()? } else { None };
    let traces = pipeline.map(|p| {
        layers.push(p.layer);
        p.traces
    });
    tracing_subscriber::registry().with(layers).init();
    match &traces {
        Some(_) => tracing::info!("traces are exported over OTLP/HTTP (OTEL_EXPORTER_OTLP_*)"),
        None => tracing::debug!("traces are off: no OTEL_EXPORTER_OTLP_ENDPOINT"),
    }
    Ok(traces)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse_naming_variables();
    // Traces for the long-running commands only: a migration or a health check has
    // nothing to follow.
    let traced = matches!(
        cli.command,
        None | Some(Command::Serve(_)) | Some(Command::Worker(_))
    );
    let traces = match init_tracing(traced) {
        Ok(traces) => traces,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => startup::serve(args).await,
        Command::Migrate(args) => migrate(args).await,
        Command::Worker(args) => startup::work(args).await,
        Command::Openapi => {
            print!("{}", api::spec_json());
            Ok(())
        }
        Command::Healthcheck(args) => healthcheck(args).await,
        Command::Tenant(TenantCommand::Create {
            name,
            owner_email,
            seed,
            database,
        }) => create_tenant(&name, &owner_email, seed, database).await,
    };
    // After the drain: the spans of the last requests and webhook attempts are queued.
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn healthcheck(args: HealthcheckArgs) -> anyhow::Result<()> {
    let host = match args.listen.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => {
            let loopback = match addr {
                std::net::SocketAddr::V4(_) => std::net::IpAddr::from([127, 0, 0, 1]),
                std::net::SocketAddr::V6(_) => {
                    std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
                }
            };
            std::net::SocketAddr::new(loopback, addr.port()).to_string()
        }
        Ok(addr) => addr.to_string(),
        Err(_) => args.listen.clone(),
    };
    let url = format!("http://{host}/healthz");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    let status = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("{url} did not answer"))?
        .status();
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(())
}

async fn migrate(args: DatabaseArgs) -> anyhow::Result<()> {
    match &args.admin_database_url {
        Some(url) => {
            let admin = admin_pool(url).await?;
            let migrated = db::migrate(&admin).await;
            admin.close().await;
            migrated?.ensure_current()?;
        }
        None => {
            let embedded = EmbeddedDatabase::open(&args.data_dir).await?;
            let migrated = embedded.migrated.clone();
            embedded.close().await;
            migrated.ensure_current()?;
        }
    }
    eprintln!("migrations applied");
    Ok(())
}

async fn create_tenant(
    name: &str,
    owner_email: &str,
    seed: config::Seed,
    args: DatabaseArgs,
) -> anyhow::Result<()> {
    let demo = seed == config::Seed::Demo;
    let name = name.trim();
    anyhow::ensure!(
        (1..=200).contains(&name.chars().count()),
        "--name must be 1 to 200 characters"
    );
    let email = momentum_server::domain::fields::optional_email(
        "owner_email",
        Some(owner_email.to_owned()),
    )
    .map_err(|e| anyhow::anyhow!("--owner-email {}", e.message))?
    .context("--owner-email must not be empty")?;
    let tenant = match &args.admin_database_url {
        Some(url) => {
            let admin = admin_pool(url).await?;
            let tenant = db::tenants::provision_seeded(&admin, name, &email, demo).await;
            admin.close().await;
            tenant?
        }
        None => {
            let embedded = EmbeddedDatabase::open(&args.data_dir).await?;
            let tenant = db::tenants::provision_seeded(&embedded.admin, name, &email, demo).await;
            embedded.close().await;
            tenant?
        }
    };
    println!("{}", serde_json::to_string(&tenant)?);
    Ok(())
}

/// The owner role's pool for `migrate` and `tenant create`.
async fn admin_pool(url: &str) -> anyhow::Result<sqlx::PgPool> {
    let what = "MOMENTUM_ADMIN_DATABASE_URL";
    startup::connect_url(url, what, 2, db::DEFAULT_ACQUIRE_TIMEOUT).await
}
