//! `momentum`: serve the API, run the webhook worker, migrate, print the OpenAPI document,
//! create tenants, check a running server's health.

use std::process::ExitCode;

use anyhow::Context;
use momentum_server::config::{
    self, Cli, Command, DatabaseArgs, HealthcheckArgs, LogFormat, TenantCommand,
};
use momentum_server::startup::{self, EmbeddedDatabase};
use momentum_server::{api, db};

// glibc's allocator showed as a fifth of the server's CPU when listing 50 contacts
// (malloc, free, malloc_consolidate): a response is built from many small values. See
// docs/performance.md, "Optimisations".
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Fails, naming the variable, on a `RUST_LOG` or `MOMENTUM_LOG_FORMAT` that does not
/// parse: a typo must not silently log something else.
fn init_tracing() -> anyhow::Result<()> {
    let filter = config::log_filter()?;
    let format = LogFormat::from_env()?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse_naming_variables();
    if let Err(err) = init_tracing() {
        eprintln!("error: {err:#}");
        return ExitCode::FAILURE;
    }
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
            database,
        }) => create_tenant(&name, &owner_email, database).await,
    };
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

async fn create_tenant(name: &str, owner_email: &str, args: DatabaseArgs) -> anyhow::Result<()> {
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
            let tenant = db::tenants::provision(&admin, name, &email).await;
            admin.close().await;
            tenant?
        }
        None => {
            let embedded = EmbeddedDatabase::open(&args.data_dir).await?;
            let tenant = db::tenants::provision(&embedded.admin, name, &email).await;
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
