//! `/api/v1/audit…`: filters, cursor paging (newest first, no repeats or
//! gaps), the chain's verification state, and the export in both formats.
use serde_json::{Value, json};

use super::support::{Api, admin_token, problem};
use crate::helpers::spawn_app;

/// Creates `n` clients through the API (each one a `client_created` event by `svc-admin`).
async fn clients(api: &Api<'_>, n: usize) {
    for i in 0..n {
        let body = json!({"client_id": format!("a{i}"), "name": "A", "grant_types": ["client_credentials"]});
        assert_eq!(api.post("/api/v1/clients", &body).await.status(), 201);
    }
}

/// Every item of every page of `path` (which has a query already).
async fn all_pages(api: &Api<'_>, path: &str) -> Vec<Value> {
    let (mut items, mut cursor) = (Vec::new(), String::new());
    loop {
        let res = api.get(&format!("{path}&cursor={cursor}")).await;
        assert_eq!(res.status(), 200, "{path}");
        let page: Value = res.json().await.unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return items,
        }
    }
}

/// RFC 4180 records: quoted fields may hold commas, quotes and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    records
}

#[tokio::test]
async fn audit_filters_page_newest_first_without_repeats_or_gaps() {
    let app = spawn_app().await;
    let api = Api::new(&app, admin_token(&app).await);
    clients(&api, 5).await;

    let events = all_pages(&api, "/api/v1/audit?action=client_created&limit=2").await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs.len(), 6, "five through the API and svc-admin's fixture: {events:#?}");
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats: {seqs:?}");
    let targets: Vec<&str> = events.iter().take(5).map(|e| e["target"].as_str().unwrap()).collect();
    assert_eq!(targets, ["a4", "a3", "a2", "a1", "a0"]);
    assert!(events.iter().take(5).all(|e| e["via"] == "api" && e["actor"] == "svc-admin"));
    assert!(events[0]["at"].as_str().unwrap().ends_with('Z'));

    // Every event is reached by paging through the unfiltered log as well.
    let everything = all_pages(&api, "/api/v1/audit?limit=7").await;
    let all: Vec<i64> = everything.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let top = all[0];
    assert!(all.iter().enumerate().all(|(i, s)| *s == top - i as i64), "no gaps: {all:?}");

    let by_target = all_pages(&api, "/api/v1/audit?target=a2&limit=50").await;
    assert!(!by_target.is_empty() && by_target.iter().all(|e| e["target"] == "a2"));
    let by_actor = all_pages(&api, "/api/v1/audit?actor=svc-admin&limit=50").await;
    assert!(by_actor.iter().all(|e| e["actor"] == "svc-admin") && by_actor.len() >= 5);
    let calls = all_pages(&api, "/api/v1/audit?action=api_call&actor=svc-admin&limit=50").await;
    assert!(calls.iter().all(|e| e["action"] == "api_call" && e["detail"]["via"] == "api"));
    let late = all_pages(&api, "/api/v1/audit?since=2100-01-01T00:00:00Z&limit=50").await;
    assert!(late.is_empty());
    let early = all_pages(&api, "/api/v1/audit?until=2000-01-01T00:00:00Z&limit=50").await;
    assert!(early.is_empty());
    let window = all_pages(&api, "/api/v1/audit?since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z&limit=200").await;
    let window: Vec<i64> = window.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(all.iter().all(|s| window.contains(s)), "every event is inside the window");
}

#[tokio::test]
async fn audit_refuses_unknown_actions_bad_times_and_unknown_parameters() {
    let app = spawn_app().await;
    let api = Api::new(&app, admin_token(&app).await);
    let p = problem(api.get("/api/v1/audit?action=made_up").await, 422).await;
    assert_eq!(p["errors"][0]["field"], "action");
    let p = problem(api.get("/api/v1/audit?since=yesterday").await, 422).await;
    assert_eq!(p["errors"][0]["field"], "since");
    let p = problem(api.get("/api/v1/audit?colour=red").await, 422).await;
    assert_eq!(p["errors"][0]["field"], "colour");
    let p = problem(api.get("/api/v1/audit/export?format=xml").await, 422).await;
    assert_eq!(p["errors"][0]["field"], "format");
    problem(reqwest::get(app.url("/api/v1/audit/verify")).await.unwrap(), 401).await;
}

