//! The management side of a node under test: [`MgmtNode`] starts pharos
//! with `[mgmt]` and `[identity]` on free loopback ports and writes its
//! token file; [`http`] is a tiny HTTP/1.1 client (std `TcpStream`,
//! `Connection: close`) written for the tests, independent of the one in
//! the crate; [`parse_metrics`] runs the Python Prometheus client's
//! text-format parser over a `/metrics` answer.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::pharos::{Pharos, PharosOpts, toml_str};
use super::server::free_port;

/// One parsed sample: name, labels, value.
pub type Sample = (String, Vec<(String, String)>, f64);

/// The token the tests write into the node's token file.
pub const TOKEN: &str = "test-token-0123456789";

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Http {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Http {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics (with the body) if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("answer (HTTP {}) is not JSON: {e}\n{}", self.status, self.body))
    }

    /// The `error` text of a JSON error answer; panics if there is none.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no \"error\" in answer (HTTP {}): {}", self.status, self.body))
            .to_string()
    }
}

/// Sends one request; `headers` are added as given. Panics if the server
/// cannot be reached or does not answer HTTP (see [`try_http`]).
pub fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Http {
    try_http(addr, method, path, headers, body).unwrap_or_else(|e| panic!("{e}"))
}

/// [`http`] for a server that may be gone (killed by the test): an error,
/// naming the call, when it cannot connect, the connection breaks or the
/// answer is not HTTP.
pub fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Http, String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{method} {path} ({addr}): {what}: {e}");
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| fail("cannot connect", &e))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| fail("set_read_timeout", &e))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes()).map_err(|e| fail("send", &e))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| fail("receive", &e))?;
    let not_http = || fail("not an HTTP answer", &format!("{:?}", String::from_utf8_lossy(&raw)));
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(not_http)?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| fail("bad status line", &format!("{head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let bad_chunk = || fail("bad chunked body", &format!("{:?}", String::from_utf8_lossy(&body)));
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").ok_or_else(bad_chunk)?;
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..eol]).trim(), 16).map_err(|_| bad_chunk())?;
            rest = &rest[eol + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(..size).ok_or_else(bad_chunk)?);
            rest = rest.get(size + 2..).ok_or_else(bad_chunk)?;
        }
        body = out;
    }
    Ok(Http {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A pharos node with its management API and identity endpoint.
pub struct MgmtNode {
    pub pharos: Pharos,
    pub api: SocketAddr,
    pub identity: SocketAddr,
}

impl MgmtNode {
    /// Starts pharos with `opts` plus `[mgmt]` (token file at its default
    /// place, `<data-dir>/token`, written with [`TOKEN`]) and `[identity]`.
    pub fn start(mut opts: PharosOpts) -> MgmtNode {
        let api = SocketAddr::from(([127, 0, 0, 1], free_port(false)));
        let identity = SocketAddr::from(([127, 0, 0, 1], free_port(false)));
        opts.extra_toml.push_str(&format!(
            "\n[mgmt]\nlisten = {}\n\n[identity]\nlisten = [{}]\n",
            toml_str(&api.to_string()),
            toml_str(&identity.to_string())
        ));
        let pharos = Pharos::start(opts);
        let node = MgmtNode { pharos, api, identity };
        node.write_token(TOKEN);
        node
    }

    pub fn token_file(&self) -> PathBuf {
        self.pharos.data_dir().join("token")
    }

    pub fn write_token(&self, token: &str) {
        std::fs::create_dir_all(self.pharos.data_dir()).unwrap();
        std::fs::write(self.token_file(), format!("{token}\n")).unwrap();
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.api)
    }

    pub fn get(&self, path: &str) -> Http {
        http(self.api, "GET", path, &[], None)
    }

    /// A mutating call with the right token.
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Http {
        let auth = format!("Bearer {TOKEN}");
        http(self.api, method, path, &[("Authorization", &auth)], body)
    }

    /// A call with the given Authorization header (None: without one).
    pub fn call_as(&self, auth: Option<&str>, method: &str, path: &str, body: Option<&str>) -> Http {
        match auth {
            Some(a) => http(self.api, method, path, &[("Authorization", a)], body),
            None => http(self.api, method, path, &[], body),
        }
    }
}

/// Parses Prometheus text with the Python Prometheus client's parser
/// (`prometheus_client.parser.text_string_to_metric_families`; with
/// `openmetrics`, `prometheus_client.openmetrics.parser`) and returns every
/// sample as (name, labels, value). Fails the test if the text does not
/// parse or the parser is missing (scripts/test.sh installs it).
pub fn parse_metrics(text: &str, openmetrics: bool) -> Vec<Sample> {
    let module = if openmetrics {
        "prometheus_client.openmetrics.parser"
    } else {
        "prometheus_client.parser"
    };
    let script = format!(
        "import sys, json\nfrom {module} import text_string_to_metric_families\n\
         out = []\n\
         for fam in text_string_to_metric_families(sys.stdin.read()):\n\
         \x20   for s in fam.samples:\n\
         \x20       out.append([s.name, sorted(s.labels.items()), s.value])\n\
         print(json.dumps(out))\n"
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3: {e}"));
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser ({module}) rejected /metrics or is missing \
         (`python3 -m pip install prometheus-client`, scripts/test.sh does it):\n{}\n--- text\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = s[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|kv| (kv[0].as_str().unwrap().to_string(), kv[1].as_str().unwrap().to_string()))
                .collect();
            (
                s[0].as_str().unwrap().to_string(),
                labels,
                s[2].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// The value of the sample `name` whose labels include all of `labels`
/// (0 if there is none).
pub fn sample(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v)))
        .map(|(_, _, v)| *v)
        .sum()
}
