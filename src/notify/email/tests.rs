use super::*;
use std::time::Duration;

fn settings(tls: SmtpTls) -> SmtpSettings {
    SmtpSettings {
        host: "smtp.example.com".into(),
        port: 587,
        tls,
        username: None,
        password: None,
        from: "qoswatch <alerts@example.org>".into(),
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn mailer_builds_for_every_tls_mode_and_checks_settings() {
    for tls in [SmtpTls::Implicit, SmtpTls::StartTls, SmtpTls::None] {
        let mailer = Mailer::new(&settings(tls)).unwrap();
        assert_eq!(mailer.domain(), "example.org");
    }
    let half_auth = SmtpSettings {
        username: Some("user".into()),
        ..settings(SmtpTls::StartTls)
    };
    assert!(matches!(
        Mailer::new(&half_auth),
        Err(NotifyError::InvalidSmtp(_))
    ));
    let bad_from = SmtpSettings {
        from: "not a mailbox".into(),
        ..settings(SmtpTls::StartTls)
    };
    assert!(Mailer::new(&bad_from).is_err());
    let mailer = Mailer::new(&settings(SmtpTls::None)).unwrap();
    let error = EmailChannel::new("mail", mailer, &["secret-person@@x".into()], false)
        .unwrap_err()
        .to_string();
    assert!(error.contains("recipient #1"));
    assert!(!error.contains("secret-person"));
}

fn event(user: &str, status: AlertStatus, at_minute: u32) -> AlertEvent {
    let mut event = crate::test_support::example_event(user, status);
    event.at = event.started_at + chrono::Duration::minutes(at_minute.into());
    event
}

fn rendered(events: Vec<AlertEvent>) -> RenderedEmail {
    render(&Notification::new(events).unwrap(), false, "example.org")
}

#[test]
fn firing_repeat_and_resolved_mails_of_one_alert_share_a_thread() {
    let firing = rendered(vec![event("1", AlertStatus::Firing, 0)]);
    let repeat = rendered(vec![event("1", AlertStatus::Repeat, 10)]);
    let resolved = rendered(vec![event("1", AlertStatus::Resolved, 12)]);
    let root = thread_root(&event("1", AlertStatus::Firing, 0), "example.org");
    assert_eq!(firing.message_id, root);
    assert!(root.starts_with('<') && root.ends_with("@qoswatch.example.org>"));
    assert_eq!(firing.in_reply_to, None);
    assert!(firing.references.is_empty());
    for later in [&repeat, &resolved] {
        assert_ne!(later.message_id, root);
        assert_eq!(later.in_reply_to.as_ref(), Some(&root));
        assert_eq!(later.references, vec![root.clone()]);
    }
    assert_ne!(repeat.message_id, resolved.message_id);
    assert_eq!(
        repeat.subject,
        "[STILL FIRING] High latency — participant 1 — meeting m1"
    );
    // A different participant has a different thread.
    assert_ne!(
        thread_root(&event("2", AlertStatus::Firing, 0), "example.org"),
        root
    );
}

#[test]
fn a_grouped_mail_opens_the_first_thread_and_references_the_others() {
    let group = rendered(vec![
        event("1", AlertStatus::Firing, 0),
        event("2", AlertStatus::Firing, 0),
    ]);
    let root_1 = thread_root(&event("1", AlertStatus::Firing, 0), "example.org");
    let root_2 = thread_root(&event("2", AlertStatus::Firing, 0), "example.org");
    assert_eq!(group.message_id, root_1);
    assert_eq!(group.in_reply_to, None);
    assert_eq!(group.references, vec![root_2.clone()]);
    let resolved = rendered(vec![
        event("1", AlertStatus::Resolved, 5),
        event("2", AlertStatus::Resolved, 5),
    ]);
    assert_eq!(resolved.in_reply_to.as_ref(), Some(&root_1));
    assert_eq!(resolved.references, vec![root_1, root_2]);
}

#[test]
fn escapes_html() {
    assert_eq!(
        escape_html("<script>\"a\" & 'b'</script>"),
        "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
    );
}
