//! The Kubernetes manifests match the binary they deploy. Every overlay under
//! `deploy/overlays` is rendered with `kubectl kustomize`; then:
//!
//! - every variable a container is given (its `env`, the ConfigMap and the Secret keys
//!   of its `envFrom`) is one the binary reads: an `IDIC_` variable must show up, with
//!   its value, in the effective configuration `idic config` prints with that
//!   environment; any other must be one of the few standard ones the binary reads;
//! - the container's ports are the addresses its arguments make it listen on, every
//!   Service port targets one of them, and the binary started with the container's
//!   arguments answers each probe (gRPC health of the probe's service on the gRPC
//!   port, the HTTP path on the admin port);
//! - the GRPCRoute sends each gRPC service to a Service whose pods serve it.
//!
//! Needs `kubectl` (CI installs it); without it the test is skipped, except under CI.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const IDIC: &str = env!("CARGO_BIN_EXE_idic");

/// Variables outside `IDIC_` the binary reads: the two connection strings and the
/// standard OpenTelemetry and log-filter ones.
const STANDARD_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "RUST_LOG",
];

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every object of an overlay as JSON, or `None` when kubectl is missing outside CI.
fn render(overlay: &Path) -> Option<Vec<Value>> {
    let rendered = match Command::new("kubectl")
        .arg("kustomize")
        .arg(overlay)
        .output()
    {
        Ok(output) => output,
        Err(error) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping: kubectl is not installed ({error}); under CI this fails");
            return None;
        }
        Err(error) => panic!("kubectl is required under CI: {error}"),
    };
    assert!(
        rendered.status.success(),
        "kubectl kustomize {}: {}",
        overlay.display(),
        String::from_utf8_lossy(&rendered.stderr)
    );
    // `annotate --local` reads YAML and prints JSON without a cluster.
    let mut annotate = Command::new("kubectl")
        .args([
            "annotate",
            "--local",
            "-f",
            "-",
            "idic.test/rendered=true",
            "-o",
            "json",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    {
        use std::io::Write as _;
        let mut stdin = annotate.stdin.take().expect("stdin is piped");
        stdin
            .write_all(&rendered.stdout)
            .expect("the rendering is passed on");
    }
    let converted = annotate.wait_with_output().expect("kubectl finishes");
    assert!(
        converted.status.success(),
        "{}",
        String::from_utf8_lossy(&converted.stderr)
    );
    let objects: Vec<Value> = serde_json::Deserializer::from_slice(&converted.stdout)
        .into_iter::<Value>()
        .map(|object| object.expect("kubectl prints JSON objects"))
        .flat_map(|object| match object["kind"].as_str() {
            Some("List") => object["items"].as_array().cloned().unwrap_or_default(),
            _ => vec![object],
        })
        .collect();
    assert!(!objects.is_empty(), "{} renders objects", overlay.display());
    Some(objects)
}

fn overlays() -> Vec<PathBuf> {
    let mut overlays: Vec<PathBuf> = std::fs::read_dir(repository().join("deploy/overlays"))
        .expect("deploy/overlays")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.join("kustomization.yaml").exists())
        .collect();
    overlays.sort();
    assert!(overlays.len() >= 2, "{overlays:?}");
    overlays
}

/// `KEY=value` lines of an env file (what `--from-env-file` takes).
fn env_file(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .lines()
        .filter(|line| !line.trim_start().starts_with('#') && line.contains('='))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.to_owned()))
        .collect()
}

/// One container of a Deployment and everything it is given.
struct Container {
    deployment: String,
    args: Vec<String>,
    /// Name -> value (`None` when it comes from a Secret key not in the example).
    env: BTreeMap<String, Option<String>>,
    ports: BTreeMap<String, u16>,
    probes: Vec<Value>,
}

