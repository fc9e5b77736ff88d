use super::*;

fn stored(id: &str, api_id: Option<&str>, name: &str, version: &str) -> OperationPolicyRecord {
    OperationPolicyRecord {
        id: id.into(),
        api_id: api_id.map(str::to_string),
        name: name.into(),
        version: version.into(),
        specification: "{}".into(),
        synapse_definition: None,
        cc_definition: None,
        created_at: 0,
    }
}

fn field_of(e: &ApiError) -> &str {
    e.fields.first().map(|(f, _)| f.as_str()).unwrap_or("")
}

#[test]
fn attachments_resolve_to_common_or_own_policies() {
    let add = |extra: Value| {
        let mut p = json!({"policyName": "addHeader", "parameters": {"headerName": "X-A", "headerValue": "1"}});
        if let (Some(o), Value::Object(x)) = (p.as_object_mut(), extra) {
            o.extend(x);
        }
        p
    };
    let stored = [stored("mine", Some("api-1"), "addHeader", "v2"), stored("c2", None, "addHeader", "v4")];
    let mut flows = json!({"request": [add(json!({})), add(json!({"policyVersion": "v2"})), add(json!({"policyId": "c2"}))],
                           "response": [add(json!({"policyId": COMMON[0].id}))]});
    resolve_attachments(&mut flows, "apiPolicies", &stored).expect("resolves");
    assert_eq!(flows["request"][0]["policyId"], COMMON[0].id);
    assert_eq!(flows["request"][0]["policyVersion"], "v1");
    assert_eq!(flows["request"][1]["policyId"], "mine");
    assert_eq!(flows["request"][2]["policyVersion"], "v4");
    assert_eq!(flows["response"][0]["policyVersion"], "v1");
    // An id from elsewhere (another WSO2's export) is looked up by name and version.
    let mut flows = json!({"request": [add(json!({"policyId": "f56eb8b4-128c-45aa-ad35-9c87a546261a"}))]});
    resolve_attachments(&mut flows, "apiPolicies", &stored).expect("by name");
    assert_eq!(flows["request"][0]["policyId"], COMMON[0].id);

    for (attachment, field) in [
        (add(json!({"policyId": "theirs", "policyVersion": "v3"})), "apiPolicies.request[0].policyId"),
        (add(json!({"policyId": "mine", "policyName": "removeHeader"})), "apiPolicies.request[0].policyName"),
        (add(json!({"policyVersion": "v3"})), "apiPolicies.request[0].policyVersion"),
        (add(json!({"policyId": COMMON[1].id})), "apiPolicies.request[0].policyName"),
        (add(json!({"policyId": "mine", "policyVersion": "v1"})), "apiPolicies.request[0].policyVersion"),
        (add(json!({"policyId": 7})), "apiPolicies.request[0].policyId"),
    ] {
        let mut flows = json!({"request": [attachment]});
        let e = resolve_attachments(&mut flows, "apiPolicies", &stored).expect_err(field);
        assert_eq!(field_of(&e), field, "{}", e.description);
    }
}

#[test]
fn specifications_must_name_a_policy_the_gateway_runs() {
    let custom = "name: setCustomHeader\nversion: v1\ncategory: Mediation\n";
    let e = check_spec(custom, "policySpecFile").expect_err("custom");
    assert_eq!(field_of(&e), "policySpecFile.name");
    assert!(e.description.contains("custom policies cannot run here"), "{}", e.description);
    assert!(e.description.contains(".j2"), "{}", e.description);

    // WSO2's exported form, wrapped, with its own display texts.
    let wso2 = r#"
type: operation_policy_specification
version: v4.2.0
data:
  category: Mediation
  name: addHeader
  version: v2
  displayName: Add Header v2
  description: adds a header
  applicableFlows: [request, response]
  supportedGateways: [Synapse]
  supportedApiTypes: [HTTP]
  policyAttributes:
    - name: headerName
      displayName: Header Name
      type: String
      required: true
    - name: headerValue
      type: String
      required: true
"#;
    let spec = check_spec(wso2, "policySpecFile").expect("spec");
    assert_eq!(spec["version"], "v2");
    assert_eq!(spec["displayName"], "Add Header v2");
    assert_eq!(spec["policyAttributes"][1]["name"], "headerValue");

    for (text, field) in [
        ("name: addQueryParam\napplicableFlows: [response]\n", "policySpecFile.applicableFlows[0]"),
        ("name: addHeader\nsupportedGateways: [APK]\n", "policySpecFile.supportedGateways[0]"),
        ("name: addHeader\npolicyAttributes: [{name: headerName}, {name: script}]\n", "policySpecFile.policyAttributes[1].name"),
        (
            "name: addHeader\npolicyAttributes: [{name: headerName, type: Integer}, {name: headerValue}]\n",
            "policySpecFile.policyAttributes[0].type",
        ),
        (
            "name: addHeader\npolicyAttributes: [{name: headerName, required: false}, {name: headerValue}]\n",
            "policySpecFile.policyAttributes[0].required",
        ),
        ("name: addHeader\npolicyAttributes: [{name: headerName}]\n", "policySpecFile.policyAttributes"),
        ("name: addHeader\nversion: 'v 2'\n", "policySpecFile.version"),
        ("name: [addHeader]\n", "policySpecFile.name"),
        ("- addHeader\n", "policySpecFile"),
    ] {
        let e = check_spec(text, "policySpecFile").expect_err(text);
        assert_eq!(field_of(&e), field, "{text}: {}", e.description);
    }
}

#[test]
fn an_export_imports_back() {
    let spec = builtin_spec(&COMMON[0]);
    for format in [Format::Yaml, Format::Json] {
        let (file, bytes) = archive(&spec, Some("<sequence/>"), None, format).expect("archive");
        assert_eq!(file, "addHeader_v1.zip");
        let up = unpack(&bytes).expect("unpack");
        assert_eq!(up.synapse.as_deref(), Some("<sequence/>"));
        let back = check_spec(up.spec.as_deref().expect("spec"), "file").expect("spec");
        assert_eq!(back, spec);
    }
}

#[test]
fn attached_policies_are_found_by_id() {
    let doc = json!({"apiPolicies": {"request": [{"policyId": "a"}]},
                     "operations": [{"operationPolicies": {"fault": [{"policyId": "b"}]}}]});
    assert!(attaches(&doc, "a") && attaches(&doc, "b") && !attaches(&doc, "c"));
}
