//! Read replicas with read-your-writes. Two SQLite files stand in for the primary and a replica:
//! nothing replicates between them, so where a read was served is visible in its answer.

mod common;

use common::{Backend, TestServer};
use serde_json::json;

#[actix_web::test]
async fn reads_go_to_the_replica_unless_the_client_just_wrote() {
    let dir = std::env::temp_dir().join(format!("hms-replica-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let replica_url = format!("sqlite://{}", dir.join("replica.db").display());
    // The "replica" has the schema (a real standby follows the primary's migrations).
    let replica =
        hms::store::Store::open(hms::store::DbTarget::parse(&replica_url).unwrap(), 1).unwrap();
    hms::store::migrate::run_pending(&replica).unwrap();
    drop(replica);

    let url = replica_url.clone();
    let server = TestServer::start_with(Backend::Sqlite, move |c| {
        c.database_replica_urls = vec![url];
        // The read cache holds the primary's committed versions and would answer these reads;
        // off, so that where a read ran stays visible.
        c.cache.size_mib = 0;
    });
    let c = server.client();
    let created = c
        .post(
            "Patient",
            &json!({"resourceType": "Patient", "birthDate": "1970"}),
        )
        .await;
    assert_eq!(created.status, 201);
    let token = created
        .header("x-hms-read-after")
        .expect("write token header");
    let cookie = created.header("set-cookie").expect("write token cookie");
    assert!(
        cookie.starts_with(&format!("hms_read_after={token};")),
        "{cookie}"
    );
    assert!(cookie.contains("HttpOnly"));
    let id = created
        .header("location")
        .unwrap()
        .split('/')
        .rev()
        .nth(2)
        .unwrap()
        .to_string();
    let path = format!("Patient/{id}");

    // No token: served by the replica, which (not replicating) has never seen the patient.
    assert_eq!(c.get(&path).await.status, 404);
    let s = c.get(&format!("Patient?_id={id}")).await.json();
    assert_eq!(s["total"], 0);

    // The writer's token (header or cookie) sends its reads to the primary.
    assert_eq!(
        c.get_h(&path, &[("x-hms-read-after", &token)]).await.status,
        200
    );
    let cookie_header = format!("hms_read_after={token}");
    assert_eq!(
        c.get_h(&path, &[("cookie", &cookie_header)]).await.status,
        200
    );
    let s = c
        .get_h(
            &format!("Patient?_id={id}"),
            &[("x-hms-read-after", &token)],
        )
        .await
        .json();
    assert_eq!(s["total"], 1);

    // Reads never mint tokens; a stale token (older than the window) reads from the replica.
    assert!(c.get(&path).await.header("x-hms-read-after").is_none());
    assert_eq!(
        c.get_h(&path, &[("x-hms-read-after", "1000")]).await.status,
        404
    );
    // Writes still go to the primary whatever the token says.
    let upd = c
        .put_h(
            &path,
            &json!({"resourceType": "Patient", "id": id, "birthDate": "1971"}),
            &[("x-hms-read-after", "1000")],
        )
        .await;
    assert_eq!(upd.status, 200);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn without_replicas_no_tokens_are_minted() {
    let server = TestServer::start(Backend::Sqlite);
    let c = server.client();
    let created = c.post("Patient", &json!({"resourceType": "Patient"})).await;
    assert_eq!(created.status, 201);
    assert!(created.header("x-hms-read-after").is_none());
    assert!(created.header("set-cookie").is_none());
}