#[tokio::test]
async fn verify_reports_an_intact_chain() {
    let app = spawn_app().await;
    let api = Api::new(&app, admin_token(&app).await);
    clients(&api, 2).await;
    let body: Value = api.get("/api/v1/audit/verify").await.json().await.unwrap();
    assert_eq!(body["ok"], true, "{body}");
    assert!(body["rows_checked"].as_u64().unwrap() >= 4);
    assert!(body["first_bad"].is_null());
}

#[tokio::test]
async fn export_gives_json_lines_and_rfc_4180_csv_that_parse_back() {
    let app = spawn_app().await;
    let api = Api::new(&app, admin_token(&app).await);
    clients(&api, 3).await;

    let res = api.get("/api/v1/audit/export?format=jsonl&action=client_created").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let text = res.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let targets: Vec<&str> = lines.iter().map(|l| l["target"].as_str().unwrap()).collect();
    assert_eq!(targets, ["svc-admin", "a0", "a1", "a2"], "oldest first");
    assert!(lines.iter().all(|l| l.get("hash").is_none() && l.get("prev_hash").is_none()));

    let res = api.get("/api/v1/audit/export?format=csv&action=client_created").await;
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let records = parse_csv(&res.text().await.unwrap());
    assert_eq!(
        records[0],
        ["seq", "at", "actor", "target", "action", "ip", "request_id", "user_agent", "via", "detail"]
    );
    assert_eq!(records.len(), 5, "a header and four events");
    for (record, line) in records[1..].iter().zip(&lines) {
        assert_eq!(record[0], line["seq"].to_string());
        assert_eq!(record[3], line["target"].as_str().unwrap());
        let detail: Value = serde_json::from_str(&record[9]).unwrap();
        assert_eq!(detail, line["detail"], "the quoted JSON detail survives");
    }
}

#[tokio::test]
async fn export_streams_more_rows_than_one_batch() {
    let app = spawn_app().await;
    let api = Api::new(&app, admin_token(&app).await);
    let ctx = crate::helpers::test_ctx();
    let mut tx = app.state.store.begin().await.unwrap();
    for i in 0..2_500 {
        let event = ctx.event(gatehouse::security::audit::AuditAction::SignOut, format!("u{i}"));
        gatehouse::security::audit::append(&mut tx.db(), &event, 1_800_000_000).await.unwrap();
    }
    tx.commit().await.unwrap();
    let text = api.get("/api/v1/audit/export?format=csv&action=sign_out").await.text().await.unwrap();
    let records = parse_csv(&text);
    assert_eq!(records.len(), 2_501);
    let seqs: Vec<i64> = records[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "in order, no repeats across batches");
}

#[tokio::test]
async fn the_cli_export_is_the_same_export() {
    use gatehouse::store::testing::TempPostgres;
    let db = match crate::helpers::on_postgres() {
        true => Some(TempPostgres::create(&crate::helpers::postgres_url().unwrap()).await.unwrap()),
        false => None,
    };
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.args(args).current_dir(dir.path()).env_clear();
        if let Some(db) = &db {
            cmd.env("GATEHOUSE_DATABASE__URL", &db.url);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    run(&[
        "client",
        "create",
        "--client-id",
        "web",
        "--name",
        "Web, \"the\" app",
        "--redirect-uri",
        "https://a.example/cb",
    ]);
    let csv = parse_csv(&run(&["audit", "export", "--format", "csv", "--action", "client_created"]));
    assert_eq!(csv.len(), 2, "{csv:?}");
    assert_eq!((csv[1][2].as_str(), csv[1][3].as_str(), csv[1][4].as_str()), ("cli", "web", "client_created"));
    let jsonl = run(&["audit", "export", "--target", "web"]);
    let line: Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(line["seq"].to_string(), csv[1][0]);
}
