#![allow(dead_code)]
//! Black-box helpers: a scripted loopback HTTP server, a scenario writer, and readers of a run directory's files.
//!
//! Nothing here imports `cutover::...`: the tests drive the real binary and read what it writes, so they keep
//! working while `src/` is reorganised. Every expected figure comes from the server's script (the instants at which
//! it sends each byte), never from the product's output.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_cutover");
/// The key every scenario here reads from `KEY_ENV`; the scripted servers refuse any other Authorization.
pub const KEY_ENV: &str = "CUTOVER_T8_KEY";
pub const KEY: &str = "sk-t8-black-box-0001";

// ---------------------------------------------------------------------------------------------------------------
// Scripted server
// ---------------------------------------------------------------------------------------------------------------

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path with query string.
    pub path: String,
    /// Lower-case header names.
    pub headers: BTreeMap<String, String>,
    /// Parsed JSON body (Null when empty or not JSON).
    pub body: Value,
    /// When the server finished reading it.
    pub at: Instant,
    /// 0-based arrival order at this server.
    pub index: usize,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    pub fn authorized(&self) -> bool {
        self.header("authorization") == Some(&format!("Bearer {KEY}"))
    }
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }
    pub fn query(&self, key: &str) -> Option<String> {
        let q = self.path.split_once('?')?.1;
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| v.to_string())
        })
    }
}

/// The server's answer: headers at `head_at` after the request was read, then each body part at its own offset
/// (also from the request's receipt). A reply with `chunked` streams the parts with chunked transfer encoding.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub extra_headers: Vec<(String, String)>,
    pub head_at: Duration,
    pub chunked: bool,
    pub parts: Vec<(Duration, Vec<u8>)>,
}

impl Reply {
    pub fn json(status: u16, v: Value, after: Duration) -> Reply {
        Reply {
            status,
            content_type: "application/json".into(),
            extra_headers: vec![],
            head_at: after,
            chunked: false,
            parts: vec![(after, serde_json::to_vec(&v).unwrap())],
        }
    }

    /// A refusal that names what the request got wrong (the run then shows error rows, so a test fails).
    pub fn refuse(why: &str) -> Reply {
        Reply::json(
            400,
            json!({"error": {"message": why, "type": "test_refusal"}}),
            Duration::ZERO,
        )
    }

    /// Accept and never answer within any test's time (the client cancels or times out first).
    pub fn hold(for_: Duration) -> Reply {
        Reply::json(200, json!({}), for_)
    }

    pub fn sse(head_at: Duration, events: Vec<(Duration, String)>) -> Reply {
        Reply {
            status: 200,
            content_type: "text/event-stream".into(),
            extra_headers: vec![],
            head_at,
            chunked: true,
            parts: events
                .into_iter()
                .map(|(t, e)| (t, e.into_bytes()))
                .collect(),
        }
    }
}

pub struct Server {
    pub base_url: String,
    log: Arc<Mutex<Vec<Req>>>,
}

type Handler = dyn Fn(&Req) -> Reply + Send + Sync + 'static;

impl Server {
    /// Serve on 127.0.0.1 (an ephemeral port) until the test process ends. `handler` sees every request as received
    /// and scripts its reply; it must check what it relies on (path, key, model, stream flag) and refuse otherwise.
    pub fn start(handler: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let l2 = log.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (h, l) = (handler.clone(), l2.clone());
                std::thread::spawn(move || {
                    let _ = serve_conn(conn, &*h, &l);
                });
            }
        });
        Server { base_url, log }
    }

    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

/// Method, path, lower-case headers, body.
type RawRequest = (String, String, BTreeMap<String, String>, Vec<u8>);

fn read_request(s: &mut TcpStream) -> std::io::Result<Option<RawRequest>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut byte)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&byte[..n]);
        if buf.len() > 1 << 20 {
            return Ok(None);
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut byte)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&byte[..n]);
    }
    body.truncate(len);
    Ok(Some((method, path, headers, body)))
}

