//! The deployment kit (`deploy/`) held to the binary and to CI. There is no Docker engine
//! on the machines CI runs on, so the files are checked for everything that can be known
//! without one: the compose topology and its health checks and dependencies, every
//! setting they give Momentum being one its `--help` documents, the image building with
//! the command CI runs and running commands the binary has, and the systemd units.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What `momentum <subcommand> --help` prints: the settings it takes.
fn help(subcommand: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_momentum"))
        .args([subcommand, "--help"])
        .output()
        .expect("run momentum");
    assert!(output.status.success(), "`momentum {subcommand}` exists");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether `momentum <subcommand> --help` documents the environment variable `name`.
fn documents(help: &str, name: &str) -> bool {
    help.contains(&format!("[env: {name}")) || help.contains(&format!("`{name}`"))
}

fn compose() -> BTreeMap<String, Value> {
    let mut doc: Value = serde_yaml::from_str(&read("deploy/compose.yaml")).unwrap();
    // `<<: *anchor` as compose reads it.
    doc.apply_merge().unwrap();
    let services = doc["services"].as_mapping().expect("services").clone();
    services
        .into_iter()
        .map(|(name, mut service)| {
            service.apply_merge().unwrap();
            (name.as_str().unwrap().to_owned(), service)
        })
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn environment(service: &Value) -> BTreeMap<String, String> {
    service["environment"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let value = match v {
                        Value::String(s) => s.clone(),
                        other => serde_yaml::to_string(other).unwrap().trim().to_owned(),
                    };
                    (k.as_str().unwrap().to_owned(), value)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_compose_file_runs_the_whole_topology_with_settings_the_binary_knows() {
    let services = compose();
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "api-1",
            "api-2",
            "lb",
            "migrate",
            "pgbouncer",
            "postgres",
            "redis",
            "roles",
            "worker"
        ]),
        "PostgreSQL, PgBouncer, Redis, two API instances, a worker, the one-shot jobs and a \
         load balancer"
    );
    for (name, service) in &services {
        // Every image is pinned, unless the stack builds it itself.
        let image = service["image"].as_str().unwrap_or_default();
        let (_, tag) = image.rsplit_once(':').unwrap_or((image, ""));
        assert!(
            !service["build"].is_null() || (!tag.is_empty() && tag != "latest"),
            "{name}: `{image}` is neither built here nor pinned to a version"
        );
        // Dependencies name services, with a condition compose knows.
        if let Some(deps) = service["depends_on"].as_mapping() {
            for (dep, how) in deps {
                let dep = dep.as_str().unwrap();
                assert!(services.contains_key(dep), "{name} depends on {dep}");
                let condition = how["condition"].as_str().unwrap_or_default();
                assert!(
                    ["service_healthy", "service_completed_successfully"].contains(&condition),
                    "{name} waits for {dep} to be healthy or done, not just started"
                );
                if condition == "service_healthy" {
                    let checked = !services[dep]["healthcheck"]["test"].is_null()
                        || services[dep]["image"].as_str() == Some("momentum:latest");
                    assert!(
                        checked,
                        "{name} waits on {dep}'s health, which has no check"
                    );
                }
            }
        }
        // Long-running services are health-checked: their own test, or the image's
        // HEALTHCHECK (`momentum healthcheck`); the worker's asks its admin listener.
        let one_shot = service["restart"].as_str() == Some("no");
        let disabled = service["healthcheck"]["disable"].as_bool() == Some(true);
        if !one_shot {
            assert!(!disabled, "{name} runs for good and must be health-checked");
            assert!(
                !service["healthcheck"]["test"].is_null()
                    || service["image"].as_str() == Some("momentum:latest"),
                "{name} has no health check"
            );
        }
    }
    // The order things start in: migrations, then role grants, then the servers.
    let condition = |svc: &str, dep: &str| {
        services[svc]["depends_on"][dep]["condition"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(condition("migrate", "postgres"), "service_healthy");
    assert_eq!(
        condition("roles", "migrate"),
        "service_completed_successfully"
    );
    for server in ["api-1", "api-2", "worker"] {
        assert_eq!(condition(server, "roles"), "service_completed_successfully");
    }

    // Every setting given to Momentum is one its --help documents for that command.
    let mut checked = 0;
    for (name, service) in &services {
        if service["image"].as_str() != Some("momentum:latest") {
            continue;
        }
        let command = strings(&service["command"]);
        let subcommand = command.first().map_or("serve", String::as_str);
        let help = help(subcommand);
        for key in environment(service).keys() {
            assert!(
                documents(&help, key),
                "{name} sets {key}, which `momentum {subcommand} --help` does not document"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "the settings were read ({checked})");

    // The API servers trust the load balancer, and only it, to name the client.
    let lb = services["lb"]["networks"]["default"]["ipv4_address"]
        .as_str()
        .expect("the load balancer has a fixed address");
    for server in ["api-1", "api-2"] {
        assert_eq!(
            environment(&services[server])["MOMENTUM_TRUSTED_PROXIES"],
            lb,
            "{server} trusts the load balancer's X-Forwarded-For"
        );
        let env = environment(&services[server]);
        assert_eq!(
            env["MOMENTUM_WEBHOOK_WORKER"], "false",
            "the worker runs apart"
        );
        assert!(
            env["DATABASE_URL"].contains("@pgbouncer:"),
            "requests go through PgBouncer"
        );
        assert!(env["MOMENTUM_DIRECT_DATABASE_URL"].contains("sslmode=verify-full"));
    }
    let nginx = read("deploy/nginx/nginx.conf");
    assert!(nginx.contains("proxy_set_header X-Forwarded-For $remote_addr;"));
    assert!(nginx.contains("server api-1:8080") && nginx.contains("server api-2:8080"));
    // PostgreSQL runs with TLS on; PgBouncer pools per transaction.
    assert!(strings(&services["postgres"]["command"]).contains(&"ssl=on".to_owned()));
    assert!(read("deploy/pgbouncer/pgbouncer.ini").contains("pool_mode = transaction"));
}

/// The Dockerfile's instructions, one per logical line (continuations joined).
fn dockerfile() -> Vec<(String, String)> {
    let text = read("deploy/Dockerfile").replace("\\\n", " ");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            l.split_once(char::is_whitespace)
                .map(|(i, rest)| (i.to_uppercase(), rest.trim().to_owned()))
        })
        .collect()
}

#[test]
fn the_image_builds_what_ci_builds_and_runs_commands_the_binary_has() {
    let instructions = dockerfile();
    let find = |name: &str| -> Vec<String> {
        instructions
            .iter()
            .filter(|(i, _)| i == name)
            .map(|(_, rest)| rest.clone())
            .collect()
    };
    let build = find("RUN")
        .into_iter()
        .find(|r| r.starts_with("cargo build"))
        .expect("the build stage runs cargo build");
    assert!(
        read(".ci/run").lines().any(|l| l.trim() == build),
        "`.ci/run` runs the image's build command as it is: {build}"
    );
    let user = find("USER");
    assert!(
        user.last().is_some_and(|u| u != "root" && u != "0"),
        "the image runs without privileges"
    );
    let json = |text: &str| -> Vec<String> { serde_json::from_str(text).unwrap() };
    let entrypoint = json(&find("ENTRYPOINT")[0]);
    let cmd = json(&find("CMD").last().cloned().unwrap());
    assert_eq!(entrypoint, ["momentum"]);
    let help = help(&cmd[0]);
    let healthcheck = find("HEALTHCHECK")[0].clone();
    let probe = json(healthcheck.split_once("CMD").unwrap().1.trim());
    assert_eq!(probe, ["momentum", "healthcheck"]);
    for env in find("ENV") {
        for pair in env.split_whitespace() {
            let (key, _) = pair.split_once('=').unwrap();
            assert!(documents(&help, key), "the image sets {key}, undocumented");
        }
    }
    assert!(
        help.contains("[env: MOMENTUM_LISTEN"),
        "the listen address is a setting"
    );
}

#[tokio::test]
async fn momentum_healthcheck_passes_for_a_running_server_and_fails_without_one() {
    let healthcheck = |listen: String| {
        Command::new(env!("CARGO_BIN_EXE_momentum"))
            .arg("healthcheck")
            .env("MOMENTUM_LISTEN", listen)
            .output()
            .expect("run momentum healthcheck")
    };
    let closed = crate::support::free_port();
    let refused = healthcheck(format!("127.0.0.1:{closed}"));
    assert!(!refused.status.success(), "no server, no health");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("/healthz"),
        "it says what it asked"
    );

    let (_, database_url) =
        crate::webhooks::tenant_database("Health", "owner@health.example").await;
    let port = crate::support::free_port();
    let _server = crate::webhooks::start_with(&database_url, port, &[]).await;
    let ok = healthcheck(format!("127.0.0.1:{port}"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // As the image sets it: listening on every address, asked on loopback.
    assert!(healthcheck(format!("0.0.0.0:{port}")).status.success());
}

#[test]
fn the_systemd_units_run_the_binary_with_documented_settings() {
    for (unit, subcommand, env_file) in [
        ("momentum-serve.service", "serve", "momentum.env.example"),
        ("momentum-worker.service", "worker", "worker.env.example"),
        ("momentum-migrate.service", "migrate", "migrate.env.example"),
    ] {
        let text = read(&format!("deploy/systemd/{unit}"));
        let line = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("{unit} has {key}"))
                .to_owned()
        };
        assert_eq!(
            line("ExecStart"),
            format!("/usr/local/bin/momentum {subcommand}")
        );
        assert_eq!(line("User"), "momentum", "{unit} runs without privileges");
        let help = help(subcommand);
        for entry in read(&format!("deploy/systemd/{env_file}")).lines() {
            let Some((key, _)) = entry.split_once('=').filter(|_| !entry.starts_with('#')) else {
                continue;
            };
            assert!(
                documents(&help, key),
                "{env_file} sets {key}, which `momentum {subcommand} --help` does not document"
            );
        }
    }
}
