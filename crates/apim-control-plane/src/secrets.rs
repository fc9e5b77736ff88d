//! An API's backend credentials in its answers, as WSO2 4.x gives them: the stored document keeps the real values
//! (revisions and gateways need them), answers blank them, and a `PUT` that sends the blank back keeps them.
//!
//! WSO2's `APIMappingUtil.handleEndpointSecurity` blanks `password`, `clientSecret`, `apiKeyValue` and
//! `awsSecretKey` of `endpointConfig.endpoint_security.{production,sandbox}` and the `value` of each
//! `customParameters` entry marked `secured`; `handleAWSCredentials` answers `endpointConfig.amznSecretKey` as the
//! mask `AWS_SECRET_KEY`. `proxyConfigs.proxyPassword` of a section (OAuth through a proxy) is blanked and kept
//! the same way, though WSO2's code leaves it in its answers. On update (`APIProviderImpl.updateEndpointSecurity`,
//! `PublisherCommonUtils.encryptEndpointSecurityOAuthCredentials`) a blank value takes the stored one.

use serde_json::{Map, Value};

/// Secret fields of an `endpoint_security` section.
const SECTION_SECRETS: [&str; 4] = ["password", "clientSecret", "apiKeyValue", "awsSecretKey"];
/// The sections of `endpoint_security`.
const SECTIONS: [&str; 2] = ["production", "sandbox"];
/// WSO2's answer for a stored AWS Lambda secret key (`APIConstants.AWS_SECRET_KEY`).
pub const AWS_SECRET_MASK: &str = "AWS_SECRET_KEY";

/// Blanks the backend credentials of an API document about to be answered.
pub fn mask(doc: &mut Map<String, Value>) {
    let Some(Value::Object(ec)) = doc.get_mut("endpointConfig") else { return };
    if let Some(Value::String(key)) = ec.get_mut("amznSecretKey")
        && !key.is_empty()
    {
        *key = AWS_SECRET_MASK.to_string();
    }
    let Some(Value::Object(sec)) = ec.get_mut("endpoint_security") else { return };
    for name in SECTIONS {
        let Some(Value::Object(section)) = sec.get_mut(name) else { continue };
        for field in SECTION_SECRETS {
            if let Some(v) = section.get_mut(field)
                && !v.is_null()
            {
                *v = Value::String(String::new());
            }
        }
        if let Some(v) = section.get_mut("proxyConfigs").and_then(|p| p.get_mut("proxyPassword"))
            && !v.is_null()
        {
            *v = Value::String(String::new());
        }
        if let Some(Value::Object(params)) = section.get_mut("customParameters") {
            for p in params.values_mut() {
                if let Value::Object(p) = p
                    && p.get("secured") == Some(&Value::Bool(true))
                {
                    p.insert("value".into(), Value::String(String::new()));
                }
            }
        }
    }
}

/// On update: each credential `new` leaves blank (absent, null or empty) where `old`, the stored document, has
/// one in the same place is taken from `old`, so a client that PUTs back what it read keeps the secret; a value
/// given replaces it. A section `new` leaves out is gone, credentials and all.
pub fn keep_stored(new: &mut Map<String, Value>, old: &Value) {
    let Some(Value::Object(ec)) = new.get_mut("endpointConfig") else { return };
    let old_ec = &old["endpointConfig"];
    if ec.get("amznSecretKey").and_then(Value::as_str) == Some(AWS_SECRET_MASK)
        && let Some(stored) = old_ec.get("amznSecretKey").filter(|v| given(v))
    {
        ec.insert("amznSecretKey".into(), stored.clone());
    }
    let Some(Value::Object(sec)) = ec.get_mut("endpoint_security") else { return };
    for name in SECTIONS {
        let Some(Value::Object(section)) = sec.get_mut(name) else { continue };
        let stored = &old_ec["endpoint_security"][name];
        for field in SECTION_SECRETS {
            if !section.get(field).is_some_and(given)
                && let Some(v) = stored.get(field).filter(|v| given(v))
            {
                section.insert(field.into(), v.clone());
            }
        }
        if let Some(Value::Object(proxy)) = section.get_mut("proxyConfigs")
            && !proxy.get("proxyPassword").is_some_and(given)
            && let Some(v) = stored["proxyConfigs"].get("proxyPassword").filter(|v| given(v))
        {
            proxy.insert("proxyPassword".into(), v.clone());
        }
        if let Some(Value::Object(params)) = section.get_mut("customParameters") {
            for (key, p) in params.iter_mut() {
                let Value::Object(p) = p else { continue };
                if p.get("secured") == Some(&Value::Bool(true))
                    && !p.get("value").is_some_and(given)
                    && let Some(v) = stored["customParameters"][key].get("value").filter(|v| given(v))
                {
                    p.insert("value".into(), v.clone());
                }
            }
        }
    }
}

