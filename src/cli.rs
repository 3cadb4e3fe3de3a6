//! Command-line interface: one function per sub-command; the clap
//! definition ([`command`]) is also the source of pharos(8) and of the
//! shell completions.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::error::Error;
use crate::mgmt::client::{self, Target};

#[derive(Parser, Debug)]
#[command(
    name = "pharos",
    version,
    about = "Anycast authoritative DNS node",
    long_about = LONG_ABOUT
)]
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
        #[arg(long = "server", short = 's', required_unless_present = "fleet")]
        servers: Vec<String>,
        /// Instead of asking servers: print the fleet view of ZONE from the
        /// hub whose management API is at URL (every node it knows).
        #[arg(long, value_name = "URL", conflicts_with_all = ["servers", "primary"])]
        fleet: Option<String>,
        /// The primary: its serial is the reference (else the newest seen).
        #[arg(long)]
        primary: Option<String>,
        /// Seconds to wait for each answer.
        #[arg(long, default_value_t = 2.0)]
        timeout: f64,
    },
    /// One screen about a running node: health, maintenance, BGP sessions,
    /// zones (through its management API).
    Status {
        #[command(flatten)]
        api: ApiArgs,
        /// Print the API's JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Runtime zone changes through the management API.
    Zone {
        #[command(subcommand)]
        action: ZoneAction,
    },
    /// Print the completion script for SHELL on standard output, e.g.
    /// `pharos completions bash > /etc/bash_completion.d/pharos`.
    Completions {
        /// The shell to complete for.
        shell: Shell,
    },
}

/// The description of pharos(8) and of `pharos --help`.
const LONG_ABOUT: &str = "\
pharos is an anycast authoritative DNS node. It answers DNS queries over \
UDP and TCP from zones held in memory: zones loaded from files, and \
secondary zones transferred (AXFR/IXFR) from their primaries and kept \
fresh by SOA refresh and NOTIFY. It can itself serve transfers and send \
NOTIFY, as the hub of a fleet or a hidden primary.

A built-in eBGP speaker announces the node's anycast prefixes while its \
DNS is healthy (it checks itself with queries to its own listeners), and \
withdraws them when it is not, when it is drained, and before it stops.

The node is configured by one TOML file, see pharos.toml(5): pharos serve \
runs it, pharos check-config checks a file without running it, and the \
other commands talk to a running node through its management API.";

/// The shells `pharos completions` writes a script for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The full clap definition of the `pharos` command (for pharos(8) and
/// the completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// The completion script of `pharos` for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // Into memory: the generator panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut command(), "pharos", &mut script);
    script
}

