//! `apim`: the command line. Parses arguments, loads and validates the configuration, starts the roles,
//! and turns SIGINT/SIGTERM into a graceful stop. Everything else lives in the library crates.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use apim_app::{App, RunOptions};
use apim_config::{HostsFile, LoadOptions, Loaded};
use apim_domain::NodeRole;
use clap::{Args, Parser, Subcommand};

// mimalloc: less time in malloc/free on the request path and less fragmentation than glibc's per-thread arenas.
// `--features system-alloc` leaves it out, for heap profilers that watch the C allocator (`bench/memory.sh`).
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc gives freed pages back to the system once they are older than its purge delay (1 s by default), and
/// looks only when some thread next frees or abandons whole pages. After a sync the threads that held the state go
/// idle, so a node kept what the sync freed for good: a gateway at 10,000 APIs about 10 MB. A node runs with the
/// delay at 10 ms (57–59 MB at 10,000 APIs, against 67–77 MB at 1 s). Not 0: then every closed connection's pages
/// went back at once and the next connection faulted them in again, 2.8–3.4 page faults and about 10 µs more CPU
/// per new connection, against 1.4 and 3 µs at 10 ms (`bench/gateway.md`).
///
/// mimalloc reads its options as the process loads, and setting one from inside is an unsafe call, so a node
/// starts itself again with the variable set; one the environment sets already stands, and when the restart fails
/// the node runs as it was started.
#[cfg(not(feature = "system-alloc"))]
fn restart_to_purge_freed_memory() {
    use std::os::unix::process::CommandExt;
    const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";
    const MILLISECONDS: &str = "10";
    if std::env::var_os(PURGE_DELAY).is_some() {
        return;
    }
    let mut args = std::env::args_os();
    let mut again = std::process::Command::new("/proc/self/exe");
    if let Some(arg0) = args.next() {
        again.arg0(arg0);
    }
    // `exec` returns only when it failed.
    let e = again.args(args).env(PURGE_DELAY, MILLISECONDS).exec();
    eprintln!("note: could not restart with {PURGE_DELAY}={MILLISECONDS} ({e}); memory freed after a sync goes back to the system later");
}

/// Exit code for a configuration the process refuses (EX_USAGE).
const EXIT_CONFIG: u8 = 64;
/// In-flight requests get this long on shutdown; the process is gone within 10 s in any case.
const DRAIN: Duration = Duration::from_secs(8);

#[derive(Parser)]
#[command(name = "apim", version, about = "A distributed API manager: control plane, gateway, key manager, traffic manager")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every role in one process (SQLite under ./data when no config is given)
    AllInOne(NodeArgs),
    /// Publisher, DevPortal and Admin APIs, event hub
    ControlPlane(NodeArgs),
    /// The API traffic path
    Gateway(NodeArgs),
    /// The OAuth2 server
    KeyManager(NodeArgs),
    /// Cluster-wide throttling
    TrafficManager(NodeArgs),
    /// The role(s) named by `[server] server_role` in the config
    Run(NodeArgs),
    /// Configuration tools
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a deployment.toml and print the effective configuration, secrets masked
    Check {
        #[command(flatten)]
        common: CommonArgs,
        /// Treat keys this version does not implement as errors
        #[arg(long)]
        strict: bool,
    },
}

#[derive(Args)]
struct CommonArgs {
    /// A WSO2-style deployment.toml
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// System property for `$sys{name}` and `${name}`; `-DportOffset=N` overrides `[server] offset`
    #[arg(short = 'D', value_name = "NAME=VALUE")]
    defines: Vec<String>,
    /// Where generated certificates and embedded databases go
    #[arg(long, value_name = "DIR", default_value = "data")]
    data_dir: PathBuf,
}

