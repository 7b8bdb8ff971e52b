//! Every way a token can be refused, password hashing, and the permission table.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ultra_auth::{
    AuthError, Claims, Permission, PlanTier, Role, TokenIssuer, allows, hash_password,
    new_refresh_token, sha256_hex, verify_password, verify_password_against_dummy,
};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

fn issuer() -> TokenIssuer {
    TokenIssuer::new(SECRET, "ultra", "ultra-api", Duration::from_secs(900)).expect("issuer")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn claims() -> Claims {
    Claims {
        sub: "user-1".into(),
        org: "org-1".into(),
        role: Role::Analyst,
        plan: Some(PlanTier::Free),
        iss: "ultra".into(),
        aud: "ultra-api".into(),
        iat: now(),
        exp: now() + 600,
        jti: "j".into(),
    }
}

#[test]
fn issued_tokens_verify() {
    let issuer = issuer();
    let token = issuer
        .issue("user-1", "org-1", Role::PowerUser, PlanTier::Enterprise)
        .expect("issue");
    let claims = issuer.verify(&token).expect("valid");
    assert_eq!(claims.sub, "user-1");
    assert_eq!(claims.org, "org-1");
    assert_eq!(claims.role, Role::PowerUser);
    assert_eq!(claims.plan, Some(PlanTier::Enterprise));
    assert!(claims.exp > claims.iat);
}

/// The plan tier is signed into the token; a token without one (issued before tiers) or
/// with a tier this build does not know still verifies, with no tier.
#[test]
fn the_plan_tier_travels_in_the_token_and_is_read_leniently() {
    let issuer = issuer();
    let payload = |plan: &str| {
        let mut json = serde_json::to_value(claims()).expect("json");
        match plan {
            "" => json.as_object_mut().expect("object").remove("plan"),
            plan => json
                .as_object_mut()
                .expect("object")
                .insert("plan".into(), plan.into()),
        };
        json
    };
    // Signed as raw JSON, so that the token holds exactly what `payload` wrote.
    let sign = |json: serde_json::Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json,
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
        )
        .expect("sign")
    };
    assert_eq!(
        serde_json::to_value(claims()).expect("json")["plan"],
        "free"
    );
    for (plan, expected) in [
        ("professional", Some(PlanTier::Professional)),
        ("ultra", Some(PlanTier::Ultra)),
        ("", None),
        ("platinum", None),
    ] {
        let token = sign(payload(plan));
        assert_eq!(
            issuer.verify(&token).expect("valid").plan,
            expected,
            "{plan:?}"
        );
    }
    // An absent plan is not written back as `null`.
    let mut none = claims();
    none.plan = None;
    assert!(
        serde_json::to_value(none)
            .expect("json")
            .get("plan")
            .is_none()
    );
    for tier in PlanTier::ALL {
        assert_eq!(tier.as_str().parse::<PlanTier>(), Ok(tier));
        assert_eq!(PlanTier::from_proto(tier.to_proto()), Some(tier));
    }
    assert_eq!(
        "gold".parse::<PlanTier>(),
        Err(AuthError::UnknownPlanTier("gold".into()))
    );
}

