//! The client side of the management API, behind `pharos status` and
//! `pharos zone add|remove|list|refresh`: a small HTTP/1.1 client over a
//! std `TcpStream` (one request per connection, `Connection: close`; the
//! API is on loopback or a management network, plain HTTP) and the text
//! the commands print. Every failure names the URL and what went wrong; an
//! error answer from the API is shown with its message and HTTP status.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::error::Error;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest answer read (a node with many zones lists them all).
const MAX_RESPONSE: u64 = 256 << 20;

/// Where the API is, and the token for mutating calls.
#[derive(Clone, Debug)]
pub struct Target {
    /// `host:port` as given (for the Host header and messages).
    pub authority: String,
    pub token: Option<String>,
}

impl Target {
    /// `http://host:port[/]` or `host:port`.
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => return Err(format!("{url:?}: only http:// is supported, not {scheme}://")),
            None => url,
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(format!("{url:?}: expected http://HOST:PORT"));
        }
        Ok(Target {
            authority: authority.to_string(),
            token: None,
        })
    }

    /// The API address of a node's `mgmt.listen` (a wildcard address is
    /// reached on loopback).
    pub fn from_listen(addr: SocketAddr) -> Target {
        let addr = match addr.ip() {
            std::net::IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
            std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
            }
            _ => addr,
        };
        Target {
            authority: addr.to_string(),
            token: None,
        }
    }

    /// Reads the token (whitespace around it ignored).
    pub fn with_token_file(mut self, path: &Path) -> Result<Target, String> {
        let raw = crate::files::read_to_string(path, crate::files::TOKEN_MAX)
            .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
        let token = raw.trim();
        if token.is_empty() {
            return Err(format!("the token file {} is empty", path.display()));
        }
        self.token = Some(token.to_string());
        Ok(self)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.authority)
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// The body as JSON (`null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The API's error message, or the body.
    pub fn message(&self) -> String {
        match self.json().get("error").and_then(Value::as_str) {
            Some(m) => m.to_string(),
            None => self.body.trim().to_string(),
        }
    }
}

/// Sends one request and reads the whole answer.
pub fn request(target: &Target, method: &str, path: &str, body: Option<&str>) -> Result<Answer, String> {
    let url = target.url(path);
    let addrs: Vec<SocketAddr> = target
        .authority
        .to_socket_addrs()
        .map_err(|e| format!("{url}: cannot resolve {}: {e}", target.authority))?
        .collect();
    let mut last = String::from("no address");
    let mut stream = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, CONNECT_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("{a}: {e}"),
        }
    }
    let mut stream =
        stream.ok_or_else(|| format!("{url}: cannot connect ({last}); is the node running with mgmt.listen set?"))?;
    let io = |e: std::io::Error| format!("{url}: {e}");
    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: pharos/{}\r\nAccept: application/json\r\nConnection: close\r\n",
        target.authority,
        env!("CARGO_PKG_VERSION")
    );
    if let Some(t) = &target.token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(io)?;
    stream.write_all(body.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    stream.take(MAX_RESPONSE).read_to_end(&mut raw).map_err(io)?;
    parse_response(&raw).map_err(|e| format!("{url}: {e}"))
}

/// Parses a whole HTTP/1.1 response (Content-Length, chunked, or read to
/// the end).
fn parse_response(raw: &[u8]) -> Result<Answer, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the answer is not HTTP (no end of headers)")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "the answer's headers are not text")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| format!("the answer is not HTTP ({status_line:?})"))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else { continue };
        if k.eq_ignore_ascii_case("content-length") {
            length = v.trim().parse::<usize>().ok();
        } else if k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        rest.get(..n)
            .ok_or("the answer ended before its Content-Length")?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk size line is cut off")?;
        let size_text = std::str::from_utf8(&data[..eol]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| format!("bad chunk size {size_text:?}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or("a chunk is cut off")?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).ok_or("a chunk is cut off")?;
    }
}

/// Runs a request and insists on a 2xx answer; `what` names the action in
/// the error.
fn call(target: &Target, method: &str, path: &str, body: Option<&str>, what: &str) -> Result<Answer, Error> {
    let a = request(target, method, path, body).map_err(|e| Error::Check(format!("{what}: {e}")))?;
    if (200..300).contains(&a.status) {
        Ok(a)
    } else {
        Err(Error::Check(format!("{what}: {} (HTTP {})", a.message(), a.status)))
    }
}

/// A path segment with everything but unreserved characters escaped.
fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------- commands

