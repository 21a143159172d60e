//! CWE-400 (uncontrolled resource consumption): half-sent requests and idle
//! connections cannot use up the server's sockets (issue 14 item 5).
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{PASSWORD, TestApp, spawn_app_with};

const HALF_SENT: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n";

fn server_addr(app: &TestApp) -> SocketAddr {
    app.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection from `from` (any 127.x.y.z is loopback on Linux).
async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// `n` connections from `from`, each with `head` sent and nothing more.
async fn open_from(from: Ipv4Addr, to: SocketAddr, n: usize, head: &[u8]) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = connect_from(from, to).await;
        s.write_all(head).await.unwrap();
        held.push(s);
    }
    held
}

/// `/health/live` over a new connection from `from` answers 200.
async fn assert_live_from(from: Ipv4Addr, to: SocketAddr) {
    let mut s = connect_from(from, to).await;
    s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
}

/// Whether the server closed the connection within `wait` (EOF or reset).
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // a response (e.g. 408) before the close
        }
    }
}

/// The soft limit on open files of this process (both ends of every test
/// connection live here).
fn open_file_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(1024)
}

#[tokio::test]
async fn health_and_sign_in_answer_while_thousands_of_half_sent_requests_are_open_cwe_400() {
    let app = spawn_app_with(|c| {
        c.http.max_connections_per_address = 1_000;
        c.http.header_read_timeout_secs = 60;
    })
    .await;
    app.create_user("sam", &[]).await;
    let to = server_addr(&app);
    // Two descriptors per connection (client and server side), plus headroom.
    let count = 3_000.min(open_file_limit().saturating_sub(500) / 2);
    assert!(count >= 1_000, "raise `ulimit -n` to run this test (have {})", open_file_limit());
    let mut idle = Vec::with_capacity(count);
    for i in 0..count {
        // 1,000 per address from 127.0.0.2, 127.0.0.3, ...: under the cap.
        let from = Ipv4Addr::new(127, 0, 0, 2 + (i / 1_000) as u8);
        let mut s = connect_from(from, to).await;
        s.write_all(HALF_SENT).await.unwrap();
        idle.push(s);
    }

    let live = reqwest::get(app.url("/health/live")).await.unwrap();
    assert_eq!(live.status(), 200);
    let res = app.login(&app.browser(), "sam", PASSWORD).await;
    assert_eq!(res.status(), 303, "sign-in keeps working");
    // The idle ones are still held (the header timeout is long here), so the
    // answers above came while they were open.
    assert!(!closed_within(idle.last_mut().unwrap(), Duration::from_millis(100)).await);
}

#[tokio::test]
async fn with_defaults_one_address_holding_thousands_of_half_sent_requests_still_gets_answers_cwe_400() {
    // The default limits; every connection from 127.0.0.1, like the answers.
    let app = spawn_app_with(|_| {}).await;
    app.create_user("sue", &[]).await;
    let to = server_addr(&app);
    let count = 2_000.min(open_file_limit().saturating_sub(500) / 2);
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        let mut s = TcpStream::connect(to).await.unwrap();
        s.write_all(HALF_SENT).await.unwrap();
        idle.push(s);
    }
    let live = reqwest::get(app.url("/health/live")).await.unwrap();
    assert_eq!(live.status(), 200);
    let res = app.login(&app.browser(), "sue", PASSWORD).await;
    assert_eq!(res.status(), 303, "sign-in keeps working");
    // Most of the half-sent ones were closed to make room: at most the cap is open.
    let mut open = 0;
    for s in idle.iter_mut().rev().take(300) {
        if !closed_within(s, Duration::from_millis(5)).await {
            open += 1;
        }
    }
    assert!(open <= 256, "{open} of the newest 300 still open");
}