/// Rotation: the users service signs with the new secret while verifiers still accept the
/// previous one by kid; once the previous secret is dropped from the configuration, its
/// tokens are refused, and a kid nobody configured is refused outright.
#[test]
fn key_rotation_by_kid() {
    const NEW: &[u8] = b"the-next-secret-after-rotation-0123456789";
    let old_issuer = issuer();
    let old_token = old_issuer
        .issue("user-1", "org-1", Role::Analyst, PlanTier::Free)
        .expect("issue");
    let header = jsonwebtoken::decode_header(&old_token).expect("header");
    assert_eq!(
        header.kid.as_deref(),
        Some(ultra_auth::key_id(SECRET).as_str())
    );
    assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);

    let rotated = TokenIssuer::new(NEW, "ultra", "ultra-api", Duration::from_secs(900))
        .expect("issuer")
        .with_previous_secrets(&[SECRET])
        .expect("previous");
    assert_ne!(rotated.kid(), old_issuer.kid());
    let new_token = rotated
        .issue("user-2", "org-1", Role::Viewer, PlanTier::Free)
        .expect("issue");
    assert_eq!(
        rotated.verify(&old_token).expect("previous key").sub,
        "user-1"
    );
    assert_eq!(
        rotated.verify(&new_token).expect("current key").sub,
        "user-2"
    );
    // A verifier not yet rotated does not know the new kid.
    assert!(matches!(
        old_issuer.verify(&new_token),
        Err(AuthError::UnknownKey(_))
    ));

    // After the previous secret is retired, its tokens are refused.
    let retired =
        TokenIssuer::new(NEW, "ultra", "ultra-api", Duration::from_secs(900)).expect("issuer");
    assert_eq!(
        retired.verify(&old_token),
        Err(AuthError::UnknownKey(ultra_auth::key_id(SECRET)))
    );
    assert!(retired.verify(&new_token).is_ok());

    // An unknown kid, even on an otherwise perfect token, is refused.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("0000000000000000".into());
    let unknown = jsonwebtoken::encode(
        &header,
        &claims(),
        &jsonwebtoken::EncodingKey::from_secret(NEW),
    )
    .expect("sign");
    assert_eq!(
        retired.verify(&unknown),
        Err(AuthError::UnknownKey("0000000000000000".into()))
    );

    // The configured list: comma-separated, each long enough.
    let parsed = ultra_auth::parse_previous_secrets(&format!(
        " {}, ,{} ",
        std::str::from_utf8(SECRET).expect("utf8"),
        std::str::from_utf8(NEW).expect("utf8")
    ))
    .expect("parsed");
    assert_eq!(parsed, vec![SECRET.to_vec(), NEW.to_vec()]);
    assert_eq!(
        ultra_auth::parse_previous_secrets("short"),
        Err(AuthError::WeakSecret)
    );
    assert!(
        TokenIssuer::new(NEW, "ultra", "ultra-api", Duration::from_secs(1))
            .expect("issuer")
            .with_previous_secrets(&[b"short"])
            .is_err()
    );
}

#[test]
fn constant_time_comparison() {
    assert!(ultra_auth::constant_time_eq(b"abc", b"abc"));
    assert!(!ultra_auth::constant_time_eq(b"abc", b"abd"));
    assert!(!ultra_auth::constant_time_eq(b"abc", b"abcd"));
    assert!(ultra_auth::constant_time_eq(b"", b""));
}

#[test]
fn weak_secret_is_refused() {
    let error = TokenIssuer::new(b"short", "ultra", "ultra-api", Duration::from_secs(60))
        .expect_err("weak");
    assert_eq!(error, AuthError::WeakSecret);
}

#[test]
fn expired_token_is_rejected() {
    let issuer = issuer();
    let mut expired = claims();
    expired.iat = now() - 7200;
    expired.exp = now() - 3600;
    let token = issuer.sign(&expired).expect("sign");
    assert_eq!(issuer.verify(&token), Err(AuthError::Expired));
}

#[test]
fn forged_signature_is_rejected() {
    let other = TokenIssuer::new(
        b"another-secret-that-is-long-enough!!",
        "ultra",
        "ultra-api",
        Duration::from_secs(60),
    )
    .expect("issuer");
    let forged = other
        .issue("user-1", "org-1", Role::Admin, PlanTier::Free)
        .expect("issue");
    // Another secret has another kid: refused before any signature check.
    assert_eq!(
        issuer().verify(&forged),
        Err(AuthError::UnknownKey(ultra_auth::key_id(
            b"another-secret-that-is-long-enough!!"
        )))
    );
    // Claiming our kid (or none) does not help: the signature is checked with our key.
    for kid in [Some(issuer().kid().to_owned()), None] {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = kid;
        let forged = jsonwebtoken::encode(
            &header,
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(b"another-secret-that-is-long-enough!!"),
        )
        .expect("sign");
        assert_eq!(issuer().verify(&forged), Err(AuthError::BadSignature));
    }

    // Tampering with the payload of a genuine token breaks its signature too.
    let genuine = issuer()
        .issue("user-1", "org-1", Role::Viewer, PlanTier::Free)
        .expect("issue");
    let parts: Vec<&str> = genuine.split('.').collect();
    let mut escalated = claims();
    escalated.role = Role::Admin;
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&escalated).expect("json"));
    let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
    assert_eq!(issuer().verify(&tampered), Err(AuthError::BadSignature));
}

