//! The outbox lease (issue 13, item 9): a worker renews the lease of a
//! message while its SMTP send is in flight, so two healthy instances never
//! both send it, however slow the relay. (A killed process, whose lease
//! lapses, is tested with the real binary in `cli.rs`.)
use std::time::Duration;

use gatehouse::clock::Clock;
use gatehouse::store::OutboxRow;

use crate::helpers::{TestApp, spawn_app_with};
use crate::smtp::SmtpSink;

/// The only outbox row, once `check` accepts it (polled every 20 ms, up to 5 s).
async fn row_when(app: &TestApp, what: &str, check: impl Fn(&OutboxRow) -> bool) -> OutboxRow {
    let mut last = None;
    for _ in 0..250 {
        let rows = app.state.outbox.list(true).await.unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        if check(&rows[0]) {
            return rows[0].clone();
        }
        last = Some(rows[0].clone());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("outbox row never {what}: {last:?}");
}

#[tokio::test]
async fn a_send_slower_than_the_lease_is_renewed_and_goes_out_once_from_two_instances() {
    let sink = SmtpSink::start().await;
    sink.set_hold(true);
    let url = sink.url();
    let lease = 3; // the shortest allowed: renewed every second
    let app = spawn_app_with(|c| {
        c.mail.smtp_url = Some(url.into());
        c.mail.lease_secs = lease;
    })
    .await;
    let other = app.second_instance().await;
    // One time for both instances (each has its own FixedClock).
    other.clock.advance(app.clock.unix() - other.clock.unix());
    app.create_user("lena", &[]).await;
    app.submit(&app.browser(), "/password/forgot", "/password/forgot", &[("email", "lena@example.com")]).await;
    for _ in 0..250 {
        if sink.held_count() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sink.held_count(), 1, "one instance is in the middle of sending");

    // Move time on by most of a lease at a time, long past the first lease.
    // After each step the sender renews at the new time; without that, the
    // first lease would lapse at the second step and the other instance,
    // polling every second, would claim the row and send it again.
    for step in 1..=4 {
        app.clock.advance(lease - 1);
        other.clock.advance(lease - 1);
        let now = app.clock.unix();
        let row = row_when(&app, "renewed", |r| r.locked_until == now + lease).await;
        assert_eq!(row.attempts, 1, "step {step}: claimed by one worker only");
    }

    sink.set_hold(false);
    sink.wait_for("lena@example.com", "Reset your password").await;
    let row = row_when(&app, "recorded as sent", |r| r.sent_at.is_some()).await;
    assert_eq!(row.attempts, 1, "never claimed twice");
    assert_eq!(sink.count_to("lena@example.com"), 1, "sent exactly once");
    assert_eq!(sink.held_count(), 1, "no second send was even started");
}
