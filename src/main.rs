//! `dataport`: wires the command line to the library.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use dataport::config::{Config, EMBEDDED_DEFAULT};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "dataport",
    version,
    about = "Takes sales leads over HTTP and turns them into durable CRM records"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the appliance (on the embedded default configuration unless --config).
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on (overrides [server] listen).
        #[arg(long)]
        listen: Option<String>,
        /// Data directory (overrides [server] data_dir).
        #[arg(long)]
        data_dir: Option<String>,
    },
    /// Validate a configuration file and print every error with its location.
    CheckConfig { file: PathBuf },
    /// Load-test a running appliance.
    Loadgen(dataport::loadgen::Args),
    /// Print a new buyer API key and the SHA-256 to put in the configuration.
    GenKey,
    /// Fill a data dir with N synthetic leads (for benchmarks).
    Preload {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        count: u64,
        /// Profile number the leads belong to.
        #[arg(long, default_value_t = 1)]
        profile: u32,
        /// LMDB map size in MiB.
        #[arg(long, default_value_t = 65536)]
        map_size_mb: usize,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DATAPORT_LOG")
                .unwrap_or_else(|_| "info,may=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve {
            config,
            listen,
            data_dir,
        } => serve(config, listen, data_dir),
        Command::CheckConfig { file } => check_config(&file),
        Command::Preload {
            data_dir,
            count,
            profile,
            map_size_mb,
        } => {
            let rate = dataport::preload::run(&data_dir, map_size_mb << 20, count, profile)?;
            println!(
                "preloaded {count} leads into {} ({rate:.0} leads/s)",
                data_dir.display()
            );
            Ok(())
        }
        Command::GenKey => {
            let key = dataport::auth::new_api_key();
            println!("api_key        = {key}");
            println!("api_key_sha256 = \"{}\"", dataport::auth::sha256_hex(&key));
            Ok(())
        }
        Command::Loadgen(args) => {
            let ok = dataport::loadgen::run(&args)?;
            std::process::exit(if ok { 0 } else { 1 });
        }
    }
}

fn load(text: &str, origin: &str) -> anyhow::Result<Config> {
    Config::from_toml(text).map_err(|errors| {
        for e in &errors {
            eprintln!("{origin}: {e}");
        }
        anyhow::anyhow!("{origin}: {} configuration error(s)", errors.len())
    })
}

fn serve(
    config: Option<PathBuf>,
    listen: Option<String>,
    data_dir: Option<String>,
) -> anyhow::Result<()> {
    let (text, origin) = match &config {
        Some(path) => (
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
            path.display().to_string(),
        ),
        None => (
            EMBEDDED_DEFAULT.to_string(),
            "embedded data/dataport.toml".to_string(),
        ),
    };
    let report = |errors: Vec<dataport::config::ConfigError>| {
        for e in &errors {
            eprintln!("{origin}: {e}");
        }
        anyhow::anyhow!("{origin}: {} configuration error(s)", errors.len())
    };
    let mut raw = dataport::config::unknown::parse_toml(&text).map_err(report)?;
    if let Some(l) = listen {
        raw.server.listen = l;
    }
    if let Some(d) = data_dir {
        raw.server.data_dir = d;
    }
    let cfg = dataport::config::validate(raw).map_err(report)?;
    // Everything runs on coroutines and the writer thread; the main thread
    // waits for SIGTERM / SIGINT and then drains. The handlers go in before
    // the server announces itself: a stop sent the moment it is up drains
    // like any other, instead of killing the process mid-commit.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])?;
    let running = dataport::server::start(cfg, Arc::new(dataport::clock::SystemClock))?;
    tracing::info!(addr = %running.addr, config = %origin, "dataport listening");
    // One plain line on stdout, for scripts and tests that listen on port 0.
    println!("listening on {}", running.addr);
    if let Some(sig) = signals.forever().next() {
        tracing::info!(
            signal = sig,
            "stopping: no new connections, finishing requests in flight"
        );
        running.drain(std::time::Duration::from_secs(5));
    }
    Ok(())
}

fn check_config(file: &PathBuf) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let origin = file.display().to_string();
    let cfg = load(&text, &origin)?;
    println!(
        "{origin}: OK ({} profiles, {} users, {} branches)",
        cfg.profiles.len(),
        cfg.users.len(),
        cfg.branches.len()
    );
    Ok(())
}
