#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! PATCH with JSON Patch and FHIRPath Patch, over HTTP and inside transactions.

mod common;

use awc::http::Method;
use common::{Client, TestServer, backends};
use serde_json::{Value, json};

const JSON_PATCH: &str = "application/json-patch+json";

async fn patch(
    c: &Client,
    path: &str,
    ct: &str,
    body: &Value,
    extra: &[(&str, &str)],
) -> common::Resp {
    let mut h = vec![("content-type", ct)];
    h.extend_from_slice(extra);
    c.send(
        Method::PATCH,
        path,
        &h,
        Some(serde_json::to_vec(body).unwrap()),
    )
    .await
}

async fn seed(c: &Client) -> String {
    let r = c
        .post(
            "Patient",
            &json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "p1"}],
                    "name": [{"family": "Old", "given": ["A"]}], "gender": "female", "active": true}),
        )
        .await;
    r.json()["id"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn json_patch_replace_add_remove_and_failures() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let id = seed(&c).await;
        let url = format!("Patient/{id}");
        let r = patch(
            &c,
            &url,
            JSON_PATCH,
            &json!([
                {"op": "test", "path": "/name/0/family", "value": "Old"},
                {"op": "replace", "path": "/name/0/family", "value": "New"},
                {"op": "add", "path": "/name/0/given/-", "value": "B"},
                {"op": "add", "path": "/birthDate", "value": "1970-05-06"},
                {"op": "remove", "path": "/active"}
            ]),
            &[("if-match", "W/\"1\"")],
        )
        .await;
        assert_eq!(r.status, 200, "{b:?}: {}", r.text());
        let v = r.json();
        assert_eq!(v["meta"]["versionId"], "2");
        assert_eq!(v["name"][0]["family"], "New");
        assert_eq!(v["name"][0]["given"], json!(["A", "B"]));
        assert_eq!(v["birthDate"], "1970-05-06");
        assert!(v.get("active").is_none());
        assert_eq!(r.header("etag").as_deref(), Some("W/\"2\""));
        let h = c.get(&format!("{url}/_history")).await.json();
        assert_eq!(h["entry"][0]["request"]["method"], "PATCH");
        // A failing test op: 422, nothing written.
        let r = patch(
            &c,
            &url,
            JSON_PATCH,
            &json!([{"op": "test", "path": "/gender", "value": "male"}]),
            &[],
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text());
        // A path that does not exist: 422.
        let r = patch(
            &c,
            &url,
            JSON_PATCH,
            &json!([{"op": "remove", "path": "/deceasedBoolean"}]),
            &[],
        )
        .await;
        assert_eq!(r.status, 422);
        // A malformed patch document: 400.
        let r = patch(&c, &url, JSON_PATCH, &json!({"op": "remove"}), &[]).await;
        assert_eq!(r.status, 400);
        // If-Match on an old version: 412.
        let r = patch(
            &c,
            &url,
            JSON_PATCH,
            &json!([{"op": "replace", "path": "/gender", "value": "male"}]),
            &[("if-match", "W/\"1\"")],
        )
        .await;
        assert_eq!(r.status, 412);
        // A result that is not a valid Patient: 400.
        let r = patch(
            &c,
            &url,
            JSON_PATCH,
            &json!([{"op": "replace", "path": "/gender", "value": "sometimes"}]),
            &[],
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.text());
        let r = patch(
            &c,
            &url,
            JSON_PATCH,
            &json!([{"op": "add", "path": "/bogusElement", "value": 1}]),
            &[],
        )
        .await;
        assert_eq!(r.status, 400);
        // Changing the id is refused.
        let r = patch(
            &c,
            &url,
            JSON_PATCH,
            &json!([{"op": "replace", "path": "/id", "value": "other"}]),
            &[],
        )
        .await;
        assert_eq!(r.status, 422);
        assert_eq!(c.get(&url).await.json()["meta"]["versionId"], "2");
        // Unknown resource: 404; wrong content type: 415.
        assert_eq!(
            patch(&c, "Patient/nope", JSON_PATCH, &json!([]), &[])
                .await
                .status,
            404
        );
        assert_eq!(
            patch(&c, &url, "text/plain", &json!([]), &[]).await.status,
            415
        );
        // Conditional PATCH.
        let r = patch(
            &c,
            "Patient?identifier=urn:mrn|p1",
            JSON_PATCH,
            &json!([{"op": "replace", "path": "/gender", "value": "other"}]),
            &[],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["gender"], "other");
        assert_eq!(
            patch(
                &c,
                "Patient?identifier=urn:mrn|none",
                JSON_PATCH,
                &json!([]),
                &[]
            )
            .await
            .status,
            404
        );
    }
}