#[derive(Args)]
struct NodeArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Hosts file (/etc/hosts format) consulted before DNS for the host names in the config
    #[arg(long, value_name = "FILE")]
    hosts: Option<PathBuf>,
    /// Address every listener binds [default: 0.0.0.0 with -c FILE; 127.0.0.1 without one, since the embedded
    /// default's super admin is admin/admin]
    #[arg(long, value_name = "ADDR")]
    bind: Option<IpAddr>,
    /// Log filter, such as `info` or `apim_app=debug` (RUST_LOG wins when set); `apim::access=off` silences the
    /// gateway's access log
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Threads serving the API traffic listeners, each with its own runtime and socket [default: one per CPU
    /// this process may use (its affinity and cgroup quota)]; the management listeners and background work run
    /// on as many more (with 1, on one thread beside the traffic worker).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    worker_threads: Option<u16>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Config { command: ConfigCommand::Check { common, strict } } => config_check(&common, strict),
        Command::AllInOne(a) => run_node(a, Some(NodeRole::ALL.to_vec())),
        Command::ControlPlane(a) => run_node(a, Some(vec![NodeRole::ControlPlane])),
        Command::Gateway(a) => run_node(a, Some(vec![NodeRole::Gateway])),
        Command::KeyManager(a) => run_node(a, Some(vec![NodeRole::KeyManager])),
        Command::TrafficManager(a) => run_node(a, Some(vec![NodeRole::TrafficManager])),
        Command::Run(a) => {
            if a.common.config.is_none() {
                eprintln!("error: `apim run` needs -c FILE; its roles come from [server] server_role");
                return ExitCode::from(EXIT_CONFIG);
            }
            run_node(a, None)
        }
    }
}

fn load(common: &CommonArgs, strict: bool) -> Result<Loaded, ExitCode> {
    let mut sys = BTreeMap::new();
    for d in &common.defines {
        match d.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                sys.insert(k.to_string(), v.to_string());
            }
            _ => {
                eprintln!("error: -D{d}: expected -Dname=value");
                return Err(ExitCode::from(EXIT_CONFIG));
            }
        }
    }
    let opts = LoadOptions { sys, strict, data_dir: common.data_dir.clone() };
    let loaded = match &common.config {
        Some(path) => apim_config::load_file(path, &opts),
        None => apim_config::embedded_default(&opts),
    };
    match loaded {
        Ok(l) => {
            for w in &l.warnings {
                eprintln!(
                    "warning: {}: key `{}` is not supported by this version of apim and is ignored",
                    w.location(&l.source),
                    w.key_path
                );
            }
            Ok(l)
        }
        Err(e) => {
            eprintln!("{e}");
            Err(ExitCode::from(EXIT_CONFIG))
        }
    }
}

fn config_check(common: &CommonArgs, strict: bool) -> ExitCode {
    match load(common, strict) {
        Ok(l) => {
            print!("{}", l.effective_toml());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn run_node(args: NodeArgs, roles: Option<Vec<NodeRole>>) -> ExitCode {
    #[cfg(not(feature = "system-alloc"))]
    restart_to_purge_freed_memory();
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| args.log_level.clone());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();

    let loaded = match load(&args.common, false) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let hosts = match &args.hosts {
        Some(path) => match HostsFile::load(path) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        None => HostsFile::default(),
    };
    let roles = roles.unwrap_or_else(|| loaded.config.server.roles.clone());
    // Thread per core: as many traffic workers as the process may run on at once (std reads the affinity mask
    // and the cgroup quota).
    let workers = args
        .worker_threads
        .and_then(std::num::NonZeroU16::new)
        .or_else(|| {
            std::thread::available_parallelism().ok().and_then(|n| std::num::NonZeroU16::new(u16::try_from(n.get()).unwrap_or(u16::MAX)))
        })
        .unwrap_or(std::num::NonZeroU16::MIN);
    // The management side: the current-thread scheduler for one core (no work-stealing machinery), else a
    // multi-threaded runtime as wide as the traffic side (the key manager signs on it).
    let mut builder = match workers.get() {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(usize::from(n));
            b
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let bind = match (args.bind, &args.common.config) {
            (Some(ip), _) => ip,
            (None, Some(_)) => IpAddr::from([0, 0, 0, 0]),
            (None, None) => {
                tracing::warn!(
                    "no configuration file: listening on 127.0.0.1 only (admin/admin must not face a network); \
                     to expose this node, pass --bind 0.0.0.0 after changing the super admin's password in a -c FILE"
                );
                IpAddr::from([127, 0, 0, 1])
            }
        };
        let opts = RunOptions { roles, bind, hosts, drain: DRAIN, traffic_workers: Some(workers) };
        let app = match App::start(loaded.config, opts).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1));
            }
        };
        // Machine-readable lines on stdout; tests and scripts read the bound ports from here.
        for l in &app.listeners {
            println!("listening {} {}://{}", l.name.replace(' ', "-"), l.scheme, l.addr);
        }
        wait_for_signal().await;
        tracing::info!("shutting down: no new connections; draining in-flight requests");
        // Whatever happens in the drain, the process ends within 10 s.
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(9500));
            eprintln!("shutdown took too long; exiting");
            std::process::exit(0);
        });
        app.shutdown().await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