#[tokio::test]
async fn half_sent_request_is_closed_after_the_header_read_timeout_cwe_400() {
    let app = spawn_app_with(|c| c.http.header_read_timeout_secs = 1).await;
    let mut s = TcpStream::connect(server_addr(&app)).await.unwrap();
    s.write_all(HALF_SENT).await.unwrap();
    let started = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(5)).await, "still open after 5 s");
    assert!(started.elapsed() >= Duration::from_millis(500), "closed before the timeout");
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_keep_alive_idle_secs_cwe_400() {
    let app = spawn_app_with(|c| {
        c.http.header_read_timeout_secs = 60;
        c.http.keep_alive_idle_secs = 1;
    })
    .await;
    let mut s = TcpStream::connect(server_addr(&app)).await.unwrap();
    s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    assert!(closed_within(&mut s, Duration::from_secs(5)).await, "idle keep-alive connection stayed open");
}

#[tokio::test]
async fn at_the_per_address_cap_the_oldest_idle_connection_makes_room_cwe_400() {
    let app = spawn_app_with(|c| {
        c.http.max_connections_per_address = 5;
        c.http.header_read_timeout_secs = 60;
    })
    .await;
    let to = server_addr(&app);
    let crowd = Ipv4Addr::new(127, 0, 0, 2);
    let mut held = open_from(crowd, to, 5, HALF_SENT).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A sixth from the same address (another user behind the same NAT) is
    // served; the oldest half-sent one gave up its place.
    assert_live_from(crowd, to).await;
    assert!(closed_within(&mut held[0], Duration::from_secs(5)).await, "the oldest idle one was closed");
    assert!(!closed_within(&mut held[4], Duration::from_millis(100)).await, "the others stay open");
}

#[tokio::test]
async fn at_the_per_address_cap_with_every_connection_busy_the_next_is_refused_cwe_400() {
    let app = spawn_app_with(|c| {
        c.http.max_connections_per_address = 3;
        c.http.request_timeout_secs = 60;
    })
    .await;
    let to = server_addr(&app);
    let crowd = Ipv4Addr::new(127, 0, 0, 5);
    // Three requests in flight: heads sent, bodies still coming.
    let head = "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nuser";
    let mut busy = open_from(crowd, to, 3, head.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut fourth = connect_from(crowd, to).await;
    assert!(closed_within(&mut fourth, Duration::from_secs(5)).await, "no idle connection to make room");
    // Another address still gets in.
    assert_live_from(Ipv4Addr::new(127, 0, 0, 6), to).await;
    assert!(!closed_within(&mut busy[0], Duration::from_millis(100)).await, "busy connections are kept");
}

#[tokio::test]
async fn at_the_total_cap_the_busiest_addresss_oldest_idle_connection_makes_room_cwe_400() {
    let app = spawn_app_with(|c| {
        c.http.max_connections = 6;
        c.http.header_read_timeout_secs = 60;
    })
    .await;
    let to = server_addr(&app);
    let mut heavy = open_from(Ipv4Addr::new(127, 0, 0, 7), to, 4, HALF_SENT).await;
    let mut light = open_from(Ipv4Addr::new(127, 0, 0, 8), to, 2, HALF_SENT).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_live_from(Ipv4Addr::new(127, 0, 0, 9), to).await;
    assert!(closed_within(&mut heavy[0], Duration::from_secs(5)).await, "the busiest address paid");
    assert!(!closed_within(&mut light[0], Duration::from_millis(100)).await, "the lighter one did not");
}

#[tokio::test]
async fn a_request_in_flight_at_shutdown_still_gets_its_answer() {
    let app = crate::helpers::spawn_app().await;
    let to = server_addr(&app);
    let mut s = TcpStream::connect(to).await.unwrap();
    let body = b"username=sam&password=x";
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body[..5]).await.unwrap();
    // Let the server read the head: the request is now in flight.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!stopping.is_finished(), "shutdown waits for the request in flight");
    s.write_all(&body[5..]).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer)).await;
    assert!(answer.starts_with(b"HTTP/1.1 "), "{}", String::from_utf8_lossy(&answer));
    tokio::time::timeout(Duration::from_secs(10), stopping).await.unwrap().unwrap();
    assert!(TcpStream::connect(to).await.is_err(), "no longer accepting");
}
