//! `SmtpSink`: a small real SMTP server on 127.0.0.1 inside the test process.
//! The server under test delivers to it over TCP (lettre, plain `smtp://`, no
//! TLS, no AUTH); tests read back what arrived, with the subject and the
//! text/HTML parts decoded. `set_stall` and `set_reject` simulate a relay that
//! dies mid-send or refuses for now, `set_hold` a slow relay that stops
//! reading in the middle of a message until released; `set_hang_up` a relay
//! that is down (every connection closed at once) while the port stays
//! ours: a stopped sink's port could be taken by another test's listener
//! before `start_on` binds it again.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep};

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    stall: AtomicBool,
    reject: AtomicBool,
    stalled: AtomicUsize,
    hold: AtomicBool,
    held: AtomicUsize,
    hang_up: AtomicBool,
}

/// An SMTP server that records every message it accepts; dropping it (or
/// `stop`) closes the listener and every connection.
pub struct SmtpSink {
    state: Arc<State>,
    port: u16,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// One accepted message: the envelope, the raw message and its decoded parts
/// (line breaks in `text` and `html` are `\n`).
#[derive(Clone, Debug)]
pub struct Received {
    /// The envelope sender (MAIL FROM).
    pub from: String,
    /// The envelope recipients (RCPT TO), as sent.
    pub to: Vec<String>,
    /// Headers and body as transmitted, dot-stuffing undone.
    pub raw: String,
    /// The Subject header, RFC 2047 encoded-words decoded.
    pub subject: String,
    /// The Message-ID header, angle brackets included.
    pub message_id: String,
    /// The text/plain part (or the whole body of a single-part message).
    pub text: String,
    /// The text/html part, empty if none.
    pub html: String,
}

impl SmtpSink {
    /// Binds 127.0.0.1:0 and serves until dropped/stopped.
    pub async fn start() -> SmtpSink {
        Self::start_on(0).await
    }

