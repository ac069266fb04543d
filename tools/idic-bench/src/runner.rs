//! Runs the commands: starts a target, connects, warms up, measures, stops, reports.
//! Each target is measured with the same client runtime and the same server runtime
//! shape, so that bare and suite differ only in what the server does per call.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use idic_runtime::config::LogFormat;
use tokio::runtime::Runtime;
use tonic::transport::{Channel, Endpoint};

use crate::cli::{BaselineArgs, Cli, Command, LoadArgs, RunArgs};
use crate::cpu::{self, CpuTime};
use crate::load::{self, Mode, Phase};
use crate::machine::{self, Machine};
use crate::report::{DISTURBANCE_CORES, Measurement, Report};
use crate::scenario::{Scenario, ScenarioClient};
use crate::targets::{SERVER_THREAD_NAME, Target, TargetKind};

/// The name of the load generator's runtime threads.
const CLIENT_THREAD_NAME: &str = "bench-client";
/// The main thread, which runs the fixed-rate scheduler: its CPU counts as client CPU.
const MAIN_THREAD_NAME: &str = "idic-bench";
/// How often a measurement disturbed by other processes is taken again.
const ATTEMPTS_WHEN_DISTURBED: usize = 3;
/// Below this use of a core by other processes the machine counts as idle.
const IDLE_CORES: f64 = 0.10;
/// How long a freshly started server has to answer its first request.
const READY_WITHIN: Duration = Duration::from_secs(10);
/// The log filter `idic serve` uses by default: the suite's spans and events cost what
/// they cost in production.
const SERVER_LOG_FILTER: &str = "info";

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run_one(args),
        Command::Baseline(args) => baseline(args),
        Command::Identity(command) => {
            tokio::runtime::Runtime::new()?.block_on(crate::identity::run(command))
        }
        Command::Customization(command) => crate::customization::run(command),
        Command::Differentiation(command) => crate::differentiation::run(command),
        Command::Interaction(command) => crate::interaction::run(command),
        Command::Soak(args) => crate::soak::run(&args),
    }
}

fn run_one(args: RunArgs) -> anyhow::Result<()> {
    let mode = match args.rate {
        Some(requests_per_second) => Mode::FixedRate {
            requests_per_second,
        },
        None => Mode::MaxThroughput {
            concurrency: args.concurrency,
        },
    };
    validate(&args.load, mode)?;
    let _telemetry = instrument_like_production(args.target)?;
    let client_runtime = client_runtime(args.load.client_threads)?;
    let measurement = measure(
        &client_runtime,
        || match args.target {
            TargetKind::Suite => Target::start_suite(args.load.server_threads),
            TargetKind::Bare => Target::start_bare(args.load.server_threads),
            TargetKind::External => Target::external(args.server.as_deref().unwrap_or_default()),
        },
        mode,
        &args.load,
    )?;
    let mut settings = settings(&args.load, args.target);
    settings.insert(1, ("mode".to_owned(), mode.label()));
    let report = Report {
        title: format!("idic-bench run: {}", args.target.name()),
        date: machine::utc_now(),
        machine: Machine::describe().summary(),
        settings,
        measurements: vec![measurement],
    };
    publish(&report, &args.load)
}

/// Bare and suite, max-throughput and then fixed-rate, one after the other in this
/// process with identical settings.
fn baseline(args: BaselineArgs) -> anyhow::Result<()> {
    let mut modes = vec![Mode::MaxThroughput {
        concurrency: args.concurrency,
    }];
    if args.rate > 0 {
        modes.push(Mode::FixedRate {
            requests_per_second: args.rate,
        });
    }
    for mode in &modes {
        validate(&args.load, *mode)?;
    }
    anyhow::ensure!(args.rounds > 0, "--rounds must be at least 1");
    let _telemetry = instrument_like_production(TargetKind::Suite)?;
    let client_runtime = client_runtime(args.load.client_threads)?;
    let server_threads = args.load.server_threads;
    let mut measurements = Vec::new();
    // Bare and suite of one round run back to back, so that both see the same
    // conditions; rounds repeat that to show how much the machine itself varies.
    for round in 1..=args.rounds {
        for mode in &modes {
            eprintln!("round {round}: the bare server, {}", mode.label());
            let mut bare = measure(
                &client_runtime,
                || Target::start_bare(server_threads),
                *mode,
                &args.load,
            )?;
            bare.round = round;
            measurements.push(bare);
            eprintln!("round {round}: the suite, {}", mode.label());
            let mut suite = measure(
                &client_runtime,
                || Target::start_suite(server_threads),
                *mode,
                &args.load,
            )?;
            suite.round = round;
            measurements.push(suite);
        }
    }
    let mut settings = settings(&args.load, TargetKind::Suite);
    settings.insert(
        1,
        (
            "modes".to_owned(),
            format!(
                "max-throughput with {} requests in flight; fixed rate {}; {} round(s)",
                args.concurrency,
                if args.rate > 0 {
                    format!("{} requests/s", args.rate)
                } else {
                    "skipped".to_owned()
                },
                args.rounds
            ),
        ),
    );
    let report = Report {
        title: "idic-bench baseline: bare tonic health server vs the full suite".to_owned(),
        date: machine::utc_now(),
        machine: Machine::describe().summary(),
        settings,
        measurements,
    };
    publish(&report, &args.load)
}