/// How to reach a node's management API.
#[derive(clap::Args, Debug)]
struct ApiArgs {
    /// The API's URL (http://HOST:PORT); default: the config's mgmt.listen,
    /// else http://127.0.0.1:8053.
    #[arg(long = "mgmt", visible_alias = "api", value_name = "URL", global = true)]
    url: Option<String>,
    /// The node's config file: where the API listens and its token file.
    #[arg(long, short = 'c', global = true)]
    config: Option<PathBuf>,
    /// The bearer token file for mutating calls (default: the config's
    /// mgmt.token-file).
    #[arg(long, value_name = "FILE", global = true)]
    token_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum ZoneAction {
    /// Add a secondary zone (persisted by the node, transferred at once);
    /// several names (or --file) are added in one call, all or none.
    Add {
        /// The zone's name; more names: the same settings for each.
        #[arg(required_unless_present = "file")]
        names: Vec<String>,
        /// A file with one zone name per line (`#` starts a comment).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// A primary (ADDR or ADDR:PORT); repeat for more, tried in order.
        #[arg(long = "primary", required_unless_present = "template", value_name = "ADDR")]
        primaries: Vec<String>,
        /// The name of a [[tsig-key]] in the node's config.
        #[arg(long)]
        tsig_key: Option<String>,
        /// The name of a [[template]] in the node's config: its settings
        /// apply where these options set none.
        #[arg(long)]
        template: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Remove a zone added through the API; several names (or --file) are
    /// removed in one call, all or none.
    Remove {
        /// The zone's name; more names: removed together.
        #[arg(required_unless_present = "file")]
        names: Vec<String>,
        /// A file with one zone name per line (`#` starts a comment).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List every zone with its state, serial and freshness.
    List {
        #[command(flatten)]
        api: ApiArgs,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Ask a secondary zone's primaries for a new version now.
    Refresh {
        /// The zone.
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Carry out the removals a consumer catalog holds (more than its
    /// catalog-max-removals at once).
    AcceptRemovals {
        /// The consumer catalog zone.
        catalog: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

impl ApiArgs {
    /// The API to talk to; with `mutating`, with its token.
    fn target(&self, mutating: bool) -> Result<Target, Error> {
        let config = match &self.config {
            Some(path) => Some(Config::load(path)?),
            None => None,
        };
        let mut target = match (&self.url, &config) {
            (Some(url), _) => Target::parse(url).map_err(Error::Check)?,
            (None, Some(c)) => match c.mgmt.listen {
                Some(addr) => Target::from_listen(addr),
                None => {
                    return Err(Error::Check(
                        "the config has no mgmt.listen: the node runs no management API (or pass --mgmt URL)".into(),
                    ));
                }
            },
            (None, None) => Target::parse("http://127.0.0.1:8053").map_err(Error::Check)?,
        };
        if mutating {
            let file = self
                .token_file
                .clone()
                .or_else(|| config.as_ref().map(|c| c.mgmt.token_file.clone()))
                .ok_or_else(|| {
                    Error::Check("this call needs the API token: pass --token-file FILE or --config FILE".into())
                })?;
            target = target.with_token_file(&file).map_err(Error::Check)?;
        }
        Ok(target)
    }
}

/// Parses the command line and runs the chosen sub-command.
pub fn run() -> Result<(), Error> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            // Kept until serve returns, so the last lines (SIGTERM's) are written.
            let _log = crate::logging::init();
            let loaded = Config::load(&config)?;
            crate::supervisor::serve(loaded, &config)
        }
        Command::CheckConfig { file } => check_config(&file),
        Command::Completions { shell } => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&completions(shell))
                .and_then(|()| out.flush())
                .map_err(|e| Error::Check(format!("writing the completion script to standard output: {e}")))
        }
        Command::SoaCheck {
            zone,
            servers,
            primary,
            timeout,
            fleet,
        } => {
            if let Some(url) = fleet {
                let target = Target::parse(&url).map_err(Error::Check)?;
                return client::zone_fleet(&target, &zone);
            }
            let timeout = std::time::Duration::try_from_secs_f64(timeout.clamp(0.01, 60.0))
                .unwrap_or(std::time::Duration::from_secs(2));
            crate::soacheck::run(&zone, &servers, primary.as_deref(), timeout)
        }
        Command::Status { api, json } => client::status(&api.target(false)?, json),
        Command::Zone { action } => match action {
            ZoneAction::Add {
                names,
                file,
                primaries,
                tsig_key,
                template,
                api,
            } => match zone_names(names, file.as_deref())?.as_slice() {
                [name] => client::zone_add(
                    &api.target(true)?,
                    name,
                    &primaries,
                    tsig_key.as_deref(),
                    template.as_deref(),
                ),
                names => client::zone_add_many(
                    &api.target(true)?,
                    names,
                    &primaries,
                    tsig_key.as_deref(),
                    template.as_deref(),
                ),
            },
            ZoneAction::Remove { names, file, api } => match zone_names(names, file.as_deref())?.as_slice() {
                [name] => client::zone_remove(&api.target(true)?, name),
                names => client::zone_remove_many(&api.target(true)?, names),
            },
            ZoneAction::List { api, json } => client::zone_list(&api.target(false)?, json),
            ZoneAction::Refresh { name, api } => client::zone_refresh(&api.target(true)?, &name),
            ZoneAction::AcceptRemovals { catalog, api } => client::accept_removals(&api.target(true)?, &catalog),
        },
    }
}

/// The names given, then those of `file` (one a line, `#` comments).
fn zone_names(mut names: Vec<String>, file: Option<&std::path::Path>) -> Result<Vec<String>, Error> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Check(format!("{}: {e}", path.display())))?;
        names.extend(
            text.lines()
                .map(|l| l.split('#').next().unwrap_or_default().trim())
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    if names.is_empty() {
        return Err(Error::Check("no zone names given".into()));
    }
    Ok(names)
}

fn check_config(file: &std::path::Path) -> Result<(), Error> {
    let config = Config::load(file)?;
    // A runtime check (the limits are the running node's): a warning only.
    if let Some(w) = crate::rlimit::warning(&config) {
        eprintln!("warning: {w}");
    }
    let mut failed = Vec::new();
    for zone in &config.zones {
        // A producer catalog's file is written by `serve`, not by the user.
        if zone.catalog == Some(crate::config::CatalogRole::Producer) {
            continue;
        }
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