    /// Binds a given port (to bring a sink back up on the port a server is
    /// configured with), retrying for up to 5 s while the port is busy.
    pub async fn start_on(port: u16) -> SmtpSink {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(listener) => break listener,
                Err(_) if Instant::now() < deadline => sleep(Duration::from_millis(50)).await,
                Err(e) => panic!("SMTP sink cannot bind 127.0.0.1:{port}: {e}"),
            }
        };
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let (stop, mut stopped) = oneshot::channel::<()>();
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    // A stop signal, or the sink was dropped.
                    _ = &mut stopped => break,
                    Ok((stream, _)) = listener.accept() => {
                        connections.spawn(serve(stream, shared.clone()));
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
            drop(listener);
            connections.shutdown().await;
        });
        SmtpSink { state, port, stop, task }
    }

    /// While `on`, every connection is closed before the greeting: sends
    /// fail as against a relay that is down, and the port stays bound.
    pub fn set_hang_up(&self, on: bool) {
        self.state.hang_up.store(on, SeqCst);
    }

    /// The port the sink listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// "smtp://127.0.0.1:PORT"
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// All messages fully received so far (in order).
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits (polling every 20 ms, up to 15 s, then panics listing what was
    /// received) for a message to `to` (any RCPT, case-insensitive) whose
    /// subject contains `subject_part`; returns the latest such message.
    pub async fn wait_for(&self, to: &str, subject_part: &str) -> Received {
        self.wait_for_nth(to, subject_part, 1).await
    }

    /// Like [`SmtpSink::wait_for`], but waits until at least `n` matching
    /// messages arrived, and returns the newest (for a link sent again).
    pub async fn wait_for_nth(&self, to: &str, subject_part: &str, n: usize) -> Received {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let received = self.received();
            let matching: Vec<&Received> =
                received.iter().filter(|m| is_to(m, to) && m.subject.contains(subject_part)).collect();
            if matching.len() >= n {
                return matching[matching.len() - 1].clone();
            }
            if Instant::now() >= deadline {
                let seen: Vec<_> = received.iter().map(|m| format!("to {:?}: {:?}", m.to, m.subject)).collect();
                panic!(
                    "no {n} mails to {to} with subject containing {subject_part:?} within 15 s; received: {seen:#?}"
                );
            }
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Number of messages received to `to` (case-insensitive).
    pub fn count_to(&self, to: &str) -> usize {
        self.state.received.lock().unwrap().iter().filter(|m| is_to(m, to)).count()
    }

    /// When on, the sink never answers the end of DATA (it holds the
    /// connection, like a relay dying mid-send) and does not record the message.
    pub fn set_stall(&self, on: bool) {
        self.state.stall.store(on, SeqCst);
    }

    /// How many DATA bodies were swallowed by `set_stall(true)`.
    pub fn stalled_count(&self) -> usize {
        self.state.stalled.load(SeqCst)
    }

    /// When on, the sink stops reading each message after its headers (in
    /// the middle of DATA) until `set_hold(false)`; then it reads the rest,
    /// accepts and records it as usual. A slow relay, or, if the client
    /// dies meanwhile, a send that never completes.
    pub fn set_hold(&self, on: bool) {
        self.state.hold.store(on, SeqCst);
    }

    /// How many messages are being (or were) held in the middle by `set_hold(true)`.
    pub fn held_count(&self) -> usize {
        self.state.held.load(SeqCst)
    }

    /// When on, MAIL FROM gets "451 4.3.0 try again later" (a temporary failure).
    pub fn set_reject(&self, on: bool) {
        self.state.reject.store(on, SeqCst);
    }

    /// Stops listening and closes every open connection; the port is free afterwards.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// The first absolute URL in `mail.text` starting with `prefix`; panics if none.
/// URLs end at whitespace, '>', ')' or '"'.
pub fn link(mail: &Received, prefix: &str) -> String {
    let Some(start) = mail.text.find(prefix) else {
        panic!("no link starting with {prefix:?} in mail text:\n{}", mail.text);
    };
    let rest = &mail.text[start..];
    let end = rest.find(|c: char| c.is_whitespace() || matches!(c, '>' | ')' | '"')).unwrap_or(rest.len());
    rest[..end].to_string()
}

fn is_to(mail: &Received, to: &str) -> bool {
    mail.to.iter().any(|r| r.eq_ignore_ascii_case(to))
}

/// One SMTP session.
async fn serve(stream: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    if state.hang_up.load(SeqCst) {
        return Ok(());
    }
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let (mut from, mut to, mut line) = (String::new(), Vec::new(), Vec::new());
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_string();
        let verb = command.split(' ').next().unwrap_or_default().to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => "250-sink\r\n250 8BITMIME",
            "HELO" => "250 sink",
            "MAIL" if state.reject.load(SeqCst) => "451 4.3.0 try again later",
            "MAIL" => {
                (from, to) = (address(&command), Vec::new());
                "250 2.1.0 ok"
            }
            "RCPT" => {
                to.push(address(&command));
                "250 2.1.5 ok"
            }
            "DATA" => {
                write.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n").await?;
                let raw = read_data(&mut reader, &state).await?;
                if state.stall.load(SeqCst) {
                    state.stalled.fetch_add(1, SeqCst);
                    // Hold the connection without answering until the client leaves.
                    tokio::io::copy(&mut reader, &mut tokio::io::sink()).await?;
                    return Ok(());
                }
                let mail = parse(from.clone(), std::mem::take(&mut to), raw);
                state.received.lock().unwrap().push(mail);
                "250 2.0.0 queued"
            }
            "RSET" => {
                (from, to) = (String::new(), Vec::new());
                "250 2.0.0 ok"
            }
            "NOOP" => "250 2.0.0 ok",
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 command not recognized",
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

/// The address between the angle brackets of `MAIL FROM:<a> PARAMS`.
fn address(command: &str) -> String {
    command.split_once('<').and_then(|(_, rest)| rest.split_once('>')).map(|(a, _)| a.to_string()).unwrap_or_default()
}

/// The DATA content up to the lone "." line, dot-stuffing undone; the CRLF
/// before the "." belongs to the terminator. Under `set_hold(true)` it stops
/// reading after the headers until the hold is released.
async fn read_data(reader: &mut BufReader<OwnedReadHalf>, state: &State) -> std::io::Result<String> {
    let (mut raw, mut line, mut in_headers) = (Vec::new(), Vec::new(), true);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            let raw = String::from_utf8_lossy(&raw).into_owned();
            return Ok(raw.strip_suffix("\r\n").map(str::to_string).unwrap_or(raw));
        }
        if in_headers && (line == b"\r\n" || line == b"\n") {
            in_headers = false;
            if state.hold.load(SeqCst) {
                state.held.fetch_add(1, SeqCst);
                while state.hold.load(SeqCst) {
                    sleep(Duration::from_millis(20)).await;
                }
            }
        }
        raw.extend_from_slice(if line.starts_with(b"..") { &line[1..] } else { &line });
    }
}

type Headers = Vec<(String, String)>;

fn parse(from: String, to: Vec<String>, raw: String) -> Received {
    let (headers, body) = split_headers(&raw);
    let (mut text, mut html) = (String::new(), String::new());
    collect(&headers, body, &mut text, &mut html);
    let subject = decode_words(header(&headers, "subject"));
    let message_id = header(&headers, "message-id").to_string();
    Received { from, to, subject, message_id, text, html, raw }
}

/// Unfolded headers (lowercase names) and the body after the blank line.
fn split_headers(entity: &str) -> (Headers, &str) {
    let (head, body) = match entity.strip_prefix("\r\n") {
        Some(body) => ("", body),
        None => entity.split_once("\r\n\r\n").unwrap_or((entity, "")),
    };
    let mut headers: Headers = Vec::new();
    for line in head.split("\r\n") {
        match headers.last_mut() {
            Some((_, value)) if line.starts_with([' ', '\t']) => value.push_str(line),
            _ => headers.extend(line.split_once(':').map(|(n, v)| (n.trim().to_ascii_lowercase(), v.to_string()))),
        }
    }
    (headers, body)
}

fn header<'a>(headers: &'a Headers, name: &str) -> &'a str {
    headers.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.trim())
}

