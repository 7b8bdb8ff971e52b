//! Hardening of the users service over real gRPC: the audit log's hash chain (appended by
//! two replicas on one database, on SQLite and on PostgreSQL, and an edited or deleted row
//! detected), the login lockout per account and per address, and the password policy.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::Channel;
use ultra_bus::Bus;
use ultra_proto::v1::users_service_client::UsersServiceClient;
use ultra_proto::v1::{
    AppendAuditRequest, Caller, ClientContext, ListAuditRequest, LoginRequest, PageRequest,
    RegisterRequest, Role, VerifyAuditRequest, VerifyAuditResponse,
};
use ultra_rpc::CallerAuth;
use ultra_users::Config;

const SECRET: &str = "security-test-secret-security-test-secret";
const SERVICE_SECRET: &str = "security-test-service-secret-0123456789";
const PASSWORD: &str = "correct horse battery";

struct Replica {
    client: UsersServiceClient<Channel>,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<ultra_users::Result<()>>,
}

impl Replica {
    /// One users service on `database_url`, configured by `extra` on top of the basics.
    async fn start(database_url: &str, extra: &[(&str, &str)]) -> Replica {
        let mut env: HashMap<String, String> = [
            ("ULTRA_USERS_DATABASE_URL", database_url),
            ("ULTRA_JWT_SECRET", SECRET),
            ("ULTRA_SERVICE_SECRET", SERVICE_SECRET),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        for (name, value) in extra {
            env.insert((*name).to_owned(), (*value).to_owned());
        }
        let config = Config::from_env(&env).expect("config");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(ultra_users::serve(
            config,
            Bus::in_process(),
            listener,
            shutdown.clone(),
        ));
        let mut replica = Replica {
            client: UsersServiceClient::new(ultra_rpc::lazy_channel(&url).expect("channel")),
            shutdown,
            server,
        };
        // Answers once its migrations ran: replicas started one after the other never
        // migrate the same database at once.
        replica.verify(&admin("org-warmup")).await;
        replica
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .expect("stops")
            .expect("join")
            .expect("clean exit");
    }

    async fn append(&mut self, caller: &Caller, id: &str, action: &str) -> i64 {
        let request = AppendAuditRequest {
            caller: Some(caller.clone()),
            id: id.to_owned(),
            actor_type: "user".into(),
            actor_id: caller.user_id.clone(),
            action: action.to_owned(),
            target_id: format!("target-{id}"),
            outcome: "success".into(),
            detail: "HTTP 201".into(),
            client: Some(client("198.51.100.7")),
            occurred_at_ms: 0,
        };
        self.client
            .append_audit(signer().peer_request(caller, request).expect("signed"))
            .await
            .expect("append")
            .into_inner()
            .seq
    }

    async fn verify(&mut self, caller: &Caller) -> VerifyAuditResponse {
        let request = VerifyAuditRequest {
            caller: Some(caller.clone()),
        };
        self.client
            .verify_audit(signer().peer_request(caller, request).expect("signed"))
            .await
            .expect("verify")
            .into_inner()
    }

    /// Every entry matching `action` (all when empty), newest first, `page_size` at a time.
    async fn list_all(&mut self, caller: &Caller, action: &str, page_size: u32) -> Vec<i64> {
        let mut seqs = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = ListAuditRequest {
                caller: Some(caller.clone()),
                action: action.to_owned(),
                page: Some(PageRequest {
                    page_size,
                    page_token,
                }),
                ..ListAuditRequest::default()
            };
            let page = self
                .client
                .list_audit(signer().peer_request(caller, request).expect("signed"))
                .await
                .expect("list")
                .into_inner();
            assert!(page.entries.len() <= page_size as usize);
            seqs.extend(page.entries.iter().map(|entry| entry.seq));
            if page.next_page_token.is_empty() {
                return seqs;
            }
            page_token = page.next_page_token;
        }
    }

    async fn login(&mut self, email: &str, password: &str, ip: &str) -> Result<(), tonic::Status> {
        self.client
            .login(LoginRequest {
                email: email.to_owned(),
                password: password.to_owned(),
                client: Some(client(ip)),
            })
            .await
            .map(|_| ())
    }
}

fn signer() -> CallerAuth {
    CallerAuth::new(SERVICE_SECRET.as_bytes()).expect("signer")
}

fn admin(org_id: &str) -> Caller {
    Caller {
        org_id: org_id.to_owned(),
        user_id: format!("admin-of-{org_id}"),
        role: Role::Admin as i32,
    }
}