#[actix_web::test]
async fn fhirpath_patch() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let id = seed(&c).await;
        let url = format!("Patient/{id}");
        let params = json!({"resourceType": "Parameters", "parameter": [
            {"name": "operation", "part": [{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Patient.gender"}, {"name": "value", "valueCode": "male"}]},
            {"name": "operation", "part": [{"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Patient"}, {"name": "name", "valueString": "birthDate"}, {"name": "value", "valueDate": "2001-01-01"}]},
            {"name": "operation", "part": [{"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": "Patient.active"}]},
            {"name": "operation", "part": [{"name": "type", "valueCode": "insert"}, {"name": "path", "valueString": "Patient.name"}, {"name": "index", "valueInteger": 0}, {"name": "value", "valueHumanName": {"family": "First"}}]}
        ]});
        let r = patch(&c, &url, "application/fhir+json", &params, &[]).await;
        assert_eq!(r.status, 200, "{b:?}: {}", r.text());
        let v = r.json();
        assert_eq!(v["gender"], "male");
        assert_eq!(v["birthDate"], "2001-01-01");
        assert!(v.get("active").is_none());
        assert_eq!(v["name"][0]["family"], "First");
        assert_eq!(v["name"][1]["family"], "Old");
        let bad = json!({"resourceType": "Parameters", "parameter": [
            {"name": "operation", "part": [{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Patient.name"}, {"name": "value", "valueString": "x"}]}]});
        assert_eq!(
            patch(&c, &url, "application/fhir+json", &bad, &[])
                .await
                .status,
            422
        );
    }
}

#[actix_web::test]
async fn conditional_json_patch_inside_a_transaction() {
    use base64::Engine;
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let id = seed(&c).await;
        // The HL7 A40 merge shape: PATCH Patient?identifier=sys|val with a Binary JSON Patch.
        let doc = json!([{"op": "add", "path": "/link", "value": [{"other": {"reference": "urn:uuid:99999999-0000-0000-0000-000000000000"}, "type": "replaced-by"}]},
                         {"op": "replace", "path": "/active", "value": false}]);
        let data =
            base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&doc).unwrap());
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:99999999-0000-0000-0000-000000000000",
             "resource": {"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "survivor"}]},
             "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data},
             "request": {"method": "PATCH", "url": "Patient?identifier=urn:mrn|p1"}}
        ]});
        let r = c.post("", &bundle).await;
        assert_eq!(r.status, 200, "{b:?}: {}", r.text());
        let resp = r.json();
        assert_eq!(resp["entry"][1]["response"]["status"], "200 OK");
        let survivor = resp["entry"][0]["resource"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let v = c.get(&format!("Patient/{id}")).await.json();
        assert_eq!(v["active"], false);
        assert_eq!(v["meta"]["versionId"], "2");
        // References the patch adds are rewritten like the resources' own.
        assert_eq!(v["link"][0]["type"], "replaced-by");
        assert_eq!(
            v["link"][0]["other"]["reference"],
            format!("Patient/{survivor}")
        );
        // A failing patch rolls the transaction back.
        let fail = base64::engine::general_purpose::STANDARD
            .encode(br#"[{"op":"test","path":"/active","value":true}]"#);
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": fail},
             "request": {"method": "PATCH", "url": format!("Patient/{id}")}}
        ]});
        let r = c.post("", &bundle).await;
        assert_eq!(r.status, 422, "{}", r.text());
        assert_eq!(c.get("Patient/_history?_count=0").await.json()["total"], 3);
    }
}
