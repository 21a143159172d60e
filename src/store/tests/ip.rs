//! Store tests for IP rules, on both backends.
use super::each_backend;
use crate::store::NewIpRule;

fn rule<'a>(action: &'a str, cidr: &'a str) -> NewIpRule<'a> {
    NewIpRule { action, cidr, scope: "role", subject: "admin", note: "office", now: 100 }
}

#[tokio::test]
async fn ip_rules_are_stored_listed_removed_and_every_change_moves_the_version() {
    each_backend(async |store| {
        let mut conn = store.conn().await.unwrap();
        let empty = conn.db().ip_rules_version().await.unwrap();
        assert_eq!(empty, (0, 0));
        let a = conn.db().insert_ip_rule(&rule("allow", "10.0.0.0/8")).await.unwrap();
        let b = conn.db().insert_ip_rule(&rule("deny", "2001:db8::/32")).await.unwrap();
        assert!(b > a);
        let two = conn.db().ip_rules_version().await.unwrap();
        let rows = conn.db().list_ip_rules().await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[1].action.as_str(), rows[1].cidr.as_str(), rows[1].scope.as_str(), rows[1].subject.as_str()),
            ("deny", "2001:db8::/32", "role", "admin")
        );
        assert_eq!((rows[0].note.as_str(), rows[0].created_at), ("office", 100));
        // Remove the newest and add another: same count, but ids are never reused.
        assert!(conn.db().delete_ip_rule(b).await.unwrap());
        assert!(!conn.db().delete_ip_rule(b).await.unwrap(), "already gone");
        let c = conn.db().insert_ip_rule(&rule("deny", "192.0.2.0/24")).await.unwrap();
        assert!(c > b, "ids are not reused");
        let again = conn.db().ip_rules_version().await.unwrap();
        assert_eq!(again.0, two.0);
        assert_ne!(again, two);
        assert!(conn.db().insert_ip_rule(&rule("maybe", "10.0.0.0/8")).await.is_err(), "action is checked");
    })
    .await;
}

#[tokio::test]
async fn only_the_first_claim_of_an_address_minute_wins_and_later_counts_add_up() {
    each_backend(async |store| {
        let mut conn = store.conn().await.unwrap();
        assert!(conn.db().claim_ip_denials("192.0.2.7", 100, 200).await.unwrap(), "the first claim");
        assert!(!conn.db().claim_ip_denials("192.0.2.7", 100, 5).await.unwrap(), "another instance, same minute");
        assert_eq!(conn.db().ip_denial_count("192.0.2.7", 100).await.unwrap(), Some(205));
        assert!(conn.db().claim_ip_denials("192.0.2.7", 101, 1).await.unwrap(), "the next minute is its own");
        assert!(conn.db().claim_ip_denials("192.0.2.8", 100, 1).await.unwrap(), "another address is its own");
        assert_eq!(conn.db().ip_denial_count("192.0.2.9", 100).await.unwrap(), None);
    })
    .await;
}