#[test]
fn alg_none_token_crafted_by_hand_is_rejected() {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).expect("json"));
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        let error = issuer()
            .verify(&token)
            .expect_err("alg=none must be refused");
        assert!(
            matches!(error, AuthError::WrongAlgorithm | AuthError::Malformed(_)),
            "{error:?}"
        );
    }
}

#[test]
fn other_algorithms_are_rejected() {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).expect("json"));
    let token = format!("{header}.{payload}.c2lnbmF0dXJl");
    assert_eq!(issuer().verify(&token), Err(AuthError::WrongAlgorithm));
}

#[test]
fn wrong_audience_and_issuer_are_rejected() {
    let issuer = issuer();
    let mut other_audience = claims();
    other_audience.aud = "someone-else".into();
    let token = issuer.sign(&other_audience).expect("sign");
    assert_eq!(issuer.verify(&token), Err(AuthError::WrongAudience));

    let mut other_issuer = claims();
    other_issuer.iss = "evil".into();
    let token = issuer.sign(&other_issuer).expect("sign");
    assert_eq!(issuer.verify(&token), Err(AuthError::WrongIssuer));
}

#[test]
fn garbage_is_malformed() {
    for token in ["", "abc", "a.b.c", "....."] {
        assert!(issuer().verify(token).is_err(), "{token:?}");
    }
}

#[test]
fn passwords_hash_and_verify() {
    let hash = hash_password("correct horse battery staple").expect("hash");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(verify_password("correct horse battery staple", &hash));
    assert!(!verify_password("correct horse battery stapler", &hash));
    assert!(!verify_password("anything", "not a phc string"));
    assert!(!verify_password_against_dummy("anything"));
    let again = hash_password("correct horse battery staple").expect("hash");
    assert_ne!(hash, again, "salts differ");
}

#[test]
fn refresh_tokens_are_random_and_stored_hashed() {
    let (token, hash) = new_refresh_token();
    let (other, _) = new_refresh_token();
    assert_ne!(token, other);
    assert!(token.len() >= 43);
    assert_eq!(hash, sha256_hex(&token));
    assert_eq!(hash.len(), 64);
}

#[test]
fn permissions_follow_the_roles() {
    for permission in Permission::ALL {
        assert!(allows(Role::Admin, permission), "admin {permission}");
    }
    let viewer: Vec<Permission> = Permission::ALL
        .into_iter()
        .filter(|p| allows(Role::Viewer, *p))
        .collect();
    assert_eq!(
        viewer,
        [
            Permission::SimulationRead,
            Permission::ResultsView,
            Permission::OrganizationView
        ]
    );
    assert!(allows(Role::Analyst, Permission::SimulationCreate));
    assert!(allows(Role::Analyst, Permission::FileUpload));
    assert!(allows(Role::Analyst, Permission::ResultsExport));
    assert!(!allows(Role::Analyst, Permission::SimulationDelete));
    assert!(!allows(Role::Analyst, Permission::FileDownload));
    assert!(allows(Role::PowerUser, Permission::SimulationDelete));
    assert!(allows(Role::PowerUser, Permission::FileDownload));
    assert!(allows(Role::PowerUser, Permission::OrganizationAnalytics));
    assert!(!allows(Role::PowerUser, Permission::OrganizationBilling));
    for role in Role::ALL {
        assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        assert_eq!(Role::from_proto(role.to_proto()), Some(role));
    }
}
