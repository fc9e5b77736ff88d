//! The wire contract pinned down: what each event kind's payload header and a small runtime state serialize
//! to, compared byte for byte with `tests/golden/` (a renamed wire string fails here), and what an older node
//! makes of a newer control plane's unknown fields, kinds and values (it parses them).
//! `APIM_GOLDEN_UPDATE=1` rewrites the golden files after a deliberate change of the contract.

use std::path::PathBuf;

use apim_wire::hub::{self, EventHeader, EventKind};
use apim_wire::{
    ApiStatus, BlockConditionType, Definition, DeployedApi, KeyType, PolicyLevel, RevokedTokenEntry, RuntimeApplication,
    RuntimeBlockCondition, RuntimeEndpointCertificate, RuntimeKeyManager, RuntimeKeyMapping, RuntimePolicy, RuntimeState,
    RuntimeSubscription, SubscriptionStatus,
};
use prost::Message;
use serde_json::json;

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("APIM_GOLDEN_UPDATE").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if expected != actual {
        let at = expected.bytes().zip(actual.bytes()).position(|(a, b)| a != b).unwrap_or(expected.len().min(actual.len()));
        let around = |s: &str| s.get(at.saturating_sub(40)..(at + 40).min(s.len())).unwrap_or("").to_string();
        panic!(
            "{name} differs from what the types write, first at byte {at}:\n  recorded: …{}…\n  now:      …{}…\n\
             (a wire string changed: older or newer nodes would not understand it; APIM_GOLDEN_UPDATE=1 if deliberate)",
            around(&expected),
            around(actual)
        );
    }
}

/// Each kind's payload header as the control plane writes it into the log (compact JSON), one line per kind.
#[test]
fn every_event_kind_is_written_as_recorded() {
    let mut out = String::new();
    for (i, kind) in EventKind::ALL.iter().enumerate() {
        let header = EventHeader::new(*kind, format!("00000000-0000-4000-8000-{i:012}"), 1_700_000_000_000 + i as i64);
        out.push_str(&serde_json::to_string(&header).expect("serialize"));
        out.push('\n');
    }
    golden("events.jsonl", &out);
    for kind in EventKind::ALL {
        assert_eq!(kind.as_str().parse::<EventKind>(), Ok(*kind), "one table both ways");
        assert_eq!(serde_json::to_value(kind).expect("serialize"), json!(kind.as_str()));
    }
}

/// A small whole state holding every known word of each vocabulary, as `/internal/data/v1/runtime-artifacts`
/// serves it and a gateway saves it.
fn sample_state() -> RuntimeState {
    let definition = r#"{"name":"PizzaShack","context":"/pizzashack","version":"1.0.0","type":"HTTP"}"#;
    RuntimeState {
        seq: 42,
        labels: vec!["Default".into()],
        // `api-1` first (the subscriptions name it), then one API in each other lifecycle state.
        apis: std::iter::once(ApiStatus::Published)
            .chain(ApiStatus::KNOWN.iter().filter(|s| **s != ApiStatus::Published).cloned())
            .map(|status| DeployedApi {
                id: if status == ApiStatus::Published { "api-1".into() } else { format!("api-{}", status.as_str().to_ascii_lowercase()) },
                status,
                environment: "Default".into(),
                vhost: "localhost".into(),
                revision_id: "rev-1".into(),
                definition: Definition::from_json(definition),
            })
            .collect(),
        applications: vec![RuntimeApplication { id: "app-1".into(), name: "Shop".into(), owner: "alice".into(), policy: "Unlimited".into() }],
        key_mappings: KeyType::KNOWN
            .iter()
            .map(|k| RuntimeKeyMapping {
                consumer_key: format!("ck-{}", k.as_str().to_ascii_lowercase()),
                application_id: "app-1".into(),
                key_type: k.clone(),
                key_manager: "Resident Key Manager".into(),
            })
            .collect(),
        subscriptions: SubscriptionStatus::KNOWN
            .iter()
            .enumerate()
            .map(|(i, s)| RuntimeSubscription {
                id: format!("sub-{i}"),
                api_id: "api-1".into(),
                application_id: "app-1".into(),
                policy: "Gold".into(),
                status: s.clone(),
            })
            .collect(),
        policies: PolicyLevel::KNOWN
            .iter()
            .map(|l| RuntimePolicy {
                level: l.clone(),
                name: format!("p-{l}"),
                document: json!({"policyName": format!("p-{l}"), "defaultLimit": {"type": "REQUESTCOUNTLIMIT", "requestCount": {"requestCount": 5, "unitTime": 1, "timeUnit": "min"}}}),
            })
            .collect(),
        block_conditions: BlockConditionType::KNOWN
            .iter()
            .enumerate()
            .map(|(i, t)| RuntimeBlockCondition {
                id: format!("block-{i}"),
                condition_type: t.clone(),
                value: match t {
                    BlockConditionType::Ip => json!({"fixedIp": "192.0.2.1", "invert": false}),
                    BlockConditionType::IpRange => json!({"startingIp": "192.0.2.1", "endingIp": "192.0.2.9", "invert": true}),
                    BlockConditionType::Api => json!("/pizzashack/1.0.0"),
                    BlockConditionType::Application => json!("alice:Shop"),
                    BlockConditionType::User => json!("mallory"),
                    _ => json!("/pizzashack/1.0.0:alice-Shop:PRODUCTION"),
                },
                enabled: i % 2 == 0,
            })
            .collect(),
        api_key_jwks: vec![json!({"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"})],
        revoked_api_keys: vec!["jti-1".into()],
        revoked_tokens: vec![RevokedTokenEntry { id: "tok-1".into(), expires_at: 1_700_003_600 }],
        key_managers: vec![RuntimeKeyManager {
            name: "partner-idp".into(),
            issuer: "https://idp.example.com/oauth2/token".into(),
            enabled: true,
            jwks_url: Some("https://idp.example.com/oauth2/jwks".into()),
            certificate: None,
            introspection: None,
            audiences: vec!["payments".into()],
            consumer_key_claim: Some("azp".into()),
            scopes_claim: None,
        }],
        endpoint_certificates: vec![RuntimeEndpointCertificate {
            alias: "backend".into(),
            endpoint: "https://backend.example.com:8443/v1".into(),
            certificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
        }],
        pending: vec![40],
        partial: None,
    }
}