fn validate(load: &LoadArgs, mode: Mode) -> anyhow::Result<()> {
    anyhow::ensure!(load.connections > 0, "--connections must be at least 1");
    crate::scenario::load_queries(load.scenario, load.queries.as_deref())?;
    anyhow::ensure!(!load.duration.is_zero(), "--duration must be more than 0");
    anyhow::ensure!(
        !load.request_timeout.is_zero(),
        "--request-timeout must be more than 0"
    );
    match mode {
        Mode::MaxThroughput { concurrency } => {
            anyhow::ensure!(concurrency > 0, "--concurrency must be at least 1");
        }
        Mode::FixedRate {
            requests_per_second,
        } => anyhow::ensure!(requests_per_second > 0, "--rate must be at least 1"),
    }
    Ok(())
}

/// For an in-process suite, the process is set up as `idic serve` sets it up: the
/// tracing subscriber with its default filter, and the Prometheus recorder that the
/// (default-on) admin port installs, so that the trace and metrics layers do real work.
fn instrument_like_production(
    target: TargetKind,
) -> anyhow::Result<Option<idic_runtime::telemetry::TelemetryGuard>> {
    if target == TargetKind::External {
        return Ok(None);
    }
    let guard = idic_runtime::telemetry::init(LogFormat::Human, SERVER_LOG_FILTER)?;
    let _handle = idic_runtime::admin::metrics_handle();
    Ok(Some(guard))
}

fn client_runtime(worker_threads: usize) -> anyhow::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads.max(1))
        .thread_name(CLIENT_THREAD_NAME)
        .enable_all()
        .build()
        .context("building the load generator's runtime")
}

/// Measures like [`measure_once`], again when another process took a share of the
/// cores meanwhile (a build starting mid-run), at most [`ATTEMPTS_WHEN_DISTURBED`]
/// times; the last attempt is kept, and the report flags it if it was disturbed too.
fn measure(
    client_runtime: &Runtime,
    start: impl Fn() -> anyhow::Result<Target>,
    mode: Mode,
    load: &LoadArgs,
) -> anyhow::Result<Measurement> {
    let mut attempt = 1;
    loop {
        let measurement = measure_once(client_runtime, &start, mode, load)?;
        let other_cores = measurement.cpu.map_or(0.0, |cpu| cpu.other_cores);
        if other_cores <= DISTURBANCE_CORES || attempt == ATTEMPTS_WHEN_DISTURBED {
            return Ok(measurement);
        }
        eprintln!(
            "other processes used {:.0}% of a core during the run: measuring again",
            other_cores * 100.0
        );
        attempt += 1;
    }
}

/// Starts a target, measures it in `mode` after a warm-up, and stops it again, also
/// when the measurement fails.
fn measure_once(
    client_runtime: &Runtime,
    start: &impl Fn() -> anyhow::Result<Target>,
    mode: Mode,
    load: &LoadArgs,
) -> anyhow::Result<Measurement> {
    wait_for_idle(load.wait_for_idle);
    let target = start()?;
    let kind = target.kind;
    let measured = measure_running(client_runtime, &target.url, mode, load);
    let stopped = target.stop();
    let (recorder, measured_for, cpu) = measured?;
    stopped?;
    Ok(Measurement {
        target: kind,
        mode,
        round: 1,
        measured_for,
        recorder,
        cpu,
    })
}

type Measured = (
    crate::recorder::Recorder,
    Duration,
    Option<crate::cpu::CpuUse>,
);

