//! Command-line interface: one function per sub-command.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::error::Error;

#[derive(Parser, Debug)]
#[command(name = "pharos", version, about = "Anycast authoritative DNS node")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the node in the foreground (logs to stderr).
    Serve {
        /// The node's TOML config file.
        #[arg(long, short = 'c')]
        config: PathBuf,
    },
    /// Validate a config file (and its zone files); exit 0 if valid, else list
    /// every error with its key path and exit 1.
    CheckConfig {
        /// The TOML config file to check.
        file: PathBuf,
    },
    /// Ask each server (and the primary) for ZONE's SOA; print serials and
    /// lag; exit 1 if they differ or a server fails.
    SoaCheck {
        /// The zone, e.g. example.com.
        zone: String,
        /// A server to ask: IP, IP:PORT, [IPv6]:PORT or HOST[:PORT] (port 53
        /// by default). Repeat for each node.
        #[arg(long = "server", short = 's', required = true)]
        servers: Vec<String>,
        /// The primary: its serial is the reference (else the newest seen).
        #[arg(long)]
        primary: Option<String>,
        /// Seconds to wait for each answer.
        #[arg(long, default_value_t = 2.0)]
        timeout: f64,
    },
}

/// Parses the command line and runs the chosen sub-command.
pub fn run() -> Result<(), Error> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            init_logging();
            let config = Config::load(&config)?;
            crate::supervisor::serve(config)
        }
        Command::CheckConfig { file } => check_config(&file),
        Command::SoaCheck {
            zone,
            servers,
            primary,
            timeout,
        } => {
            let timeout = std::time::Duration::try_from_secs_f64(timeout.clamp(0.01, 60.0))
                .unwrap_or(std::time::Duration::from_secs(2));
            crate::soacheck::run(&zone, &servers, primary.as_deref(), timeout)
        }
    }
}

fn check_config(file: &std::path::Path) -> Result<(), Error> {
    let config = Config::load(file)?;
    let mut failed = Vec::new();
    for zone in &config.zones {
        if let crate::config::ZoneSource::File(path) = &zone.source {
            match crate::zone::file::load_zone_file(&zone.name, path) {
                Ok(loaded) => {
                    for w in &loaded.warnings {
                        eprintln!("warning: zone {}: {w}", zone.name);
                    }
                }
                Err(errs) => failed.push(format!("zone {}: {errs}", zone.name)),
            }
        }
    }
    if failed.is_empty() {
        println!("{}: ok ({} zones)", file.display(), config.zones.len());
        Ok(())
    } else {
        Err(Error::Check(failed.join("\n")))
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PHAROS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
