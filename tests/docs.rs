//! The generated documentation (src/docs): the committed man pages,
//! completions and /etc/pharos/pharos.toml are what the sources make
//! today (`PHAROS_BLESS=1 cargo test --test docs` writes them again); the
//! pages render without a warning; every config key is documented; the
//! installed config passes check-config and starts a node that serves
//! nothing.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn example_text() -> String {
    read(&root().join("config.example.toml"))
}

fn outputs() -> Vec<pharos::docs::Output> {
    pharos::docs::outputs(&example_text()).unwrap_or_else(|e| panic!("{e}"))
}

/// The committed file `path` (from the repository root). With
/// `PHAROS_BLESS=1`, every generated file is written first, once, before
/// any test reads one.
fn dist(path: &str) -> PathBuf {
    static BLESS: std::sync::Once = std::sync::Once::new();
    BLESS.call_once(|| {
        if std::env::var_os("PHAROS_BLESS").is_some_and(|v| v == "1") {
            for out in outputs() {
                let path = root().join(out.path);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
                }
                std::fs::write(&path, &out.text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    });
    root().join(path)
}

#[test]
fn generated_files_are_up_to_date() {
    let mut stale = Vec::new();
    for out in outputs() {
        if std::fs::read_to_string(dist(out.path)).ok().as_deref() != Some(out.text.as_str()) {
            stale.push(out.path);
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files: {stale:?}\nthe CLI or config.example.toml changed: run \
         `PHAROS_BLESS=1 cargo test --test docs` and commit the result"
    );
}

#[test]
fn generating_twice_gives_the_same_bytes() {
    assert_eq!(outputs(), outputs());
}

#[test]
fn every_config_key_is_documented() {
    for (what, text) in [
        ("config.example.toml", example_text()),
        ("dist/pharos.toml", read(&dist("dist/pharos.toml"))),
    ] {
        let example = pharos::docs::parse(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
        let problems = pharos::docs::undocumented(&example);
        assert!(
            problems.is_empty(),
            "{what}: every config key needs a doc:\n{}",
            problems.join("\n")
        );
    }
}

/// `man` renders `file` to text, with warnings on; its stderr must be empty.
fn man(file: &Path) -> String {
    let out = Command::new("man")
        .args(["--warnings", "-E", "UTF-8", "-l"])
        .arg(file)
        .env("MANWIDTH", "80")
        .env("MAN_KEEP_FORMATTING", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running man: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "man --warnings -l {}: {}\n{stderr}",
        file.display(),
        out.status
    );
    // Strip overstriking (bold, underline), should man leave any.
    let text = String::from_utf8_lossy(&out.stdout);
    let mut plain = String::new();
    for c in text.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    plain
}

#[test]
fn man_pages_render_without_warnings() {
    for page in ["dist/man/pharos.8", "dist/man/pharos.toml.5"] {
        let path = dist(page);
        let text = man(&path);
        assert!(text.contains("NAME"), "{page}: {text}");
        // groff's own check, as lintian runs it.
        let out = Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("running groff: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "groff -man -ww -z {page}:\n{stderr}"
        );
    }
}

#[test]
fn pharos_8_documents_every_command() {
    let text = man(&dist("dist/man/pharos.8"));
    for want in [
        "pharos serve",
        "pharos check-config",
        "pharos soa-check",
        "pharos status",
        "pharos zone add",
        "pharos zone accept-removals",
        "pharos completions",
        "--token-file",
        "EXIT STATUS",
        "SIGHUP",
        "SIGTERM",
        "/etc/pharos/pharos.toml",
        "/var/lib/pharos",
        "pharos.toml(5)",
    ] {
        assert!(text.contains(want), "pharos.8 lacks `{want}`:\n{text}");
    }
}

/// Every key line of config.example.toml, found with no help from the
/// docs parser: (table, key, value).
fn example_keys() -> BTreeSet<(String, String, String)> {
    let mut table = String::new();
    let mut keys = BTreeSet::new();
    for line in example_text().lines() {
        let line = line.strip_prefix("# ").unwrap_or(line);
        let code = line.split(" #").next().unwrap_or(line).trim();
        if let Some(name) = code.strip_prefix('[') {
            if code.ends_with(']') && !code.contains(' ') {
                table = name.trim_matches(['[', ']']).to_string();
            }
            continue;
        }
        let Some((key, value)) = code.split_once(" = ") else {
            continue;
        };
        if key.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !key.is_empty() {
            keys.insert((table.clone(), key.to_string(), value.to_string()));
        }
    }
    keys
}

#[test]
fn pharos_toml_5_shows_every_key_of_the_example() {
    let text = man(&dist("dist/man/pharos.toml.5"));
    let keys = example_keys();
    assert!(keys.len() > 100, "{keys:?}");
    // The page's text per table: from its heading to the next.
    let mut tables: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let heading = line.trim_end();
        if heading.starts_with('[') && heading.ends_with(']') && !line.starts_with(' ') {
            tables.push((heading.trim_matches(['[', ']']).to_string(), String::new()));
        } else if let Some((_, body)) = tables.last_mut() {
            body.push_str(line.trim());
            body.push('\n');
        }
    }
    for (table, key, value) in &keys {
        let body = tables
            .iter()
            .find(|(t, _)| t == table)
            .map(|(_, b)| b.as_str())
            .unwrap_or_else(|| panic!("pharos.toml.5 has no section [{table}]"));
        assert!(
            body.lines().any(|l| l.starts_with(&format!("{key} = "))),
            "pharos.toml.5, [{table}]: no `{key} = ` line"
        );
        let shown: Vec<&str> = keys
            .iter()
            .filter(|(t, k, _)| t == table && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect();
        assert!(
            shown.iter().any(|v| body.contains(&format!("{key} = {v}"))),
            "pharos.toml.5, [{table}]: `{key}` shown with none of its example values {shown:?} ({value})"
        );
    }
}

#[test]
fn bash_completion_is_valid_bash() {
    let path = dist("dist/completions/pharos.bash");
    let out = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("running bash");
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = read(&path);
    for word in ["check-config", "soa-check", "accept-removals", "--token-file"] {
        assert!(text.contains(word), "the bash completion lacks {word}");
    }
}

#[test]
fn zsh_completion_is_valid_zsh() {
    let path = dist("dist/completions/_pharos");
    assert!(read(&path).starts_with("#compdef pharos"));
    if Command::new("zsh").arg("-c").arg("true").output().is_err() {
        eprintln!("zsh is not installed: its syntax check is skipped");
        return;
    }
    let out = Command::new("zsh").arg("-n").arg(&path).output().expect("running zsh");
    assert!(out.status.success(), "zsh -n: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn completions_subcommand_prints_the_scripts() {
    for (shell, file) in [("bash", "pharos.bash"), ("zsh", "_pharos")] {
        let out = common::pharos_cmd(&["completions", shell]);
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            read(&dist("dist/completions").join(file))
        );
    }
    let out = common::pharos_cmd(&["completions", "fish"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("complete -c pharos"));
    let out = common::pharos_cmd(&["completions", "tcsh"]);
    assert!(!out.status.success());
}

#[test]
fn installed_config_passes_check_config() {
    let path = dist("dist/pharos.toml");
    let out = common::pharos_cmd(&[std::ffi::OsStr::new("check-config"), path.as_os_str()]);
    assert!(
        out.status.success(),
        "pharos check-config dist/pharos.toml:\n{}",
        common::output_text(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (0 zones)"));
    let text = read(&path);
    let active: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty() && !l.starts_with(' '))
        .map(|l| l.split('#').next().unwrap_or(l).trim_end())
        .collect();
    assert_eq!(
        active,
        [
            "[node]",
            "id = \"node-1\"",
            "data-dir = \"/var/lib/pharos\"",
            "[dns]",
            "listen = [\"127.0.0.1:53\", \"[::1]:53\"]",
            "[bgp]",
            "enabled = false",
            "[mgmt]",
            "listen = \"127.0.0.1:8053\"",
        ]
    );
    assert!(
        text.contains("id = \"node-1\"  # EDIT"),
        "node.id must say it is to be edited"
    );
    // Every path is absolute.
    for line in text.lines() {
        for key in ["file = \"", "data-dir = \"", "maintenance-file = \"", "token-file = \""] {
            if let Some(at) = line.find(key) {
                assert!(line[at + key.len()..].starts_with('/'), "relative path: {line}");
            }
        }
    }
}

#[test]
fn installed_config_starts_a_node_that_serves_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (dns, mgmt) = (common::free_port(false), common::free_port(false));
    // The installed file, on loopback ports and a data dir of the test's.
    let text = read(&dist("dist/pharos.toml"))
        .replace(
            "listen = [\"127.0.0.1:53\", \"[::1]:53\"]",
            &format!("listen = [\"127.0.0.1:{dns}\"]"),
        )
        .replace("listen = \"127.0.0.1:8053\"", &format!("listen = \"127.0.0.1:{mgmt}\""))
        .replace(
            "data-dir = \"/var/lib/pharos\"",
            &format!(
                "data-dir = {}",
                common::toml_str(&dir.path().join("data").to_string_lossy())
            ),
        );
    assert_eq!(text.matches(&format!(":{dns}\"")).count(), 1, "dns.listen not replaced");
    assert_eq!(
        text.matches(&format!(":{mgmt}\"")).count(),
        1,
        "mgmt.listen not replaced"
    );
    let config = dir.path().join("pharos.toml");
    std::fs::write(&config, text).expect("writing the config");
    let log = std::fs::File::create(dir.path().join("pharos.log")).expect("log file");
    let child = Command::new(common::pharos_bin())
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting pharos");
    let mut node = common::Spawned(child);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{dns}").parse().expect("address");
    let start = Instant::now();
    let reply = loop {
        if let Ok(reply) = common::wire::udp_query(addr, "example.com", 6, 1, Duration::from_millis(200)) {
            break reply;
        }
        let exited = node.exited();
        assert!(
            exited.is_none() && start.elapsed() < common::START_TIMEOUT,
            "the node did not answer ({exited:?}):\n{}",
            std::fs::read_to_string(dir.path().join("pharos.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(reply.rcode, 5, "a node without zones answers REFUSED: {reply}");
    assert!(!reply.aa() && reply.ancount == 0, "{reply}");
    // Its management API answers, and reports no zones.
    let api: std::net::SocketAddr = format!("127.0.0.1:{mgmt}").parse().expect("address");
    let zones = common::http(api, "GET", "/zones", &[], None);
    assert_eq!(zones.status, 200, "{}", zones.body);
    assert!(!zones.body.contains("example"), "{}", zones.body);
    assert!(node.exited().is_none(), "the node stopped");
}
