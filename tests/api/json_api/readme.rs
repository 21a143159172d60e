//! The README's curl walk-through ("From nothing to a managed user with
//! curl") runs as written against a live server: the block after the
//! `readme-api-walkthrough` marker, with `BASE` pointed at the test server
//! and `gatehouse` on the PATH pointed at the test's database.
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use secrecy::ExposeSecret;

use crate::helpers::spawn_app;

/// The bash block that follows the marker comment in README.md.
fn walkthrough() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let after = readme.split("readme-api-walkthrough").nth(1).expect("the marker is in README.md");
    let block = after.split("```bash\n").nth(1).unwrap();
    block.split("\n```").next().unwrap().to_owned()
}

#[tokio::test]
async fn the_readme_walkthrough_creates_updates_blocks_reads_and_deletes_a_user() {
    let app = spawn_app().await;
    let bin = tempfile::tempdir().unwrap();
    let mut env = format!("GATEHOUSE_DATA_DIR='{}'", app.config.data_dir.display());
    if let Some(url) = &app.config.database.url {
        env.push_str(&format!(" GATEHOUSE_DATABASE__URL='{}'", url.expose_secret()));
    }
    let shim = bin.path().join("gatehouse");
    std::fs::write(&shim, format!("#!/bin/sh\nexec env {env} '{}' \"$@\"\n", env!("CARGO_BIN_EXE_gatehouse"))).unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = walkthrough().replace("BASE=http://127.0.0.1:8080", &format!("BASE={}", app.base));
    assert_ne!(script, walkthrough(), "the block sets BASE to the default address");
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash").args(["-euo", "pipefail", "-c", &script]).env("PATH", path).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Ada Lovelace"), "the update answers the user: {stdout}");
    assert!(stdout.contains("user_blocked"), "the history shows the block: {stdout}");
    assert_eq!(stdout.trim_end().lines().last(), Some("204"), "the delete: {stdout}");
    assert!(app.state.accounts.find("ada").await.is_err(), "ada is gone");
}