/// A value that says something: neither null nor an empty string.
fn given(v: &Value) -> bool {
    !matches!(v, Value::Null) && v.as_str() != Some("")
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{keep_stored, mask};

    fn stored() -> Value {
        json!({"name": "A", "endpointConfig": {"endpoint_type": "http", "amznSecretKey": "aws-real",
            "endpoint_security": {
                "production": {"enabled": true, "type": "BASIC", "username": "u", "password": "pw"},
                "sandbox": {"enabled": true, "type": "OAUTH", "clientId": "cid", "clientSecret": "cs", "password": null,
                    "proxyConfigs": {"proxyEnabled": true, "proxyUsername": "pu", "proxyPassword": "proxy-real"},
                    "customParameters": {"aud": {"value": "pizza", "secured": false}, "key": {"value": "k-real", "secured": true}}}}}})
    }

    #[test]
    fn answers_blank_every_credential_and_nothing_else() {
        let mut doc = stored().as_object().cloned().expect("object");
        mask(&mut doc);
        let ec = &doc["endpointConfig"];
        assert_eq!(ec["amznSecretKey"], "AWS_SECRET_KEY");
        assert_eq!(ec["endpoint_security"]["production"], json!({"enabled": true, "type": "BASIC", "username": "u", "password": ""}));
        let sandbox = &ec["endpoint_security"]["sandbox"];
        assert_eq!((&sandbox["clientId"], &sandbox["clientSecret"], &sandbox["password"]), (&json!("cid"), &json!(""), &Value::Null));
        assert_eq!(
            sandbox["customParameters"],
            json!({"aud": {"value": "pizza", "secured": false}, "key": {"value": "", "secured": true}})
        );
        assert_eq!(sandbox["proxyConfigs"], json!({"proxyEnabled": true, "proxyUsername": "pu", "proxyPassword": ""}));
        let text = Value::Object(doc).to_string();
        for secret in ["pw\"", "cs\"", "k-real", "proxy-real", "aws-real"] {
            assert!(!text.contains(secret), "{secret} left in {text}");
        }
    }

    #[test]
    fn a_put_of_the_answer_keeps_the_stored_credentials() {
        let old = stored();
        let mut answer = old.as_object().cloned().expect("object");
        mask(&mut answer);
        keep_stored(&mut answer, &old);
        assert_eq!(Value::Object(answer), old);
    }

    #[test]
    fn new_values_replace_and_absent_sections_drop() {
        let old = stored();
        let mut new = old.as_object().cloned().expect("object");
        new["endpointConfig"]["endpoint_security"]["production"]["password"] = json!("new-pw");
        new["endpointConfig"]["endpoint_security"]["sandbox"]["customParameters"]["key"]["value"] = json!("k-new");
        new["endpointConfig"]["amznSecretKey"] = json!("aws-new");
        keep_stored(&mut new, &old);
        let ec = &new["endpointConfig"];
        assert_eq!((&ec["endpoint_security"]["production"]["password"], &ec["amznSecretKey"]), (&json!("new-pw"), &json!("aws-new")));
        assert_eq!(ec["endpoint_security"]["sandbox"]["customParameters"]["key"]["value"], "k-new");
        // A section left out is not brought back.
        let mut without = old.as_object().cloned().expect("object");
        without["endpointConfig"]["endpoint_security"].as_object_mut().expect("object").remove("sandbox");
        keep_stored(&mut without, &old);
        assert!(without["endpointConfig"]["endpoint_security"].get("sandbox").is_none());
    }
}