/// Fills `text`/`html` from a (possibly nested multipart) MIME entity.
fn collect(headers: &Headers, body: &str, text: &mut String, html: &mut String) {
    let content_type = header(headers, "content-type");
    let kind = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find_map(|(k, v)| k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim().trim_matches('"').to_string()));
    match boundary {
        Some(boundary) if kind.starts_with("multipart/") => {
            let (padded, delimiter) = (format!("\r\n{body}"), format!("\r\n--{boundary}"));
            let parts = padded.split(delimiter.as_str()).skip(1).take_while(|p| !p.starts_with("--"));
            for part in parts {
                let (part_headers, part_body) = split_headers(part.split_once("\r\n").map_or("", |(_, p)| p));
                collect(&part_headers, part_body, text, html);
            }
        }
        _ if kind == "text/html" => *html = decode_body(header(headers, "content-transfer-encoding"), body),
        _ if kind.is_empty() || kind == "text/plain" => {
            *text = decode_body(header(headers, "content-transfer-encoding"), body);
        }
        _ => {}
    }
}

fn decode_body(encoding: &str, body: &str) -> String {
    let bytes = match encoding.to_ascii_lowercase().as_str() {
        "base64" => STANDARD.decode(body.replace(|c: char| c.is_ascii_whitespace(), "")).unwrap_or_default(),
        "quoted-printable" => quoted_printable(body),
        _ => body.as_bytes().to_vec(),
    };
    String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
}