fn config_map_data(objects: &[Value], name: &str) -> BTreeMap<String, String> {
    let config_map = objects
        .iter()
        .find(|object| {
            object["kind"] == "ConfigMap"
                && object["metadata"]["name"]
                    .as_str()
                    .is_some_and(|found| found == name || found.starts_with(&format!("{name}-")))
        })
        .unwrap_or_else(|| panic!("the ConfigMap {name} is rendered"));
    config_map["data"]
        .as_object()
        .map(|data| {
            data.iter()
                .map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn containers(objects: &[Value]) -> Vec<Container> {
    // The Secret is never in the manifests: its keys are those of the example file.
    let secret = env_file(&repository().join("deploy/base/secrets.example.env"));
    let mut found = Vec::new();
    for deployment in objects
        .iter()
        .filter(|object| object["kind"] == "Deployment")
    {
        let name = deployment["metadata"]["name"].as_str().unwrap().to_owned();
        for container in deployment["spec"]["template"]["spec"]["containers"]
            .as_array()
            .expect("containers")
        {
            let mut env = BTreeMap::new();
            for source in container["envFrom"].as_array().into_iter().flatten() {
                if let Some(config_map) = source["configMapRef"]["name"].as_str() {
                    for (key, value) in config_map_data(objects, config_map) {
                        env.insert(key, Some(value));
                    }
                }
                if source["secretRef"]["name"].is_string() {
                    for (key, value) in &secret {
                        env.insert(key.clone(), Some(value.clone()));
                    }
                }
            }
            for variable in container["env"].as_array().into_iter().flatten() {
                let key = variable["name"].as_str().unwrap().to_owned();
                let value = match variable["value"].as_str() {
                    Some(value) => Some(value.to_owned()),
                    None => variable["valueFrom"]["secretKeyRef"]["key"]
                        .as_str()
                        .and_then(|secret_key| secret.get(secret_key).cloned()),
                };
                env.insert(key, value);
            }
            let ports = container["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|port| {
                    (
                        port["name"].as_str().unwrap_or_default().to_owned(),
                        port["containerPort"].as_u64().unwrap() as u16,
                    )
                })
                .collect();
            let probes = ["startupProbe", "readinessProbe", "livenessProbe"]
                .iter()
                .map(|probe| container[*probe].clone())
                .filter(|probe| !probe.is_null())
                .collect();
            found.push(Container {
                deployment: name.clone(),
                args: container["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|arg| arg.as_str().unwrap().to_owned())
                    .collect(),
                env,
                ports,
                probes,
            });
        }
    }
    assert!(!found.is_empty(), "the overlay has Deployments");
    found
}

/// The effective configuration `idic config` prints for `arguments` and `env`.
fn effective_config(arguments: &[String], env: &BTreeMap<String, Option<String>>) -> toml::Table {
    let mut command = Command::new(IDIC);
    command.arg("config").env_clear();
    // `config` takes the flags of `serve`.
    command.args(arguments.iter().skip_while(|arg| *arg == "serve"));
    for (key, value) in env {
        command.env(
            key,
            value.clone().unwrap_or_else(|| "placeholder".to_owned()),
        );
    }
    let output = command.output().expect("idic config runs");
    assert!(
        output.status.success(),
        "idic config with the manifest's environment: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("TOML is text")
        .parse()
        .expect("idic config prints TOML")
}

/// The TOML value at `IDIC_A__B`'s path `a.b`, if the configuration has it.
fn lookup<'a>(config: &'a toml::Table, variable: &str) -> Option<&'a toml::Value> {
    let path = variable.trim_start_matches("IDIC_").to_ascii_lowercase();
    let mut parts = path.split("__");
    let mut value = config.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

fn as_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `env` with every `*_FILE` variable pointing at an empty file of the same name in
/// `directory`.
fn with_stand_in_files(
    env: &BTreeMap<String, Option<String>>,
    directory: &Path,
) -> BTreeMap<String, Option<String>> {
    env.iter()
        .map(|(key, value)| {
            let replaced = match value {
                Some(path) if key.ends_with("_FILE") => {
                    let name = Path::new(path).file_name().expect("a file name");
                    let stand_in = directory.join(name);
                    std::fs::write(&stand_in, b"").expect("a stand-in file");
                    Some(stand_in.display().to_string())
                }
                other => other.clone(),
            };
            (key.clone(), replaced)
        })
        .collect()
}

#[test]
fn every_variable_the_manifests_set_is_one_the_binary_reads() {
    for overlay in overlays() {
        let Some(objects) = render(&overlay) else {
            return;
        };
        for container in containers(&objects) {
            // Files the pod mounts (certificates) exist here as empty stand-ins, since
            // the configuration checks that each is readable.
            let mounted = tempfile::tempdir().expect("a temporary directory");
            let env = with_stand_in_files(&container.env, mounted.path());
            let config = effective_config(&container.args, &env);
            for (variable, value) in &env {
                let place = format!("{} in {}", variable, container.deployment);
                if !variable.starts_with("IDIC_") {
                    // A variable that only feeds another one (Kubernetes expands
                    // `$(NAME)` in a later value: the pod IP in the advertised address)
                    // is read through that one.
                    let feeds_another = env
                        .values()
                        .flatten()
                        .any(|other| other.contains(&format!("$({variable})")));
                    assert!(
                        STANDARD_VARIABLES.contains(&variable.as_str()) || feeds_another,
                        "{place}: the binary does not read it"
                    );
                    continue;
                }
                let read = lookup(&config, variable)
                    .unwrap_or_else(|| panic!("{place}: not in the effective configuration"));
                let masked = as_text(read).contains("***") || variable.ends_with("_KEY");
                if let (Some(value), false) = (value, masked)
                    && !variable.ends_with("__KEYS")
                {
                    assert_eq!(&as_text(read), value, "{place}: read as set");
                }
            }
        }
    }
}

fn free_port() -> u16 {
    idic_testkit::free_loopback_address().port()
}

/// The port of `flag`'s address among `args` (`--listen 0.0.0.0:50051` -> 50051).
fn port_of(args: &[String], flag: &str) -> Option<u16> {
    let position = args.iter().position(|arg| arg == flag)?;
    args.get(position + 1)?.rsplit(':').next()?.parse().ok()
}

/// The probe's port, by number or by the container port's name.
fn probe_port(probe: &Value, ports: &BTreeMap<String, u16>) -> u16 {
    let port = &probe["port"];
    port.as_u64()
        .map(|number| number as u16)
        .or_else(|| port.as_str().and_then(|name| ports.get(name).copied()))
        .unwrap_or_else(|| panic!("probe port {port} is a container port"))
}

#[test]
fn ports_and_probes_are_what_the_binary_serves() {
    for overlay in overlays() {
        let Some(objects) = render(&overlay) else {
            return;
        };
        let services: Vec<&Value> = objects
            .iter()
            .filter(|object| object["kind"] == "Service")
            .collect();
        for container in containers(&objects) {
            let grpc = port_of(&container.args, "--listen").expect("--listen in the args");
            let admin = port_of(&container.args, "--admin-listen").expect("--admin-listen");
            assert_eq!(
                container.ports.get("grpc"),
                Some(&grpc),
                "{}",
                container.deployment
            );
            assert_eq!(
                container.ports.get("admin"),
                Some(&admin),
                "{}",
                container.deployment
            );
            let targets = services.iter().flat_map(|service| {
                service["spec"]["ports"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            });
            for target in targets {
                let target_port = &target["targetPort"];
                let known = target_port.as_u64().is_some_and(|port| {
                    container.ports.values().any(|own| u64::from(*own) == port)
                }) || target_port
                    .as_str()
                    .is_some_and(|name| container.ports.contains_key(name));
                assert!(known, "Service port {target} targets no container port");
            }
            probes_are_answered(&container, grpc, admin);
        }
    }
}

/// Starts the binary with the container's arguments (on free loopback ports, SQLite in
/// a temporary directory instead of the Secret's database) and asks every probe.
fn probes_are_answered(container: &Container, grpc: u16, admin: u16) {
    let data = tempfile::tempdir().expect("a temporary directory");
    let (grpc_local, admin_local) = (free_port(), free_port());
    let mut args: Vec<String> = Vec::new();
    let mut given = container.args.iter();
    while let Some(arg) = given.next() {
        match arg.as_str() {
            "--listen" => {
                given.next();
                args.extend(["--listen".into(), format!("127.0.0.1:{grpc_local}")]);
            }
            "--admin-listen" => {
                given.next();
                args.extend(["--admin-listen".into(), format!("127.0.0.1:{admin_local}")]);
            }
            "--data-dir" => {
                given.next();
            }
            _ => args.push(arg.clone()),
        }
    }
    args.extend(["--data-dir".into(), data.path().display().to_string()]);
    let mut command = Command::new(IDIC);
    command.args(&args).env_clear();
    for (key, value) in &container.env {
        let external = ["DATABASE_URL", "REDIS_URL"].contains(&key.as_str())
            || key.starts_with("IDIC_PEERS__")
            || key.starts_with("IDIC_GRPC__TLS")
            || key.starts_with("OTEL_EXPORTER");
        if !external && let Some(value) = value {
            command.env(key, value);
        }
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("idic starts");
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let started = Instant::now();
    let announced = lines.any(|line| {
        line.is_ok_and(|line| line.starts_with("IDIC suite listening on "))
            || started.elapsed() > Duration::from_secs(60)
    });
    assert!(
        announced,
        "{} starts with its arguments {args:?}",
        container.deployment
    );
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    for probe in &container.probes {
        if !probe["grpc"].is_null() {
            assert_eq!(probe_port(&probe["grpc"], &container.ports), grpc);
            let service = probe["grpc"]["service"].as_str().unwrap_or_default();
            let status = runtime.block_on(grpc_health(grpc_local, service));
            assert_eq!(
                status, 1,
                "{}: health of '{service}' is SERVING",
                container.deployment
            );
        } else if !probe["httpGet"].is_null() {
            assert_eq!(probe_port(&probe["httpGet"], &container.ports), admin);
            let path = probe["httpGet"]["path"].as_str().unwrap_or("/");
            runtime.block_on(http_ok(admin_local, path));
        } else {
            panic!(
                "{}: a probe the test does not know: {probe}",
                container.deployment
            );
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

async fn grpc_health(port: u16, service: &str) -> i32 {
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .expect("the gRPC port accepts");
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .expect("the health service answers")
        .into_inner()
        .status
}

async fn http_ok(port: u16, path: &str) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the admin port accepts");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "GET {path}: {answer}");
}

#[test]
fn the_grpc_route_sends_each_service_to_the_pods_that_serve_it() {
    let overlay = repository().join("deploy/overlays/production-gateway");
    let Some(objects) = render(&overlay) else {
        return;
    };
    let route = objects
        .iter()
        .find(|object| object["kind"] == "GRPCRoute")
        .expect("a GRPCRoute");
    // Service name -> the gRPC services its Deployment's pods serve.
    let mut served: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let deployments: Vec<&Value> = objects
        .iter()
        .filter(|object| object["kind"] == "Deployment")
        .collect();
    for service in objects.iter().filter(|object| object["kind"] == "Service") {
        let selector = &service["spec"]["selector"];
        let Some(deployment) = deployments.iter().find(|deployment| {
            let labels = &deployment["spec"]["template"]["metadata"]["labels"];
            selector
                .as_object()
                .is_some_and(|wanted| wanted.iter().all(|(key, value)| &labels[key] == value))
        }) else {
            continue;
        };
        let args: Vec<&str> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|arg| arg.as_str().unwrap())
            .collect();
        let name = args
            .iter()
            .position(|arg| *arg == "--service")
            .map(|at| args[at + 1])
            .expect("a per-service Deployment");
        let grpc_name = format!("idic.v1.{}{}Service", name[..1].to_uppercase(), &name[1..]);
        let common = [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ];
        served.insert(
            service["metadata"]["name"].as_str().unwrap().to_owned(),
            common
                .iter()
                .map(|common| (*common).to_owned())
                .chain([grpc_name])
                .collect(),
        );
    }
    let mut routed = BTreeSet::new();
    for rule in route["spec"]["rules"].as_array().expect("rules") {
        for backend in rule["backendRefs"].as_array().expect("backendRefs") {
            let name = backend["name"].as_str().unwrap();
            assert_eq!(backend["port"], 50051, "{name}: the gRPC port");
            let serves = served
                .get(name)
                .unwrap_or_else(|| panic!("{name} is a Service of the overlay"));
            for matched in rule["matches"].as_array().expect("matches") {
                let service = matched["method"]["service"].as_str().unwrap();
                assert!(serves.contains(service), "{name} does not serve {service}");
                routed.insert(service.to_owned());
            }
        }
    }
    for service in [
        "Identity",
        "Differentiation",
        "Interaction",
        "Customization",
    ] {
        assert!(
            routed.contains(&format!("idic.v1.{service}Service")),
            "{service} is reachable from outside"
        );
    }
}