/// One BGP peer of `pharos status`: the session line as a router engineer
/// reads it (state, for how long, prefixes sent, messages each way), then
/// BFD, the last NOTIFICATION each way and the last error, when there are.
fn render_peer(p: &serde_json::Value) -> String {
    let announced = p["announced"].as_array().map_or(0, Vec::len);
    let mut o = format!(
        "  {:<39} AS{:<10} {:<12} {:>8} {} pfx sent, msgs {}/{} in/out{}\n",
        text(&p["address"]),
        text(&p["asn"]),
        text(&p["state"]),
        duration_text(p["since-secs"].as_u64().unwrap_or(0)),
        announced,
        text(&p["messages-in"]),
        text(&p["messages-out"]),
        if p["passive"].as_bool() == Some(true) {
            ", passive"
        } else {
            ""
        },
    );
    if let Some(b) = p["bfd"].as_object() {
        let detect = b
            .get("detection-ms")
            .and_then(serde_json::Value::as_u64)
            .map(|ms| format!(", detection {ms} ms"))
            .unwrap_or_default();
        o.push_str(&format!(
            "      bfd {} (remote {}){detect}, up {} times{}\n",
            b.get("state").and_then(serde_json::Value::as_str).unwrap_or("?"),
            b.get("remote-state").and_then(serde_json::Value::as_str).unwrap_or("?"),
            b.get("up-transitions").and_then(serde_json::Value::as_u64).unwrap_or(0),
            b.get("last-down")
                .and_then(serde_json::Value::as_str)
                .map(|d| format!("; last down: {d}"))
                .unwrap_or_default(),
        ));
    }
    if p["waiting-for-bfd"].as_bool() == Some(true) {
        o.push_str("      waiting for BFD to come up before connecting\n");
    }
    for (key, label) in [
        ("last-notification-sent", "notification sent"),
        ("last-notification-received", "notification received"),
        ("last-error", "last error"),
    ] {
        if let Some(t) = p[key].as_str() {
            o.push_str(&format!("      {label}: {t}\n"));
        }
    }
    o
}