#[test]
fn a_runtime_state_is_written_as_recorded() {
    let state = sample_state();
    let wire = serde_json::to_string(&state).expect("serialize");
    golden("runtime_state.json", &format!("{wire}\n"));
    let back: RuntimeState = serde_json::from_str(&wire).expect("parse");
    assert_eq!(back, state);
    assert_eq!(serde_json::to_string(&back).expect("serialize"), wire, "read and written again unchanged");
}

#[test]
fn every_vocabulary_reads_back_what_it_writes() {
    fn check<T: std::fmt::Debug + PartialEq + serde::Serialize + serde::de::DeserializeOwned + for<'a> From<&'a str>>(words: &[T]) {
        for w in words {
            let text = serde_json::to_string(w).expect("serialize");
            assert_eq!(&serde_json::from_str::<T>(&text).expect("parse"), w);
            assert_eq!(&T::from(text.trim_matches('"')), w);
        }
    }
    check(ApiStatus::KNOWN);
    check(SubscriptionStatus::KNOWN);
    check(KeyType::KNOWN);
    check(BlockConditionType::KNOWN);
    check(PolicyLevel::KNOWN);
    assert!(SubscriptionStatus::KNOWN.iter().all(SubscriptionStatus::is_known));
}

/// What a newer control plane may send an older node: a field it does not know anywhere, and words it does not
/// know in every vocabulary. The state parses; unknown words are kept and written back as they came.
#[test]
fn a_newer_state_with_unknown_fields_and_words_still_parses() {
    let mut v = serde_json::to_value(sample_state()).expect("to value");
    v["shinyNewSection"] = json!([{"a": 1}]);
    v["subscriptions"][0]["status"] = json!("SUSPENDED");
    v["subscriptions"][0]["approvedBy"] = json!("admin");
    v["keyMappings"][0]["keyType"] = json!("STAGING");
    v["policies"][0]["level"] = json!("organization");
    v["blockConditions"][0]["conditionType"] = json!("GEO");
    v["apis"][0]["deployedAt"] = json!(1_700_000_000);
    v["apis"][1]["status"] = json!("ARCHIVED");
    let text = v.to_string();
    let state: RuntimeState = serde_json::from_str(&text).expect("a newer state parses");
    assert_eq!(state.subscriptions[0].status, SubscriptionStatus::Unknown("SUSPENDED".into()));
    assert!(!state.subscriptions[0].status.is_known());
    assert_eq!(state.key_mappings[0].key_type, KeyType::Unknown("STAGING".into()));
    assert_eq!(state.policies[0].level, PolicyLevel::Unknown("organization".into()));
    assert_eq!(state.block_conditions[0].condition_type, BlockConditionType::Unknown("GEO".into()));
    assert_eq!(state.apis[1].status, ApiStatus::Unknown("ARCHIVED".into()));
    assert_eq!(state.subscriptions[1].status, SubscriptionStatus::Blocked, "known words beside them are read");
    let again = serde_json::to_value(&state).expect("serialize");
    assert_eq!(again["subscriptions"][0]["status"], "SUSPENDED", "an unknown word is written back as it came");
    assert_eq!(again["blockConditions"][0]["conditionType"], "GEO");
    assert_eq!(again["apis"][1]["status"], "ARCHIVED");
    assert!(again.get("shinyNewSection").is_none(), "unknown fields are ignored");
}

/// An event of a kind this version does not know, with a protobuf field it does not know: it decodes, its kind
/// says it is unknown (the subscriber counts it), and its payload is still JSON to read fields from.
#[test]
fn a_newer_event_with_an_unknown_kind_and_field_still_parses() {
    let event = hub::Event {
        seq: 7,
        event_type: "API_PRODUCT_CREATE".into(),
        payload:
            r#"{"eventId":"e","timeStamp":1,"type":"API_PRODUCT_CREATE","tenantId":-1234,"tenantDomain":"carbon.super","productId":"p"}"#
                .into(),
        created_at: 1,
    };
    let mut bytes = event.encode_to_vec();
    // Field 15, varint 1: something a newer hub added.
    bytes.extend_from_slice(&[15 << 3, 1]);
    let read = hub::Event::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(read, event);
    let unknown = read.kind().expect_err("not a kind of this version");
    assert_eq!(unknown.text, "API_PRODUCT_CREATE");
    assert_eq!(unknown.to_string(), "`API_PRODUCT_CREATE` is not a known event kind");
    let known = hub::Event { event_type: EventKind::TokenRevocation.as_str().into(), ..read };
    assert_eq!(known.kind(), Ok(EventKind::TokenRevocation));
    // The header's fields are the same whatever the kind; a payload with more fields is still read.
    let payload: serde_json::Value = serde_json::from_str(&known.payload).expect("json");
    assert_eq!(payload["productId"], "p");
}