fn client(ip: &str) -> ClientContext {
    ClientContext {
        ip: ip.to_owned(),
        user_agent: "security-test/1".into(),
        request_id: "req-security".into(),
    }
}

/// Two replicas append 30 entries to one organisation's chain and 10 to another's, all
/// at once; both chains verify, listings page through every entry once, a retried append
/// is stored once; then an edited row and a deleted row are each reported at their seq.
async fn audit_chain(database_url: &str) {
    let mut first = Replica::start(database_url, &[]).await;
    let mut second = Replica::start(database_url, &[]).await;
    let org_a = admin("org-a");
    let org_b = admin("org-b");
    let appends = (0..40).map(|index| {
        let mut client = if index % 2 == 0 {
            first.client.clone()
        } else {
            second.client.clone()
        };
        let caller = if index < 30 {
            org_a.clone()
        } else {
            org_b.clone()
        };
        let action = if index % 3 == 0 {
            "model.delete"
        } else {
            "model.upload"
        };
        async move {
            let request = AppendAuditRequest {
                caller: Some(caller.clone()),
                id: format!("entry-{index}"),
                actor_type: "user".into(),
                actor_id: caller.user_id.clone(),
                action: action.into(),
                target_id: format!("model-{index}"),
                outcome: "success".into(),
                detail: String::new(),
                client: Some(client_context(index)),
                occurred_at_ms: 0,
            };
            client
                .append_audit(signer().peer_request(&caller, request).expect("signed"))
                .await
                .expect("append")
                .into_inner()
                .seq
        }
    });
    let mut seqs = join_all(appends).await;
    seqs.sort_unstable();
    let mut expected: Vec<i64> = (1..=30).chain(1..=10).collect();
    expected.sort_unstable();
    assert_eq!(seqs, expected, "every append got its own seq in its chain");

    // A retry of an append whose answer was lost is stored once.
    let again = first.append(&org_a, "entry-0", "model.delete").await;
    assert!((1..=30).contains(&again));

    // The actor is the signed principal, whatever the request names; a time far from now
    // is refused; an id used in another organisation's chain is refused, not answered.
    let org_c = admin("org-c");
    let forged = AppendAuditRequest {
        caller: Some(org_c.clone()),
        id: "entry-forged".into(),
        actor_type: "api_key".into(),
        actor_id: "someone-else".into(),
        action: "model.upload".into(),
        target_id: "model-x".into(),
        outcome: "success".into(),
        detail: String::new(),
        client: Some(client("198.51.100.7")),
        occurred_at_ms: 0,
    };
    let appender = first.client.clone();
    let append = |request: AppendAuditRequest| {
        let mut client = appender.clone();
        let caller = org_c.clone();
        async move {
            client
                .append_audit(signer().peer_request(&caller, request).expect("signed"))
                .await
        }
    };
    append(forged.clone()).await.expect("append");
    let request = ListAuditRequest {
        caller: Some(org_c.clone()),
        ..ListAuditRequest::default()
    };
    let listed = first
        .client
        .list_audit(signer().peer_request(&org_c, request).expect("signed"))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        (
            listed.entries[0].actor_type.as_str(),
            listed.entries[0].actor_id.as_str()
        ),
        ("user", org_c.user_id.as_str())
    );
    let now = ultra_bus::now_ms();
    for occurred_at_ms in [now + 60 * 60 * 1000, now - 3 * 24 * 60 * 60 * 1000] {
        let off = AppendAuditRequest {
            id: format!("entry-at-{occurred_at_ms}"),
            occurred_at_ms,
            ..forged.clone()
        };
        let refused = append(off).await.expect_err("time out of range");
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    }
    let reused = AppendAuditRequest {
        id: "entry-0".into(),
        ..forged
    };
    let refused = append(reused).await.expect_err("org-a's id");
    assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");

    let verified = first.verify(&org_a).await;
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.checked, 30);
    assert_eq!(verified.head_hash.len(), 64);
    assert_eq!(second.verify(&org_b).await.checked, 10);

    let listed = second.list_all(&org_a, "", 7).await;
    assert_eq!(listed, (1..=30).rev().collect::<Vec<i64>>());
    let deletes = first.list_all(&org_a, "model.delete", 4).await;
    assert_eq!(deletes.len(), 10, "{deletes:?}");
    // Another organisation's admin sees only their own chain.
    assert_eq!(first.list_all(&org_b, "", 50).await.len(), 10);
    // Only admins read the log.
    let analyst = Caller {
        role: Role::Analyst as i32,
        ..org_a.clone()
    };
    let request = ListAuditRequest {
        caller: Some(analyst.clone()),
        ..ListAuditRequest::default()
    };
    let refused = first
        .client
        .list_audit(signer().peer_request(&analyst, request).expect("signed"))
        .await
        .expect_err("analysts do not read the audit log");
    assert_eq!(refused.code(), Code::PermissionDenied);

    // Tampering, directly in the database: an edited field, then a deleted row.
    let db = ultra_store::open(database_url, &ultra_users::MIGRATOR)
        .await
        .expect("open");
    let edited = sqlx::query(
        "UPDATE audit_log SET target_id = 'forged' WHERE org_id = 'org-a' AND seq = 12",
    )
    .execute(db.pool())
    .await
    .expect("edit");
    assert_eq!(edited.rows_affected(), 1);
    let broken = second.verify(&org_a).await;
    assert!(!broken.ok);
    assert_eq!((broken.first_broken_seq, broken.checked), (12, 11));
    assert!(broken.reason.contains("hash"), "{}", broken.reason);
    assert!(first.verify(&org_b).await.ok, "other chains are unaffected");

    sqlx::query("DELETE FROM audit_log WHERE org_id = 'org-b' AND seq = 4")
        .execute(db.pool())
        .await
        .expect("delete");
    let broken = first.verify(&org_b).await;
    assert!(!broken.ok);
    assert_eq!(broken.first_broken_seq, 4);
    assert!(broken.reason.contains("missing"), "{}", broken.reason);
    db.close().await;

    first.stop().await;
    second.stop().await;
}

