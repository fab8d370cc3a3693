//! A loopback stand-in of the Anthropic Messages API, for running the real Claude Code in tests
//! (`ANTHROPIC_BASE_URL=http://127.0.0.1:PORT`). It speaks just enough HTTP/1.1 (keep-alive,
//! `Content-Length` or chunked bodies) and records every request, so tests can assert what
//! claude sent.
//!
//! - `POST /v1/messages` with tools is a turn of the conversation: it is answered with the next
//!   scripted `Reply` (streamed as server-sent events when asked, as claude does), each with a
//!   fresh `message.id` and the usage the test chose.
//! - `POST /v1/messages` without tools is a side request of claude's own (2.1.197 asks haiku for
//!   a session title with every prompt; quota checks send `max_tokens: 1`): a short text, with
//!   a usage of 1 in and 1 out, never taken from the script.
//! - What else claude asks (`HEAD /` at start, token counting, model listing) gets a minimal
//!   answer; anything unknown a 404, and a line on stderr, so new endpoints show up.
//!
//! It runs on a thread of its own, so a test that blocks never keeps claude waiting.

#![allow(dead_code)] // each user takes what it needs

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Token counts of one reply, as the API's `usage` spells them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_creation: u64,
    pub cache_read: u64,
}

impl Usage {
    pub fn new(input: u64, output: u64, cache_creation: u64, cache_read: u64) -> Usage {
        Usage {
            input,
            output,
            cache_creation,
            cache_read,
        }
    }

    /// What the model saw: input, cache creation and cache read.
    pub fn context(&self) -> u64 {
        self.input + self.cache_creation + self.cache_read
    }

    fn json(&self, output: u64) -> Value {
        json!({
            "input_tokens": self.input,
            "cache_creation_input_tokens": self.cache_creation,
            "cache_read_input_tokens": self.cache_read,
            "output_tokens": output,
        })
    }
}

/// What the model says in one reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text(String),
    /// A tool call: the tool's name and its input.
    Tool(String, Value),
}

/// One scripted reply of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub content: Content,
    pub usage: Usage,
}

impl Reply {
    pub fn text(text: &str, usage: Usage) -> Reply {
        Reply {
            content: Content::Text(text.to_owned()),
            usage,
        }
    }

    /// A Bash tool call running `command`.
    pub fn bash(command: &str, usage: Usage) -> Reply {
        let input = json!({ "command": command, "description": "Run a command for the test" });
        Reply::tool("Bash", input, usage)
    }

    /// A call of tool `name` with `input`.
    pub fn tool(name: &str, input: Value, usage: Usage) -> Reply {
        Reply {
            content: Content::Tool(name.to_owned(), input),
            usage,
        }
    }
}

/// What kind of request claude made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A turn of the conversation (`/v1/messages` with tools), answered from the script.
    Turn,
    /// `/v1/messages` without tools (title, quota check).
    Side,
    /// Any other endpoint.
    Other,
}

