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