/// Soft line breaks ("=" at the end of a line) removed, "=XX" decoded.
fn quoted_printable(s: &str) -> Vec<u8> {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let (bytes, mut out, mut i) = (s.as_bytes(), Vec::new(), 0);
    while i < bytes.len() {
        let hex = s.get(i + 1..i + 3).filter(|h| bytes[i] == b'=' && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if let Some(hex) = hex {
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// RFC 2047: decodes `=?charset?b|q?...?=` words (as UTF-8), dropping the
/// whitespace between adjacent encoded words.
fn decode_words(value: &str) -> String {
    let (mut out, mut last_encoded) = (String::new(), false);
    for (i, token) in value.split([' ', '\t']).enumerate() {
        let decoded = encoded_word(token);
        if i > 0 && !(last_encoded && decoded.is_some()) {
            out.push(' ');
        }
        out.push_str(decoded.as_deref().unwrap_or(token));
        last_encoded = decoded.is_some();
    }
    out
}

fn encoded_word(token: &str) -> Option<String> {
    let mut fields = token.strip_prefix("=?")?.strip_suffix("?=")?.splitn(3, '?');
    let (_charset, encoding, data) = (fields.next()?, fields.next()?, fields.next()?);
    let bytes = match encoding {
        "b" | "B" => STANDARD.decode(data).ok()?,
        "q" | "Q" => quoted_printable(&data.replace('_', " ")),
        _ => return None,
    };
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn mailer(port: u16) -> lettre::AsyncSmtpTransport<lettre::Tokio1Executor> {
    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1").port(port).build()
}

fn message(subject: &str, text: &str, html: &str) -> lettre::Message {
    let parts = lettre::message::MultiPart::alternative_plain_html(text.to_string(), html.to_string());
    let builder = lettre::Message::builder().from("Gatehouse <noreply@gatehouse.test>".parse().unwrap());
    let builder = builder.to("Alice <Alice@Example.test>".parse().unwrap()).subject(subject);
    builder.message_id(Some("<abc@test>".into())).multipart(parts).unwrap()
}

#[tokio::test]
async fn sink_receives_a_message_from_lettre() {
    use lettre::AsyncTransport;
    let sink = SmtpSink::start().await;
    let subject = "Grüße: bitte bestätigen Sie Ihre E-Mail-Adresse für Gatehouse, jetzt gleich, sofort";
    let text = format!(
        "Hallo Jürgen,\n.a line starting with a dot\n{}\nhttp://127.0.0.1:1234/register/confirm?token=a-b&x=1 (soon)\n",
        "long line ".repeat(12)
    );
    let html = "<p>Hallo</p>\n.<p>dot</p>\n<a href=\"http://127.0.0.1:1234/register/confirm?token=a-b\">go</a>";
    mailer(sink.port()).send(message(subject, &text, html)).await.unwrap();

    let mail = sink.wait_for("alice@example.TEST", "Grüße").await;
    assert_eq!((mail.subject.as_str(), mail.message_id.as_str()), (subject, "<abc@test>"));
    assert_eq!((mail.text.as_str(), mail.html.as_str()), (text.as_str(), html));
    assert_eq!(mail.from, "noreply@gatehouse.test");
    assert_eq!(mail.to.len(), 1);
    assert!(mail.raw.contains("=\r\n") && mail.raw.contains("\r\n.<p>dot"), "{}", mail.raw);
    let confirm = link(&mail, "http://127.0.0.1:1234/register/confirm?");
    assert_eq!(confirm, "http://127.0.0.1:1234/register/confirm?token=a-b&x=1");
    assert_eq!((sink.count_to("ALICE@example.test"), sink.received().len()), (1, 1));
    assert_eq!(sink.url(), format!("smtp://127.0.0.1:{}", sink.port()));
}

#[tokio::test]
async fn sink_rejects_stalls_stops_and_comes_back() {
    use lettre::AsyncTransport;
    let sink = SmtpSink::start().await;
    let port = sink.port();
    sink.set_reject(true);
    let err = mailer(port).send(message("rejected", "t", "h")).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    sink.set_reject(false);

    sink.set_stall(true);
    // lettre's own timeout covers only the TCP connect: a stalled relay hangs a send.
    let stalled = mailer(port);
    let stalled = tokio::time::timeout(Duration::from_secs(2), stalled.send(message("stalled", "t", "h"))).await;
    assert!(stalled.is_err(), "the send should hang");
    assert_eq!((sink.stalled_count(), sink.count_to("alice@example.test")), (1, 0));
    sink.set_stall(false);

    // A held message waits in the middle of DATA, then goes through when released.
    sink.set_hold(true);
    let held_mailer = mailer(port);
    let held = tokio::spawn(async move { held_mailer.send(message("held", "t", "h")).await });
    let deadline = Instant::now() + Duration::from_secs(5);
    while sink.held_count() == 0 && Instant::now() < deadline {
        sleep(Duration::from_millis(10)).await;
    }
    assert_eq!((sink.held_count(), sink.count_to("alice@example.test")), (1, 0));
    sink.set_hold(false);
    held.await.unwrap().unwrap();
    assert_eq!(sink.wait_for("alice@example.test", "held").await.text, "t");

    sink.stop().await;
    assert!(mailer(port).send(message("down", "t", "h")).await.is_err());
    let sink = SmtpSink::start_on(port).await;
    assert_eq!(sink.port(), port);
    mailer(port).send(message("back up", "t", "h")).await.unwrap();
    assert_eq!(sink.wait_for("alice@example.test", "back up").await.text, "t");
}