/// One request as received, and what it was answered with.
#[derive(Debug, Clone)]
pub struct Request {
    pub at: Instant,
    pub method: String,
    /// With its query (`/v1/messages?beta=true`).
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Null` when there is none or it is not JSON).
    pub body: Value,
    pub kind: Kind,
    /// For a turn: the scripted reply it got (`None`: the script had run out).
    pub reply: Option<Reply>,
    /// For a turn: the `message.id` of the reply, and of its tool call if any.
    pub message_id: String,
    pub tool_use_id: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The Claude Code session the request is of (its `X-Claude-Code-Session-Id`).
    pub fn session_id(&self) -> Option<&str> {
        self.header("x-claude-code-session-id")
    }

    /// The body's `messages`.
    pub fn messages(&self) -> &[Value] {
        self.body["messages"].as_array().map_or(&[], Vec::as_slice)
    }

    /// Every text block the user sent in this request's conversation, in order.
    pub fn user_texts(&self) -> Vec<String> {
        self.messages()
            .iter()
            .filter(|m| m["role"] == "user")
            .flat_map(blocks)
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str().map(str::to_owned))
            .collect()
    }

    /// The text blocks of the last user message (a prompt, beside claude's reminders).
    pub fn last_user_texts(&self) -> Vec<String> {
        let last = self.messages().iter().rfind(|m| m["role"] == "user");
        last.into_iter()
            .flat_map(blocks)
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str().map(str::to_owned))
            .collect()
    }

    /// Whether the last user message has a text block containing `s`.
    pub fn prompt_contains(&self, s: &str) -> bool {
        self.last_user_texts().iter().any(|t| t.contains(s))
    }

    /// The `tool_result` for the tool call `id` anywhere in the conversation: its content as
    /// text and whether it is an error.
    pub fn tool_result(&self, id: &str) -> Option<(String, bool)> {
        self.messages()
            .iter()
            .filter(|m| m["role"] == "user")
            .flat_map(blocks)
            .find(|b| b["type"] == "tool_result" && b["tool_use_id"] == id)
            .map(|b| {
                let text = match &b["content"] {
                    Value::String(s) => s.clone(),
                    Value::Array(parts) => parts
                        .iter()
                        .filter_map(|p| p["text"].as_str())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    other => other.to_string(),
                };
                (text, b["is_error"] == true)
            })
    }
}

/// The content blocks of a message (a plain string content is one text block).
fn blocks(m: &Value) -> Vec<Value> {
    match &m["content"] {
        Value::Array(b) => b.clone(),
        Value::String(s) => vec![json!({ "type": "text", "text": s })],
        _ => Vec::new(),
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    requests: Vec<Request>,
    answered: u64,
}

/// The running stand-in; stopped when dropped.
pub struct ClaudeApi {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    /// Ids are unique across stand-ins, so no two conversations share a `message.id`.
    prefix: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ClaudeApi {
    pub fn start() -> ClaudeApi {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let prefix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::spawn({
            let (state, prefix) = (state.clone(), prefix.clone());
            move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).unwrap();
                    let serve = async {
                        loop {
                            let Ok((conn, _)) = listener.accept().await else {
                                continue;
                            };
                            let (state, prefix) = (state.clone(), prefix.clone());
                            tokio::spawn(async move {
                                if let Err(e) = serve(conn, &state, &prefix).await {
                                    eprintln!("claude API stand-in: connection ended: {e}");
                                }
                            });
                        }
                    };
                    tokio::select! {
                        _ = serve => {}
                        _ = stopped => {}
                    }
                });
            }
        });
        ClaudeApi {
            addr,
            state,
            prefix,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// What `ANTHROPIC_BASE_URL` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues the model's next reply to a turn.
    pub fn push(&self, reply: Reply) {
        self.state.lock().unwrap().script.push_back(reply);
    }

    /// Scripted replies not asked for yet.
    pub fn pending(&self) -> usize {
        self.state.lock().unwrap().script.len()
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The turns so far (requests answered from the script), oldest first.
    pub fn turns(&self) -> Vec<Request> {
        let state = self.state.lock().unwrap();
        let turns = state.requests.iter().filter(|r| r.kind == Kind::Turn);
        turns.cloned().collect()
    }
}

impl Drop for ClaudeApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One connection: requests one after another until the client closes it.
async fn serve(conn: TcpStream, state: &Mutex<State>, prefix: &str) -> std::io::Result<()> {
    let (read, mut write) = conn.into_split();
    let mut read = BufReader::new(read);
    loop {
        let Some((method, path, headers)) = read_head(&mut read).await? else {
            return Ok(());
        };
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            read_chunked(&mut read).await?
        } else {
            let len: usize = header("content-length")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            read.read_exact(&mut body).await?;
            body
        };
        let close = header("connection").is_some_and(|v| v == "close");
        let request = Request {
            at: Instant::now(),
            method,
            path,
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            kind: Kind::Other,
            reply: None,
            message_id: String::new(),
            tool_use_id: String::new(),
        };
        let (status, content_type, out) = answer(request, state, prefix);
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
             request-id: req_{prefix}\r\n\r\n",
            out.len()
        );
        write.write_all(head.as_bytes()).await?;
        write.write_all(&out).await?;
        write.flush().await?;
        if close {
            return Ok(());
        }
    }
}

/// The request line and headers (names in lower case); `None` when the client closed.
async fn read_head<R: AsyncBufReadExt + Unpin>(
    read: &mut R,
) -> std::io::Result<Option<(String, String, Vec<(String, String)>)>> {
    let mut line = String::new();
    if read.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or_default().to_owned();
    let path = words.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let l = line.trim_end();
        if l.is_empty() {
            return Ok(Some((method, path, headers)));
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
}

/// A chunked body, decoded.
async fn read_chunked<R: AsyncBufReadExt + Unpin>(read: &mut R) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        read.read_line(&mut line).await?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let mut chunk = vec![0; size + 2]; // the chunk and its CRLF
        read.read_exact(&mut chunk).await?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// Records `request` and returns the status line, content type and body to answer with.
fn answer(mut request: Request, state: &Mutex<State>, prefix: &str) -> (String, String, Vec<u8>) {
    let path = request
        .path
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut state = state.lock().unwrap();
    let (status, content_type, out) = match (request.method.as_str(), path.as_str()) {
        ("POST", "/v1/messages") => {
            let has_tools = request.body["tools"]
                .as_array()
                .is_some_and(|t| !t.is_empty());
            state.answered += 1;
            let n = state.answered;
            request.message_id = format!("msg_{prefix}{n:04}");
            let reply = if has_tools {
                request.kind = Kind::Turn;
                request.reply = state.script.pop_front();
                request.reply.clone().unwrap_or_else(|| {
                    eprintln!("claude API stand-in: a turn with no scripted reply left");
                    Reply::text("(no scripted reply)", Usage::new(1, 1, 0, 0))
                })
            } else {
                request.kind = Kind::Side;
                Reply::text(&side_text(&request.body), Usage::new(1, 1, 0, 0))
            };
            if let Content::Tool(..) = reply.content {
                request.tool_use_id = format!("toolu_{prefix}{n:04}");
            }
            let model = request.body["model"]
                .as_str()
                .unwrap_or("claude")
                .to_owned();
            let message = Message {
                id: &request.message_id,
                tool_use_id: &request.tool_use_id,
                model: &model,
                reply: &reply,
            };
            if request.body["stream"] == true {
                ok("text/event-stream", message.events().into_bytes())
            } else {
                ok("application/json", message.whole().to_string().into_bytes())
            }
        }
        ("POST", "/v1/messages/count_tokens") => {
            ok("application/json", br#"{"input_tokens":1}"#.to_vec())
        }
        ("GET", "/v1/models") => ok(
            "application/json",
            br#"{"data":[],"has_more":false,"first_id":null,"last_id":null}"#.to_vec(),
        ),
        // A reachability check of 2.1.197 at start.
        ("HEAD" | "GET", "/") => ok("text/plain", Vec::new()),
        _ => {
            eprintln!(
                "claude API stand-in: unanswered {} {}",
                request.method, request.path
            );
            let error = json!({
                "type": "error",
                "error": { "type": "not_found_error", "message": "not in the stand-in" },
            });
            (
                "404 Not Found".to_owned(),
                "application/json".to_owned(),
                error.to_string().into_bytes(),
            )
        }
    };
    state.requests.push(request);
    (status, content_type, out)
}

fn ok(content_type: &str, body: Vec<u8>) -> (String, String, Vec<u8>) {
    ("200 OK".to_owned(), content_type.to_owned(), body)
}

/// The answer to a side request: a title when a JSON title is asked for, else a word.
fn side_text(body: &Value) -> String {
    let schema = &body["output_config"]["format"]["schema"]["properties"];
    if schema.get("title").is_some() {
        json!({ "title": "Real claude test" }).to_string()
    } else {
        "OK".to_owned()
    }
}

/// One reply as the API sends it.
struct Message<'a> {
    id: &'a str,
    tool_use_id: &'a str,
    model: &'a str,
    reply: &'a Reply,
}

impl Message<'_> {
    fn stop_reason(&self) -> &'static str {
        match self.reply.content {
            Content::Text(_) => "end_turn",
            Content::Tool(..) => "tool_use",
        }
    }

    /// The content block, complete (`input` filled in).
    fn block(&self) -> Value {
        match &self.reply.content {
            Content::Text(t) => json!({ "type": "text", "text": t }),
            Content::Tool(name, input) => json!({
                "type": "tool_use", "id": self.tool_use_id, "name": name, "input": input,
            }),
        }
    }

    /// The non-streamed answer.
    fn whole(&self) -> Value {
        json!({
            "id": self.id, "type": "message", "role": "assistant", "model": self.model,
            "content": [self.block()], "stop_reason": self.stop_reason(), "stop_sequence": null,
            "usage": self.reply.usage.json(self.reply.usage.output),
        })
    }

    /// The streamed answer: `message_start` (usage with 1 output token so far, as the API
    /// does), one content block started, filled and stopped, `message_delta` with the final
    /// usage and stop reason, `message_stop`.
    fn events(&self) -> String {
        let usage = self.reply.usage;
        let (start, delta) = match &self.reply.content {
            Content::Text(t) => (
                json!({ "type": "text", "text": "" }),
                json!({ "type": "text_delta", "text": t }),
            ),
            Content::Tool(name, input) => (
                json!({ "type": "tool_use", "id": self.tool_use_id, "name": name, "input": {} }),
                json!({ "type": "input_json_delta", "partial_json": input.to_string() }),
            ),
        };
        let events = [
            json!({ "type": "message_start", "message": {
                "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": usage.json(1),
            }}),
            json!({ "type": "content_block_start", "index": 0, "content_block": start }),
            json!({ "type": "content_block_delta", "index": 0, "delta": delta }),
            json!({ "type": "content_block_stop", "index": 0 }),
            json!({ "type": "message_delta",
                "delta": { "stop_reason": self.stop_reason(), "stop_sequence": null },
                "usage": usage.json(usage.output),
            }),
            json!({ "type": "message_stop" }),
        ];
        events
            .iter()
            .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
            .collect()
    }
}