fn client_context(index: usize) -> ClientContext {
    ClientContext {
        ip: format!("198.51.100.{index}"),
        user_agent: "security-test/1".into(),
        request_id: format!("req-{index}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_chain_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    audit_chain(&format!("sqlite://{}/users.db", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_chain_on_postgres() {
    let server =
        tokio::task::block_in_place(ultra_testkit::PostgresServer::start).expect("start postgres");
    let url = tokio::task::block_in_place(|| server.create_database("ultra_users"))
        .expect("create database");
    audit_chain(&url).await;
    drop(server);
}

/// Five failed logins lock the account (a correct password is then refused too, with a
/// retry-after) until the lock expires; an unknown email locks the same way (no hint which
/// emails exist); twenty-odd failures from one address lock the address for every email;
/// a successful login clears the account's count. Every attempt is in the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_logins_lock_the_account_and_the_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/users.db", dir.path().display());
    let mut users = Replica::start(
        &url,
        &[
            ("ULTRA_LOGIN_LOCKOUT_SECONDS", "1"),
            ("ULTRA_LOGIN_ADDRESS_MAX_FAILURES", "8"),
        ],
    )
    .await;
    let ada = users
        .client
        .register(RegisterRequest {
            email: "ada@example.com".into(),
            password: PASSWORD.into(),
            display_name: "Ada".into(),
            organization_name: "Engines".into(),
            client: Some(client("203.0.113.1")),
        })
        .await
        .expect("register")
        .into_inner()
        .user
        .expect("user");

    for email in ["ada@example.com", "nobody@example.com"] {
        let ip = if email.starts_with("ada") {
            "203.0.113.1"
        } else {
            "203.0.113.2"
        };
        for attempt in 1..=5 {
            let refused = users
                .login(email, "not the password", ip)
                .await
                .expect_err("wrong password");
            assert_eq!(refused.code(), Code::Unauthenticated, "{email} #{attempt}");
        }
        // Locked: even the right password is not checked.
        let locked = users.login(email, PASSWORD, ip).await.expect_err("locked");
        assert_eq!(locked.code(), Code::ResourceExhausted, "{email}");
        assert_eq!(
            locked
                .metadata()
                .get("retry-after")
                .and_then(|value| value.to_str().ok()),
            Some("1")
        );
    }

    // Per address: one failure each for eight emails from one address locks the address.
    for index in 0..8 {
        let refused = users
            .login(
                &format!("user{index}@example.com"),
                "wrong password",
                "203.0.113.3",
            )
            .await
            .expect_err("wrong");
        assert_eq!(refused.code(), Code::Unauthenticated);
    }
    let from_locked_address = users
        .login("fresh@example.com", "wrong password", "203.0.113.3")
        .await
        .expect_err("address locked");
    assert_eq!(from_locked_address.code(), Code::ResourceExhausted);
    let elsewhere = users
        .login("fresh@example.com", "wrong password", "203.0.113.4")
        .await
        .expect_err("wrong");
    assert_eq!(elsewhere.code(), Code::Unauthenticated);

    // The lock expires; a success clears the account's count.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    users
        .login("ada@example.com", PASSWORD, "203.0.113.1")
        .await
        .expect("the lock expired");
    let once = users
        .login("ada@example.com", "not the password", "203.0.113.1")
        .await
        .expect_err("wrong");
    assert_eq!(once.code(), Code::Unauthenticated);
    users
        .login("ada@example.com", PASSWORD, "203.0.113.1")
        .await
        .expect("one failure after a success does not lock");

    // Ada's organisation's chain holds her registration and every login attempt.
    let ada_admin = Caller {
        org_id: ada.org_id.clone(),
        user_id: ada.id.clone(),
        role: Role::Admin as i32,
    };
    let request = ListAuditRequest {
        caller: Some(ada_admin.clone()),
        page: Some(PageRequest {
            page_size: 100,
            page_token: String::new(),
        }),
        ..ListAuditRequest::default()
    };
    let entries = users
        .client
        .list_audit(signer().peer_request(&ada_admin, request).expect("signed"))
        .await
        .expect("list")
        .into_inner()
        .entries;
    let outcomes: Vec<(&str, &str)> = entries
        .iter()
        .rev()
        .map(|entry| (entry.action.as_str(), entry.outcome.as_str()))
        .collect();
    let mut expected = vec![("auth.register", "success")];
    expected.extend([("auth.login", "failure"); 5]);
    expected.extend([
        ("auth.login", "denied"),
        ("auth.login", "success"),
        ("auth.login", "failure"),
        ("auth.login", "success"),
    ]);
    assert_eq!(outcomes, expected);
    assert!(entries.iter().all(|entry| entry.ip == "203.0.113.1"
        && entry.user_agent == "security-test/1"
        && entry.actor_id == ada.id));
    assert!(users.verify(&ada_admin).await.ok);

    // Attempts on unknown emails are in the unattributed chain ('' organisation), which
    // verifies too and names no account.
    let db = ultra_store::open(&url, &ultra_users::MIGRATOR)
        .await
        .expect("open");
    let audit = ultra_users::audit::AuditStore::new(db.clone());
    let unattributed = audit
        .list("", &ultra_users::audit::Filter::default(), 100)
        .await
        .expect("list");
    // nobody@: 5 failures and 1 refusal; the address test: 8 failures, 1 refusal, 1 failure.
    assert_eq!(unattributed.len(), 6 + 10);
    assert!(unattributed.iter().all(|entry| {
        entry.fields.actor_type == "anonymous"
            && entry.fields.actor_id.is_empty()
            && !entry.fields.detail.contains("@")
    }));
    assert!(matches!(
        audit.verify("").await.expect("verify"),
        ultra_users::audit::Verification::Intact { .. }
    ));
    db.close().await;
    users.stop().await;
}

/// A new password: 12 to 256 characters, 5 different ones at least, not the email, not a
/// well-known password; the error names the rule.
#[tokio::test]
async fn registration_enforces_the_password_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut users =
        Replica::start(&format!("sqlite://{}/users.db", dir.path().display()), &[]).await;
    let register = |password: &str| RegisterRequest {
        email: "grace.hopper@example.com".into(),
        password: password.into(),
        display_name: String::new(),
        organization_name: "Navy".into(),
        client: None,
    };
    for (password, rule) in [
        ("short pass", "12 to 256"),
        ("Password-1234", "common"),
        ("qwerty123456", "common"),
        ("Grace.Hopper@example.com", "email"),
        ("zzzzzzzzzzzzzzzz", "different"),
    ] {
        let refused = users
            .client
            .register(register(password))
            .await
            .expect_err(password);
        assert_eq!(refused.code(), Code::InvalidArgument, "{password}");
        assert!(
            refused.message().contains(rule),
            "{password}: {}",
            refused.message()
        );
        assert!(
            !refused.message().contains(password),
            "the password is never echoed"
        );
    }
    users
        .client
        .register(register("a cobol compiler in 1959"))
        .await
        .expect("a good password");
    users.stop().await;
}
