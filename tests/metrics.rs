//! GET /metrics: request counters and latency histograms labelled by interaction and resource
//! type, and the database pool gauges.

mod common;

use common::{Backend, TestServer};
use serde_json::json;

#[actix_web::test]
async fn metrics_count_requests_by_interaction_and_type() {
    let server = TestServer::start(Backend::Sqlite);
    let c = server.client();
    let created = c
        .post(
            "Patient",
            &json!({"resourceType": "Patient", "birthDate": "1970"}),
        )
        .await;
    assert_eq!(created.status, 201);
    let loc = created.header("location").unwrap();
    let id = loc.split('/').rev().nth(2).unwrap().to_string();
    assert_eq!(c.get(&format!("Patient/{id}")).await.status, 200);
    assert_eq!(c.get("Patient/does-not-exist").await.status, 404);
    assert_eq!(c.get("Patient?_id=x").await.status, 200);

    let m = c.get(&format!("http://{}/metrics", server.addr)).await;
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    let text = m.text();
    let has = |needle: &str| {
        assert!(
            text.lines()
                .any(|l| l.starts_with(needle) || l.contains(needle)),
            "missing {needle} in:\n{text}"
        )
    };
    // Labels are sorted by the exporter in the order they were given.
    has(r#"hms_http_requests_total{interaction="create",resource_type="Patient",status="201"}"#);
    has(r#"hms_http_requests_total{interaction="read",resource_type="Patient",status="200"}"#);
    has(r#"hms_http_requests_total{interaction="read",resource_type="Patient",status="404"}"#);
    has(
        r#"hms_http_requests_total{interaction="search-type",resource_type="Patient",status="200"}"#,
    );
    has(
        r#"hms_http_request_duration_seconds_bucket{interaction="read",resource_type="Patient",le="0.005"}"#,
    );
    has(r#"hms_http_request_duration_seconds_count{interaction="create",resource_type="Patient"}"#);
    has(r#"hms_db_pool_connections{state="in_use"}"#);
    has(r#"hms_db_pool_connections{state="idle"}"#);
    has("# TYPE hms_http_request_duration_seconds histogram");
    // Query strings never become label values.
    assert!(!text.contains("_id=x"));
}
