//! The raw Argon2id reference for `scripts/bench`: how many password checks
//! per second this machine does with the server's own parameters, on N
//! threads, with no HTTP, database or session work around them.
//!
//! An example rather than a CLI subcommand: the parameters and the hasher are
//! public in the library (`config::load`, `security::password::Passwords`),
//! so nothing has to be added to the shipped binary, and cargo builds this
//! only when asked (`cargo build --release --example argon2_rate`).
//!
//! The parameters are read through `config::load`, the same layers `serve`
//! reads (defaults, `gatehouse.toml` or `GATEHOUSE_CONFIG`, `GATEHOUSE_*`),
//! and each check is `Passwords::verify`, the call a sign-in makes, so the
//! figure cannot drift from what the server does.
//!
//! Usage: `argon2_rate [THREADS] [SECONDS]` (defaults 1 and 5). Prints the
//! parameters on stderr and one line on stdout: `argon2id_per_sec <rate>`.
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gatehouse::security::password::Passwords;
use secrecy::SecretString;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().as_deref().unwrap_or("1").parse().context("THREADS is a number")?;
    let seconds: f64 = args.next().as_deref().unwrap_or("5").parse().context("SECONDS is a number")?;
    let config = gatehouse::config::load(None)?;
    let p = &config.password;
    eprintln!(
        "argon2id m={} KiB t={} p={} on {threads} thread(s) for {seconds} s",
        p.argon2_memory_kib, p.argon2_iterations, p.argon2_parallelism
    );
    let passwords = Passwords::new(p)?;
    // One worker per measuring thread plus the blocking pool the hasher uses,
    // exactly as in the server (each check is a spawn_blocking job).
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(threads.max(1)).enable_all().build()?;
    let checks = runtime.block_on(measure(passwords, threads.max(1), Duration::from_secs_f64(seconds)))?;
    println!("argon2id_per_sec {checks:.1}");
    Ok(())
}

/// Runs `threads` loops of `verify` until `length` has passed; checks per second.
async fn measure(passwords: Passwords, threads: usize, length: Duration) -> anyhow::Result<f64> {
    let password = SecretString::from("maple otter quartz lantern");
    let stored = passwords.hash(&password).await?;
    let started = Instant::now();
    let mut loops = Vec::with_capacity(threads);
    for _ in 0..threads {
        let (passwords, password, stored) = (passwords.clone(), password.clone(), stored.clone());
        loops.push(tokio::spawn(async move {
            let mut done = 0u64;
            while started.elapsed() < length {
                let verified = passwords.verify(&password, Some(&stored)).await?;
                anyhow::ensure!(verified.ok, "the password did not verify against its own hash");
                done += 1;
            }
            Ok(done)
        }));
    }
    let mut total = 0u64;
    for handle in loops {
        total += handle.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