fn measure_running(
    client_runtime: &Runtime,
    url: &str,
    mode: Mode,
    load: &LoadArgs,
) -> anyhow::Result<Measured> {
    let clients = client_runtime.block_on(connect(url, load.connections, load.scenario))?;
    client_runtime.block_on(wait_until_ready(&clients))?;
    let handle = client_runtime.handle();
    if !load.warmup.is_zero() {
        let warmup = Phase {
            length: load.warmup,
            request_timeout: load.request_timeout,
        };
        load::run_phase(handle, &clients, mode, warmup)?;
    }
    let phase = Phase {
        length: load.duration,
        request_timeout: load.request_timeout,
    };
    let cpu_before = sample_cpu();
    let started = Instant::now();
    let recorder = load::run_phase(handle, &clients, mode, phase)?;
    let wall = started.elapsed();
    let cpu = match (cpu_before, sample_cpu()) {
        (Some(before), Some(after)) => Some(after.since(&before, wall)),
        _ => None,
    };
    Ok((recorder, load.duration, cpu))
}

/// Other processes (a build, say) would take cores from the server or the load
/// generator and make one target look slower than the other. Waits, bounded, for two
/// quiet seconds in a row; measures anyway after `limit`, and the report then shows
/// the disturbance in its "other CPU" column.
fn wait_for_idle(limit: Duration) {
    if limit.is_zero() {
        return;
    }
    let give_up_at = Instant::now() + limit;
    let mut quiet_seconds = 0;
    let mut announced = false;
    while quiet_seconds < 2 && Instant::now() < give_up_at {
        let Some(others) = cpu::other_cores_over(Duration::from_secs(1)) else {
            return;
        };
        if others < IDLE_CORES {
            quiet_seconds += 1;
            continue;
        }
        quiet_seconds = 0;
        if !announced {
            eprintln!(
                "other processes use {:.0}% of a core: waiting up to {} s for the machine to be idle",
                others * 100.0,
                limit.as_secs()
            );
            announced = true;
        }
    }
    if quiet_seconds < 2 {
        eprintln!("the machine is still busy: measuring anyway (see the \"other CPU\" column)");
    }
}

fn sample_cpu() -> Option<CpuTime> {
    CpuTime::sample(SERVER_THREAD_NAME, &[CLIENT_THREAD_NAME, MAIN_THREAD_NAME])
}

/// One channel (one HTTP/2 connection) per `connections`, connected before any timing
/// starts.
async fn connect(
    url: &str,
    connections: usize,
    scenario: Scenario,
) -> anyhow::Result<Vec<ScenarioClient>> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("'{url}' is not a valid endpoint"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        let channel: Channel = endpoint
            .connect()
            .await
            .with_context(|| format!("connecting to {url}"))?;
        clients.push(scenario.client(channel));
    }
    Ok(clients)
}

/// Every connection answers one request before load starts, so that start-up is never
/// measured.
async fn wait_until_ready(clients: &[ScenarioClient]) -> anyhow::Result<()> {
    let give_up_at = Instant::now() + READY_WITHIN;
    for client in clients {
        let mut client = client.clone();
        loop {
            match client.issue().await {
                Ok(()) => break,
                Err(_not_yet) if Instant::now() < give_up_at => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(status) => {
                    anyhow::bail!(
                        "the target did not answer within {} s: {status}",
                        READY_WITHIN.as_secs()
                    )
                }
            }
        }
    }
    Ok(())
}

/// What was run, for the report header.
fn settings(load: &LoadArgs, target: TargetKind) -> Vec<(String, String)> {
    let runtimes = if target == TargetKind::External {
        format!(
            "load generator on a tokio runtime with {} worker thread(s); server external",
            load.client_threads
        )
    } else {
        format!(
            "server on its own tokio runtime with {} worker thread(s), load generator on another with {}; same process, loopback TCP",
            load.server_threads, load.client_threads
        )
    };
    vec![
        (
            "scenario".to_owned(),
            format!("{} ({})", load.scenario.name(), load.scenario.description()),
        ),
        (
            "load".to_owned(),
            format!(
                "{} connection(s), warm-up {} s (discarded), measured {} s, request timeout {} s",
                load.connections,
                load.warmup.as_secs_f64(),
                load.duration.as_secs_f64(),
                load.request_timeout.as_secs_f64()
            ),
        ),
        ("runtimes".to_owned(), runtimes),
        (
            "build".to_owned(),
            if cfg!(debug_assertions) {
                "debug (figures are not meaningful: build with --release)".to_owned()
            } else {
                "release".to_owned()
            },
        ),
    ]
}

/// Prints the report and, when asked, appends it to the Markdown file.
fn publish(report: &Report, load: &LoadArgs) -> anyhow::Result<()> {
    print!("{}", report.to_text());
    let Some(path) = &load.markdown else {
        return Ok(());
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    write!(file, "\n{}", report.to_markdown())
        .with_context(|| format!("appending to {}", path.display()))?;
    eprintln!("results appended to {}", path.display());
    Ok(())
}
