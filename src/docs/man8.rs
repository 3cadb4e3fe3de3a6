//! pharos(8): the command's man page, written from the clap definition
//! (`cli::command`). `clap_mangen` (used here only) gives the title, NAME,
//! SYNOPSIS, DESCRIPTION and the top-level OPTIONS; then a subsection per
//! command with its options, and the EXIT STATUS, SIGNALS, FILES and SEE
//! ALSO sections, written with `roff`.

use clap::{Arg, Command};

use super::roff::{PREAMBLE, Page, Span, backticks};

/// The page's roff source.
pub(crate) fn render(version: &str, date: &str) -> String {
    let mut cmd = crate::cli::command();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone())
        .title("PHAROS")
        .section("8")
        .date(date)
        .source(format!("pharos {version}"))
        .manual("System Manager's Manual");
    let mut head: Vec<u8> = Vec::new();
    type Part = fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>;
    let parts: [Part; 5] = [
        clap_mangen::Man::render_title,
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ];
    let mut out = String::from(PREAMBLE);
    for (i, part) in parts.into_iter().enumerate() {
        head.clear();
        // Writing into a Vec cannot fail.
        let _ = part(&man, &mut head);
        let text = String::from_utf8_lossy(&head);
        out.push_str(text.strip_prefix(PREAMBLE).unwrap_or(&text));
        if i == 0 {
            // No hyphenation: a word broken at a line's end would read as
            // an option or key with a hyphen in it.
            out.push_str(".nh\n");
        }
    }

    let mut page = Page::default();
    page.section("COMMANDS");
    for sub in commands(&cmd) {
        render_command(&mut page, sub);
    }
    tail(&mut page);
    let body = page.render();
    out.push_str(body.strip_prefix(PREAMBLE).unwrap_or(&body));
    out
}

/// The sub-commands of `cmd` a user types (not clap's `help`).
fn commands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
}

fn render_command(page: &mut Page, cmd: &Command) {
    let name = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name()).to_string();
    page.subsection(&name);
    let usage = cmd.clone().render_usage().to_string();
    let usage = usage.trim().strip_prefix("Usage: ").unwrap_or(usage.trim()).to_string();
    let rest = usage.strip_prefix(&name).unwrap_or(&usage).to_string();
    page.control("PP").spans(&[Span::Bold(name.clone()), Span::Roman(rest)]);
    if let Some(about) = cmd.get_long_about().or_else(|| cmd.get_about()) {
        for para in about.to_string().split("\n\n") {
            page.control("PP").text(&sentence(&para.replace('\n', " ")));
        }
    }
    for arg in cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
    {
        render_arg(page, arg);
    }
    for sub in commands(cmd) {
        render_command(page, sub);
    }
}

fn render_arg(page: &mut Page, arg: &Arg) {
    let value_name = || {
        let names = arg
            .get_value_names()
            .map(|n| n.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let name = names.map_or_else(|| arg.get_id().as_str().to_uppercase(), |n| n.join(" "));
        let many = arg.get_num_args().is_some_and(|r| r.max_values() > 1);
        if many { format!("{name}...") } else { name }
    };
    let mut tag = Vec::new();
    if arg.is_positional() {
        tag.push(Span::Italic(value_name()));
    } else {
        if let Some(short) = arg.get_short() {
            tag.push(Span::Bold(format!("-{short}")));
        }
        if let Some(long) = arg.get_long() {
            if !tag.is_empty() {
                tag.push(Span::Roman(", ".into()));
            }
            tag.push(Span::Bold(format!("--{long}")));
        }
        if arg.get_num_args().is_some_and(|r| r.takes_values()) {
            tag.push(Span::Roman(" ".into()));
            tag.push(Span::Italic(value_name()));
        }
    }
    page.control("TP").spans(&tag);
    let mut help = arg
        .get_long_help()
        .or_else(|| arg.get_help())
        .map(|h| sentence(&h.to_string().replace("\n\n", " ").replace('\n', " ")))
        .unwrap_or_default();
    let possible: Vec<String> = arg
        .get_possible_values()
        .iter()
        .map(|v| v.get_name().to_string())
        .collect();
    if !possible.is_empty() {
        help.push_str(&format!(" One of: {}.", possible.join(", ")));
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    // A flag's default ("false") says nothing.
    if !defaults.is_empty() && arg.get_num_args().is_some_and(|r| r.takes_values()) {
        help.push_str(&format!(" Default: {}.", defaults.join(", ")));
    }
    if let Some(aliases) = arg.get_visible_aliases() {
        for alias in aliases {
            help.push_str(&format!(" Also `--{alias}`."));
        }
    }
    page.spans(&backticks(help.trim()));
}

/// clap drops the full stop of a one-sentence doc comment; the page
/// puts it back.
fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() || text.ends_with(['.', ':', '!', '?']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

/// EXIT STATUS (see `Error::exit_code`), SIGNALS, FILES, SEE ALSO.
fn tail(page: &mut Page) {
    page.section("EXIT STATUS");
    for (code, what) in [
        (
            "0",
            "Success: the command did what it was asked; `serve` stopped on a signal.",
        ),
        (
            "1",
            "Invalid input: the config file is invalid (every error is listed, each with its key path \
             and line), or a check found a mismatch or a server that failed (`soa-check`), or the \
             management API refused or failed a call.",
        ),
        (
            "2",
            "`serve` could not start: a socket could not be bound, or another start-up step failed. \
             Also a command line that cannot be parsed.",
        ),
        ("3", "A running node stopped because one of its tasks failed."),
    ] {
        page.control("TP").spans(&[Span::Bold(code.into())]).text(what);
    }

    page.section("SIGNALS");
    page.control("TP").spans(&[Span::Bold("SIGHUP".into())]).text(
        "Re-reads the config file and applies what changed without stopping: zones added, \
         removed or changed, templates, transfer limits, BGP peers and policy. An invalid file is \
         refused, every error logged, and the running configuration stays. \
         `systemctl reload pharos` sends it.",
    );
    page.control("TP").spans(&[
        Span::Bold("SIGTERM".into()),
        Span::Roman(", ".into()),
        Span::Bold("SIGINT".into()),
    ]);
    page.text(
        "Drains, then stops: BGP withdraws the routes, DNS keeps answering for `health.drain` \
         (default 5 s; no wait when BGP is disabled or nothing was announced), then the node \
         exits. A second signal ends the wait. `systemctl stop pharos` sends SIGTERM.",
    );

    page.section("FILES");
    for (file, what) in [
        (
            "/etc/pharos/pharos.toml",
            "The node's config file, see pharos.toml(5). As installed it serves nothing: edit \
             `node.id`, add zones, then `pharos check-config /etc/pharos/pharos.toml`.",
        ),
        (
            "/var/lib/pharos",
            "The data directory (`node.data-dir`): persisted zones, their timers and transfer \
             history, catalog state, so that a restart serves every zone at once.",
        ),
        (
            "/var/lib/pharos/maintenance",
            "While this file exists the node is drained (`health.maintenance-file`).",
        ),
        (
            "/var/lib/pharos/token",
            "The bearer token of the management API's mutating calls (`mgmt.token-file`).",
        ),
    ] {
        page.control("TP").spans(&[Span::Italic(file.into())]).text(what);
    }

    page.section("SEE ALSO");
    page.control("PP").spans(&[
        Span::Bold("pharos.toml".into()),
        Span::Roman("(5), ".into()),
        Span::Bold("dig".into()),
        Span::Roman("(1), ".into()),
        Span::Bold("systemctl".into()),
        Span::Roman("(1)".into()),
    ]);
}