fn serve_conn(mut s: TcpStream, handler: &Handler, log: &Mutex<Vec<Req>>) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    // One request per connection (`connection: close`), so each request's instants are its own.
    let Some((method, path, headers, body)) = read_request(&mut s)? else {
        return Ok(());
    };
    let at = Instant::now();
    let req = {
        let mut l = log.lock().unwrap();
        let r = Req {
            method,
            path,
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            at,
            index: l.len(),
        };
        l.push(r.clone());
        r
    };
    let reply = handler(&req);
    sleep_until(at + reply.head_at);
    let mut head = format!(
        "HTTP/1.1 {} X\r\ncontent-type: {}\r\nconnection: close\r\n",
        reply.status, reply.content_type
    );
    for (k, v) in &reply.extra_headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if reply.chunked {
        head.push_str("transfer-encoding: chunked\r\n\r\n");
        s.write_all(head.as_bytes())?;
        s.flush()?;
        for (t, part) in &reply.parts {
            sleep_until(at + *t);
            let mut c = format!("{:x}\r\n", part.len()).into_bytes();
            c.extend_from_slice(part);
            c.extend_from_slice(b"\r\n");
            s.write_all(&c)?;
            s.flush()?;
        }
        s.write_all(b"0\r\n\r\n")?;
    } else {
        let body: Vec<u8> = reply.parts.iter().flat_map(|(_, p)| p.clone()).collect();
        if let Some((t, _)) = reply.parts.last() {
            sleep_until(at + *t);
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        s.write_all(head.as_bytes())?;
        s.write_all(&body)?;
    }
    s.flush()?;
    let _ = s.shutdown(std::net::Shutdown::Write);
    // Let the client read to the end before the socket closes.
    let mut sink = [0u8; 64];
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = s.read(&mut sink);
    Ok(())
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Wire shapes the scripted servers send
// ---------------------------------------------------------------------------------------------------------------

/// An OpenAI stream's plan: headers at `head_at`, a role-only chunk at the same instant, content chunk `i` at
/// `first_content + i * gap`, then the usage chunk and `[DONE]` 5 ms after the last content.
#[derive(Debug, Clone, Copy)]
pub struct StreamPlan {
    pub head_at: Duration,
    pub first_content: Duration,
    pub gap: Duration,
    pub contents: u32,
    pub prompt_tokens: u64,
}

impl StreamPlan {
    pub fn last_content(&self) -> Duration {
        self.first_content + self.gap * (self.contents - 1)
    }
    pub fn end(&self) -> Duration {
        self.last_content() + Duration::from_millis(5)
    }
}

pub fn openai_stream(p: &StreamPlan, model: &str) -> Reply {
    let chunk = |delta: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": null}], "usage": null})
        )
    };
    let mut ev = vec![(
        p.head_at,
        chunk(json!({"role": "assistant", "content": ""})),
    )];
    for i in 0..p.contents {
        ev.push((
            p.first_content + p.gap * i,
            chunk(json!({"content": format!("w{i} ")})),
        ));
    }
    let usage = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [],
        "usage": {"prompt_tokens": p.prompt_tokens, "completion_tokens": p.contents,
                  "total_tokens": p.prompt_tokens + p.contents as u64}});
    ev.push((p.end(), format!("data: {usage}\n\ndata: [DONE]\n\n")));
    Reply::sse(p.head_at, ev)
}

pub fn openai_json(
    model: &str,
    prompt_tokens: u64,
    completion_tokens: u64,
    after: Duration,
) -> Reply {
    Reply::json(
        200,
        json!({"id": "c1", "object": "chat.completion", "created": 1, "model": model,
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "Your order ships today."},
                            "finish_reason": "stop"}],
               "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                         "total_tokens": prompt_tokens + completion_tokens}}),
        after,
    )
}

/// Check an OpenAI chat request: path, key, model and stream flag. `None` when it is what the scenario asks for.
pub fn openai_problem(r: &Req, model: &str, stream: bool) -> Option<String> {
    if r.method != "POST" || r.path_only() != "/v1/chat/completions" {
        return Some(format!("unexpected {} {}", r.method, r.path));
    }
    if !r.authorized() {
        return Some("bad or missing Authorization".into());
    }
    if r.body["model"] != json!(model) {
        return Some(format!("model {} != {model}", r.body["model"]));
    }
    if r.body["stream"] != json!(stream) {
        return Some(format!("stream {} != {stream}", r.body["stream"]));
    }
    if stream && r.body["stream_options"]["include_usage"] != json!(true) {
        return Some("stream without include_usage".into());
    }
    None
}