/// `1d02h`, `3h04m`, `5m07s`, `42s`: a session's age, the way routers show it.
fn duration_text(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// `pharos status`: one screen with health, BGP sessions and zones.
pub fn status(target: &Target, json: bool) -> Result<(), Error> {
    let status = call(target, "GET", "/status", None, "status")?;
    let zones = call(target, "GET", "/zones", None, "zone list")?;
    if json {
        println!("{}", status.body.trim_end());
        return Ok(());
    }
    print!(
        "{}",
        render_status(&status.json(), &zones.json(), crate::mgmt::qps::now_unix())
    );
    Ok(())
}

/// `pharos soa-check ZONE --fleet URL`: the hub's fleet view of the zone;
/// fails when a node is not in sync.
pub fn zone_fleet(target: &Target, zone: &str) -> Result<(), Error> {
    let path = format!("/zones/{}/fleet", segment(zone.trim_end_matches('.')));
    let a = call(target, "GET", &path, None, "fleet view")?;
    let (text, ok) = crate::soacheck::fleet_report(&a.json());
    print!("{text}");
    if ok {
        Ok(())
    } else {
        Err(Error::Check(format!("{zone}: a node is behind or unreachable")))
    }
}

/// `pharos zone list`.
pub fn zone_list(target: &Target, json: bool) -> Result<(), Error> {
    let zones = call(target, "GET", "/zones", None, "zone list")?;
    if json {
        println!("{}", zones.body.trim_end());
    } else {
        print!(
            "{}",
            render_zones(&zones.json(), crate::mgmt::qps::now_unix(), usize::MAX)
        );
    }
    Ok(())
}

/// `pharos zone add NAME --primary ADDR... [--tsig-key KEY]`.
pub fn zone_add(
    target: &Target,
    name: &str,
    primaries: &[String],
    tsig_key: Option<&str>,
    template: Option<&str>,
) -> Result<(), Error> {
    let mut body = serde_json::json!({ "name": name, "primaries": primaries });
    if let Some(k) = tsig_key {
        body["tsig-key"] = Value::from(k);
    }
    if let Some(t) = template {
        body["template"] = Value::from(t);
    }
    let a = call(
        target,
        "POST",
        "/zones",
        Some(&body.to_string()),
        &format!("cannot add zone {name}"),
    )?;
    let z = a.json();
    let from = match (primaries.is_empty(), template) {
        (false, _) => format!("primaries {}", primaries.join(", ")),
        (true, Some(t)) => format!("primaries of template {t}"),
        (true, None) => "no primaries".to_string(),
    };
    println!(
        "added {} ({from}); state {}: it is transferred now",
        z["name"].as_str().unwrap_or(name),
        z["state"].as_str().unwrap_or("?")
    );
    Ok(())
}

/// `pharos zone add NAME NAME... | --file FILE`: one `POST /zones` with
/// an array, the same settings for each zone.
pub fn zone_add_many(
    target: &Target,
    names: &[String],
    primaries: &[String],
    tsig_key: Option<&str>,
    template: Option<&str>,
) -> Result<(), Error> {
    let entries: Vec<Value> = names
        .iter()
        .map(|name| {
            let mut z = serde_json::json!({ "name": name, "primaries": primaries });
            if let Some(k) = tsig_key {
                z["tsig-key"] = Value::from(k);
            }
            if let Some(t) = template {
                z["template"] = Value::from(t);
            }
            z
        })
        .collect();
    let a = call(
        target,
        "POST",
        "/zones",
        Some(&Value::from(entries).to_string()),
        &format!("cannot add {} zones", names.len()),
    )?;
    let added = a.json().as_array().map(Vec::len).unwrap_or(0);
    println!("added {added} zones: they are transferred now");
    Ok(())
}

/// `pharos zone remove NAME NAME... | --file FILE`: one `DELETE /zones`.
pub fn zone_remove_many(target: &Target, names: &[String]) -> Result<(), Error> {
    let a = call(
        target,
        "DELETE",
        "/zones",
        Some(&serde_json::json!(names).to_string()),
        &format!("cannot remove {} zones", names.len()),
    )?;
    let removed = a.json()["removed"].as_array().map(Vec::len).unwrap_or(0);
    println!("removed {removed} zones");
    Ok(())
}

/// `pharos zone remove NAME`.
pub fn zone_remove(target: &Target, name: &str) -> Result<(), Error> {
    call(
        target,
        "DELETE",
        &format!("/zones/{}", segment(name)),
        None,
        &format!("cannot remove zone {name}"),
    )?;
    println!("removed {name}");
    Ok(())
}

/// `pharos zone refresh NAME`.
pub fn zone_refresh(target: &Target, name: &str) -> Result<(), Error> {
    call(
        target,
        "POST",
        &format!("/zones/{}/refresh", segment(name)),
        None,
        &format!("cannot refresh zone {name}"),
    )?;
    println!("{name}: asking its primaries now");
    Ok(())
}

pub fn accept_removals(target: &Target, catalog: &str) -> Result<(), Error> {
    let answer = call(
        target,
        "POST",
        &format!("/zones/{}/accept-removals", segment(catalog)),
        None,
        &format!("cannot accept the held removals of catalog {catalog}"),
    )?;
    println!(
        "{catalog}: {} held member zones removed",
        text(&answer.json()["removed"])
    );
    Ok(())
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn render_status(s: &Value, zones: &Value, now: u64) -> String {
    let mut o = String::new();
    let node = &s["node"];
    let place = node["display"].as_str().or(node["city"].as_str());
    o.push_str(&format!(
        "node      {}{}   version {}, up {} s\n",
        text(&node["id"]),
        place.map(|p| format!(" ({p})")).unwrap_or_default(),
        text(&s["version"]),
        text(&s["uptime"])
    ));
    let h = &s["health"];
    o.push_str(&format!("health    {}: {}\n", text(&h["state"]), text(&h["reason"])));
    let m = &s["maintenance"];
    o.push_str(&format!(
        "maint.    {} ({})\n",
        if m["enabled"].as_bool() == Some(true) {
            "on: drained"
        } else {
            "off"
        },
        text(&m["file"])
    ));
    let bgp = &s["bgp"];
    let peers = bgp["peers"].as_array().cloned().unwrap_or_default();
    if bgp["enabled"].as_bool() != Some(true) {
        o.push_str("bgp       disabled\n");
    } else {
        o.push_str(&format!("bgp       {} peer(s)\n", peers.len()));
    }
    for p in &peers {
        o.push_str(&render_peer(p));
    }
    let z = &s["zones"];
    o.push_str(&format!(
        "zones     {} ({} ok, {} loading, {} expired, {} failed, {} with errors)\n",
        text(&z["total"]),
        text(&z["ok"]),
        text(&z["loading"]),
        text(&z["expired"]),
        text(&z["failed"]),
        text(&z["error"])
    ));
    o.push_str(&render_zones(zones, now, 20));
    let q = &s["queries"];
    o.push_str(&format!(
        "queries   {} total, {:.1}/s over the last minute\n",
        text(&q["total"]),
        q["qps"].as_f64().unwrap_or(0.0)
    ));
    o
}

/// The zones as a table, those not "ok" first; at most `limit` rows.
fn render_zones(zones: &Value, now: u64, limit: usize) -> String {
    let mut list = zones["zones"].as_array().cloned().unwrap_or_default();
    list.sort_by_key(|z| {
        (
            z["state"].as_str() == Some("ok") && z["persist-error"].is_null(),
            z["name"].as_str().unwrap_or("").to_string(),
        )
    });
    let mut o = format!(
        "  {:<32} {:<9} {:<6} {:<10} {:>10}  {:<14} {}\n",
        "ZONE", "KIND", "ADDED", "STATE", "SERIAL", "LAST REFRESH", "LAST ERROR"
    );
    for z in list.iter().take(limit) {
        let fresh = match z["last-success"].as_u64() {
            Some(t) => crate::mgmt::page::ago(t, now),
            None if z["kind"].as_str() == Some("file") => "file".into(),
            None => "never".into(),
        };
        // A version that could not be written: the zone serves an older
        // one, and that is what the operator must see first.
        let (state, error) = match z["persist-error"].as_str() {
            Some(e) => (format!("{}+unwritten", text(&z["state"])), e),
            None => (text(&z["state"]), z["last-error"].as_str().unwrap_or("")),
        };
        o.push_str(&format!(
            "  {:<32} {:<9} {:<6} {:<10} {:>10}  {:<14} {}\n",
            text(&z["name"]),
            text(&z["kind"]),
            text(&z["origin"]),
            state,
            text(&z["serial"]),
            fresh,
            error
        ));
    }
    if list.len() > limit {
        o.push_str(&format!("  ... and {} more (pharos zone list)\n", list.len() - limit));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            Target::parse("http://127.0.0.1:8053/").map(|t| t.authority),
            Ok("127.0.0.1:8053".into())
        );
        assert_eq!(
            Target::parse("[::1]:8053").map(|t| t.authority),
            Ok("[::1]:8053".into())
        );
        assert!(Target::parse("https://x:1").is_err());
        assert!(Target::parse("http://x:1/api").is_err());
        assert_eq!(
            Target::from_listen("0.0.0.0:9000".parse().unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)))).authority,
            "127.0.0.1:9000"
        );
    }

    #[test]
    fn parses_responses() {
        let a = parse_response(b"HTTP/1.1 409 Conflict\r\ncontent-length: 17\r\n\r\n{\"error\": \"dup\"}\nXX")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.status, 409);
        assert_eq!(a.message(), "dup");
        let c = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.body, "abcde");
        assert!(parse_response(b"garbage").is_err());
        assert!(parse_response(b"SSH-2.0\r\n\r\n").is_err());
    }

    #[test]
    fn escapes_path_segments() {
        assert_eq!(segment("example.com."), "example.com.");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn renders_zone_table_errors_first() {
        let v = serde_json::json!({"zones": [
            {"name": "b.example", "kind": "secondary", "origin": "api", "state": "ok", "serial": 5, "last-success": 90},
            {"name": "a.example", "kind": "secondary", "origin": "api", "state": "loading", "serial": null, "last-error": "SOA query to x: timeout"},
        ]});
        let t = render_zones(&v, 100, 10);
        let a = t.find("a.example").unwrap_or(usize::MAX);
        let b = t.find("b.example").unwrap_or(0);
        assert!(a < b, "{t}");
        assert!(t.contains("10 s ago"));
        assert!(t.contains("timeout"));
        assert!(render_zones(&v, 100, 1).contains("1 more"));
    }

    #[test]
    fn a_peer_as_a_router_engineer_reads_it() {
        let p = serde_json::json!({
            "address": "10.255.0.1", "asn": 65000, "state": "Established", "since-secs": 3725,
            "announced": ["192.0.2.0/24", "2001:db8::/48"], "messages-in": 12, "messages-out": 15,
            "passive": true,
            "bfd": {"state": "up", "remote-state": "up", "detection-ms": 900, "up-transitions": 2,
                    "last-down": "detection time expired"},
            "last-notification-sent": "Cease / BFD Down (6/10)",
            "last-notification-received": "Cease / Administrative Shutdown (6/2): \"maintenance\"",
            "last-error": "BFD: detection time expired",
        });
        let t = render_peer(&p);
        for needle in [
            "Established",
            "1h02m",
            "2 pfx sent",
            "msgs 12/15 in/out",
            "passive",
            "bfd up (remote up), detection 900 ms, up 2 times; last down: detection time expired",
            "notification sent: Cease / BFD Down (6/10)",
            "notification received: Cease / Administrative Shutdown (6/2)",
            "last error: BFD: detection time expired",
        ] {
            assert!(t.contains(needle), "{needle:?} missing:\n{t}");
        }
        let quiet = render_peer(&serde_json::json!({"address": "10.255.0.1", "state": "Active", "since-secs": 5}));
        assert_eq!(quiet.lines().count(), 1, "{quiet}");
        assert!(!quiet.contains("passive") && !quiet.contains("bfd"));
        assert_eq!(
            [duration_text(42), duration_text(307), duration_text(90_061)],
            ["42s", "5m07s", "1d01h"]
        );
    }
}