pub fn coze_event(name: &str, data: Value) -> String {
    format!("event:{name}\ndata:{data}\n\n")
}

pub fn coze_envelope(data: Value) -> Value {
    json!({"code": 0, "msg": "", "data": data})
}

// ---------------------------------------------------------------------------------------------------------------
// Scenario writer
// ---------------------------------------------------------------------------------------------------------------

pub struct Target {
    pub name: String,
    pub role: &'static str,
    pub protocol: &'static str,
    pub base_url: String,
    /// Extra YAML lines of the target (already indented by 4 spaces), e.g. `coze:` settings or `pricing:`.
    pub extra: String,
}

impl Target {
    pub fn openai(name: &str, role: &'static str, base_url: &str) -> Target {
        Target {
            name: name.into(),
            role,
            protocol: "openai",
            base_url: base_url.into(),
            extra: String::new(),
        }
    }
    pub fn coze(name: &str, base_url: &str, bot: &str) -> Target {
        Target {
            name: name.into(),
            role: "legacy",
            protocol: "coze",
            base_url: base_url.into(),
            extra: format!("    coze:\n      bot_id: \"{bot}\"\n      poll_interval_ms: 20\n"),
        }
    }
}

/// A scenario with uniform arrivals: `rate` conversations per wall second for `window_s` seconds, i.e. arrivals at
/// 0, 1/rate, 2/rate, ... below `window_s` (choose `window_s` half a gap past the last arrival wanted).
pub struct Scn {
    pub targets: Vec<Target>,
    pub rate: f64,
    pub window_s: f64,
    pub turns: u32,
    pub think_s: f64,
    pub stream_share: f64,
    pub users: u64,
    pub model: String,
    /// (input, output) USD per million tokens of `model` in the price file the scenario points at.
    pub price: (f64, f64),
    /// Lines under `limits:` (each indented by 2 spaces).
    pub limits: String,
    pub retry: String,
    pub thresholds: Vec<String>,
    /// YAML of a `canary:` block, complete with its key.
    pub canary: String,
    pub max_tokens: Option<u32>,
    pub grace_s: f64,
    /// `traffic.closed.vus`: a closed run of this many virtual users per target (the rate is then unused).
    pub closed_vus: Option<u32>,
}

impl Scn {
    pub fn new(targets: Vec<Target>, rate: f64, window_s: f64) -> Scn {
        Scn {
            targets,
            rate,
            window_s,
            turns: 1,
            think_s: 0.0,
            stream_share: 0.0,
            users: 1000,
            model: "t8-model".into(),
            price: (1.0, 2.0),
            limits: String::new(),
            retry: "  max_retries: 0\n".into(),
            thresholds: vec![],
            canary: String::new(),
            max_tokens: None,
            grace_s: 2.0,
            closed_vus: None,
        }
    }

    /// Write `prices.yaml` and `scenario.yaml` into `dir`; returns the scenario's path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let prices = dir.join("prices.yaml");
        std::fs::write(
            &prices,
            format!(
                "currency: USD\nmodels:\n  {}:\n    input_per_mtok: {}\n    output_per_mtok: {}\n",
                self.model, self.price.0, self.price.1
            ),
        )
        .unwrap();
        let mut y = String::from("name: t8\nseed: 8\ntargets:\n");
        for t in &self.targets {
            y.push_str(&format!(
                "  - name: {}\n    role: {}\n    protocol: {}\n    base_url: {}\n    api_key_env: {KEY_ENV}\n{}",
                t.name, t.role, t.protocol, t.base_url, t.extra
            ));
        }
        y.push_str(&format!(
            "traffic:\n  conversations_per_day: {}\n  duration_s: {}\n  arrival: uniform\n  turns: [{{turns: {}, weight: 1.0}}]\n  think_time_s: {}\n  stream_share: {}\n  users: {}\n  models: [{{model: {}, weight: 1.0}}]\n  prompts: [\"where is my order\"]\n",
            self.rate * 86_400.0,
            self.window_s,
            self.turns,
            self.think_s,
            self.stream_share,
            self.users,
            self.model
        ));
        if let Some(m) = self.max_tokens {
            y.push_str(&format!("  max_tokens: {m}\n"));
        }
        if let Some(v) = self.closed_vus {
            y.push_str(&format!("  closed: {{vus: {v}}}\n"));
        }
        y.push_str(&format!(
            "limits:\n  request_timeout_s: 5\n  grace_s: {}\n  max_duration_s: 30\n{}",
            self.grace_s, self.limits
        ));
        y.push_str(&format!("retry:\n{}", self.retry));
        y.push_str(&format!("prices: {}\n", prices.display()));
        if !self.thresholds.is_empty() {
            y.push_str("thresholds:\n");
            for t in &self.thresholds {
                y.push_str(&format!("  - \"{t}\"\n"));
            }
        }
        y.push_str(&self.canary);
        let p = dir.join("scenario.yaml");
        std::fs::write(&p, y).unwrap();
        p
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The binary and its outputs
// ---------------------------------------------------------------------------------------------------------------

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn cutover(dir: &Path, args: &[&str]) -> Out {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env(KEY_ENV, KEY)
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `cutover run --quiet --allow-undecided --out <dir>/<out> <scenario>`; returns the output and the run directory
/// it wrote. These runs are seconds long, too short for a statistical decision: `--allow-undecided` keeps that at
/// exit 0 so the exit code speaks of thresholds and failures (a not_safe decision still exits 1).
pub fn run_scenario(dir: &Path, scenario: &Path, out: &str) -> (Out, PathBuf) {
    let root = dir.join(out);
    let o = cutover(
        dir,
        &[
            "run",
            "--quiet",
            "--allow-undecided",
            "--out",
            root.to_str().unwrap(),
            scenario.to_str().unwrap(),
        ],
    );
    let run_dir =
        only_dir(&root).unwrap_or_else(|| panic!("no run directory: {}{}", o.stdout, o.stderr));
    (o, run_dir)
}

pub fn only_dir(root: &Path) -> Option<PathBuf> {
    let dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert!(
        dirs.len() <= 1,
        "more than one run directory in {}",
        root.display()
    );
    dirs.into_iter().next()
}

/// A row of `requests.csv`, read by column name.
#[derive(Debug, Clone, Deserialize)]
pub struct Row {
    pub target: String,
    pub role: String,
    pub conversation: u64,
    pub user: u64,
    pub turn: u32,
    pub op: String,
    pub model: String,
    pub stream: bool,
    pub outcome: String,
    pub error_kind: String,
    pub not_sent_reason: String,
    pub status: Option<u16>,
    pub attempts: u32,
    pub scheduled_ms: f64,
    pub sent_ms: Option<f64>,
    pub ttfb_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub latency_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    pub from_scheduled_ms: Option<f64>,
    pub itl_ms: Option<f64>,
    pub chunks: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub tokens_estimated: bool,
    pub cost_nano_usd: u64,
    pub canary_phase: Option<u32>,
    pub detail: String,
}

pub fn rows(run_dir: &Path) -> Vec<Row> {
    let mut r = csv::Reader::from_path(run_dir.join("requests.csv")).unwrap();
    r.deserialize().map(|x| x.unwrap()).collect()
}

pub fn run_json(run_dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap()
}

/// run.json's accounting of one target: (scheduled, ok, errors, cancelled, not_sent).
pub fn accounting(run_dir: &Path, target: &str) -> (u64, u64, u64, u64, u64) {
    let v = run_json(run_dir);
    let a = v["accounting"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["target"] == json!(target))
        .unwrap_or_else(|| panic!("no accounting for {target}: {v}"))
        .clone();
    let n = |k: &str| a[k].as_u64().unwrap();
    (
        n("scheduled"),
        n("ok"),
        n("errors"),
        n("cancelled"),
        n("not_sent"),
    )
}

/// JUnit test cases of a file: (name, failed).
pub fn junit_cases(path: &Path) -> Vec<(String, bool)> {
    let x = std::fs::read_to_string(path).unwrap();
    x.split("<testcase ")
        .skip(1)
        .map(|c| {
            let name = c
                .split(" name=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let name = name
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&");
            (
                name,
                c.split("</testcase>").next().unwrap().contains("<failure"),
            )
        })
        .collect()
}

pub fn assert_near(what: &str, got: f64, want: f64, below: f64, above: f64) {
    assert!(
        got >= want - below && got <= want + above,
        "{what}: got {got}, want {want} (-{below}/+{above})"
    );
}
