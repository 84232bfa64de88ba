#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! The read cache: every write path leaves read and vread on the exact new version (in-process
//! and Redis backends), two servers sharing a database and a Redis see each other's writes at
//! once, `--cache-size 0` turns it off, and hits are counted on /metrics.

mod common;

use std::time::Duration;

use awc::http::Method;
use common::{Backend, Client, TestServer, backends, pg_url};
use hms::config::Config;
use hms::mllp::client::{MllpClient, msa_code};
use serde_json::{Value, json};

fn redis_url() -> Option<String> {
    std::env::var("HMS_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Each database backend with the in-process cache, and with the Redis cache when available.
fn variants() -> Vec<(Backend, Option<String>)> {
    let mut v = Vec::new();
    for b in backends() {
        v.push((b, None));
        if let Some(r) = redis_url() {
            v.push((b, Some(r)));
        } else {
            eprintln!("note: HMS_TEST_REDIS_URL is not set; Redis cache variant skipped");
        }
    }
    v
}

fn with_redis(redis: Option<String>) -> impl FnOnce(&mut Config) {
    move |c| c.sync.redis_url = redis
}

/// The version the database holds (a search never goes through the cache).
async fn db_version(c: &Client, t: &str, id: &str) -> Option<String> {
    let r = c.get(&format!("{t}?_id={id}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["entry"][0]["resource"]["meta"]["versionId"]
        .as_str()
        .map(str::to_string)
}

/// Reads twice (the second is a cache hit) and vreads: each must be exactly version `v`, and
/// agree with the database.
async fn expect_version(c: &Client, t: &str, id: &str, v: &str) -> Value {
    for _ in 0..2 {
        let r = c.get(&format!("{t}/{id}")).await;
        assert_eq!(r.status, 200, "{t}/{id}: {}", r.text());
        assert_eq!(r.json()["meta"]["versionId"], v, "{t}/{id}");
        assert_eq!(
            r.header("etag").as_deref(),
            Some(format!("W/\"{v}\"").as_str())
        );
    }
    let r = c.get(&format!("{t}/{id}/_history/{v}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["meta"]["versionId"], v);
    assert_eq!(db_version(c, t, id).await.as_deref(), Some(v));
    c.get(&format!("{t}/{id}")).await.json()
}

fn patient(family: &str) -> Value {
    json!({"resourceType": "Patient", "identifier": [{"system": "urn:cache", "value": "c-1"}],
           "name": [{"family": family}], "active": true})
}

fn with_id(mut v: Value, id: &str) -> Value {
    v["id"] = json!(id);
    v
}

const A04: &str = "MSH|^~\\&|REG|HOSP|HMS|HMS|20240102153000+0100||ADT^A04^ADT_A01|CTRL|P|2.5.1\r\
EVN|A04|20240102153000+0100\r\
PID|1||MRN^^^HOSP^MR||FAMILY^RICHARD^Q||19700102|M\r\
PV1|1|O|CLINIC^101^1||||||||||||||||VN-CTRL^^^HOSP^VN|||||||||||||||||||||||||20240102150000+0100\r";

fn a04(mrn: &str, family: &str, ctrl: &str) -> String {
    A04.replace("MRN^", &format!("{mrn}^"))
        .replace("FAMILY", family)
        .replace("CTRL", ctrl)
}

async fn patient_id_by_mrn(c: &Client, mrn: &str) -> String {
    let r = c
        .get(&format!("Patient?identifier=urn:hms:id:HOSP|{mrn}"))
        .await;
    r.json()["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[actix_web::test]
async fn every_write_path_leaves_the_exact_new_version() {
    for (b, redis) in variants() {
        let srv = TestServer::start_with(b, with_redis(redis.clone()));
        let c = srv.client();
        let r = c.post("Patient", &patient("Create")).await;
        assert_eq!(r.status, 201);
        let id = r.json()["id"].as_str().unwrap().to_string();
        expect_version(&c, "Patient", &id, "1").await;

        let r = c
            .put(&format!("Patient/{id}"), &with_id(patient("Update"), &id))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let got = expect_version(&c, "Patient", &id, "2").await;
        assert_eq!(got["name"][0]["family"], "Update");

        let r = c
            .put("Patient?identifier=urn:cache|c-1", &patient("Conditional"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let got = expect_version(&c, "Patient", &id, "3").await;
        assert_eq!(got["name"][0]["family"], "Conditional");

        let r = c
            .send(
                Method::PATCH,
                &format!("Patient/{id}"),
                &[("content-type", "application/json-patch+json")],
                Some(
                    serde_json::to_vec(
                        &json!([{"op": "replace", "path": "/active", "value": false}]),
                    )
                    .unwrap(),
                ),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let got = expect_version(&c, "Patient", &id, "4").await;
        assert_eq!(got["active"], false);

        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": with_id(patient("Transaction"), &id),
             "request": {"method": "PUT", "url": format!("Patient/{id}")}}]});
        let r = c.post("", &tx).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let got = expect_version(&c, "Patient", &id, "5").await;
        assert_eq!(got["name"][0]["family"], "Transaction");

        // A batch whose second entry fails: the first still commits, nothing of the second shows.
        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": with_id(patient("Batch"), &id),
             "request": {"method": "PUT", "url": format!("Patient/{id}")}},
            {"resource": with_id(patient("Refused"), &id),
             "request": {"method": "PUT", "url": format!("Patient/{id}"), "ifMatch": "W/\"1\""}}]});
        let r = c.post("", &batch).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.json()["entry"][1]["response"]["status"],
            "412 Precondition Failed"
        );
        let got = expect_version(&c, "Patient", &id, "6").await;
        assert_eq!(got["name"][0]["family"], "Batch");

        assert_eq!(c.delete(&format!("Patient/{id}")).await.status, 204);
        for _ in 0..2 {
            assert_eq!(c.get(&format!("Patient/{id}")).await.status, 410);
        }
        assert_eq!(c.get(&format!("Patient/{id}/_history/7")).await.status, 410);
        let r = c
            .put(&format!("Patient/{id}"), &with_id(patient("Again"), &id))
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        expect_version(&c, "Patient", &id, "8").await;
        // Older versions stay readable by vread.
        let r = c.get(&format!("Patient/{id}/_history/2")).await;
        assert_eq!(r.json()["name"][0]["family"], "Update");

        // HL7 v2 ingest (conditional upsert by identifier) and an A40 merge.
        let mut m = MllpClient::connect(&srv.mllp(), Duration::from_secs(60))
            .await
            .unwrap();
        let ack = m.send(a04("OLD-1", "ROE", "M-1").as_bytes()).await.unwrap();
        assert_eq!(
            msa_code(&ack).as_deref(),
            Some("AA"),
            "{}",
            String::from_utf8_lossy(&ack)
        );
        let pid = patient_id_by_mrn(&c, "OLD-1").await;
        expect_version(&c, "Patient", &pid, "1").await;
        let ack = m.send(a04("OLD-1", "DOE", "M-2").as_bytes()).await.unwrap();
        assert_eq!(
            msa_code(&ack).as_deref(),
            Some("AA"),
            "{}",
            String::from_utf8_lossy(&ack)
        );
        let got = expect_version(&c, "Patient", &pid, "2").await;
        assert_eq!(got["name"][0]["family"], "DOE");
        let a40 = "MSH|^~\\&|REG|HOSP|HMS|HMS|20240103100000+0100||ADT^A40^ADT_A39|M-3|P|2.5.1\r\
EVN|A40|20240103100000+0100\r\
PID|1||NEW-1^^^HOSP^MR||ROE^RICHARD^Q||19700102|M\r\
MRG|OLD-1^^^HOSP^MR\r";
        let ack = m.send(a40.as_bytes()).await.unwrap();
        assert_eq!(
            msa_code(&ack).as_deref(),
            Some("AA"),
            "{}",
            String::from_utf8_lossy(&ack)
        );
        let got = expect_version(&c, "Patient", &pid, "3").await;
        assert_eq!(got["active"], false);
        assert_eq!(got["link"][0]["type"], "replaced-by");
    }
}

/// Runs the real `hms` binary (another process) on the server's database.
fn hms_cli(srv: &TestServer, redis: &str, args: &[&str]) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hms"));
    cmd.args(args).arg("--no-mllp");
    match &srv.sqlite_path {
        Some(p) => cmd
            .arg("--database-url")
            .arg(format!("sqlite://{}", p.display())),
        None => cmd.arg("--database-url").arg(srv.pg_url_with_schema()),
    };
    let out = cmd
        .env("HMS_LOG", "warn")
        .env("HMS_REDIS_URL", redis)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[actix_web::test]
async fn two_servers_and_a_cli_share_the_redis_cache() {
    let Some(redis) = redis_url() else {
        eprintln!("note: HMS_TEST_REDIS_URL is not set; test skipped");
        return;
    };
    for b in backends() {
        let a = TestServer::start_with(b, with_redis(Some(redis.clone())));
        let bn = TestServer::start_on(a.share_db(), with_redis(Some(redis.clone())));
        let (ca, cb) = (a.client(), bn.client());
        let id = ca.post("Patient", &patient("A1")).await.json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        expect_version(&cb, "Patient", &id, "1").await;
        expect_version(&ca, "Patient", &id, "1").await;
        let r = ca
            .put(&format!("Patient/{id}"), &with_id(patient("A2"), &id))
            .await;
        assert_eq!(r.status, 200);
        let got = expect_version(&cb, "Patient", &id, "2").await;
        assert_eq!(got["name"][0]["family"], "A2");
        assert_eq!(cb.delete(&format!("Patient/{id}")).await.status, 204);
        assert_eq!(ca.get(&format!("Patient/{id}")).await.status, 410);

        // `hms import` writing straight into the database from its own process.
        let dir = std::env::temp_dir().join(format!("hms-cache-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.ndjson");
        let line = serde_json::to_string(&with_id(patient("Imported"), &id)).unwrap();
        std::fs::write(&file, format!("{line}\n")).unwrap();
        hms_cli(&a, &redis, &["import", file.to_str().unwrap()]);
        let _ = std::fs::remove_dir_all(&dir);
        let v = db_version(&ca, "Patient", &id).await.unwrap();
        assert_eq!(v, "4");
        for c in [&ca, &cb] {
            let got = expect_version(c, "Patient", &id, "4").await;
            assert_eq!(got["name"][0]["family"], "Imported");
        }
    }
}

#[actix_web::test]
async fn two_servers_without_redis_validate_hits() {
    for b in backends() {
        if b == Backend::Postgres && pg_url().is_none() {
            continue;
        }
        let validate = |c: &mut Config| {
            c.sync.redis_url = None;
            c.cache.validate = true;
        };
        let a = TestServer::start_with(b, validate);
        let bn = TestServer::start_on(a.share_db(), validate);
        let (ca, cb) = (a.client(), bn.client());
        let id = ca.post("Patient", &patient("V1")).await.json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        expect_version(&cb, "Patient", &id, "1").await;
        let r = ca
            .put(&format!("Patient/{id}"), &with_id(patient("V2"), &id))
            .await;
        assert_eq!(r.status, 200);
        let got = expect_version(&cb, "Patient", &id, "2").await;
        assert_eq!(got["name"][0]["family"], "V2");
    }
}

/// Changes a stored row behind the server's back: a cached read does not see it, an uncached
/// one does. That proves both that the cache serves hits and that size 0 turns it off.
#[actix_web::test]
async fn cache_size_zero_turns_the_cache_off() {
    for (b, redis) in variants() {
        for size in [64, 0] {
            let r2 = redis.clone();
            let srv = TestServer::start_with(b, move |c| {
                c.sync.redis_url = r2;
                c.cache.size_mib = size;
            });
            let c = srv.client();
            let id = c.post("Patient", &patient("S")).await.json()["id"]
                .as_str()
                .unwrap()
                .to_string();
            let before = c.get(&format!("Patient/{id}")).await;
            let lm = before.header("last-modified").unwrap();
            assert_ne!(lm, "Thu, 01 Jan 1970 00:00:00 GMT");
            srv.exec_sql(&format!(
                "UPDATE resource_history SET last_updated = 0 WHERE res_id = '{id}'"
            ));
            let after = c.get(&format!("Patient/{id}")).await;
            let expected = if size == 0 {
                "Thu, 01 Jan 1970 00:00:00 GMT".to_string()
            } else {
                lm
            };
            assert_eq!(
                after.header("last-modified").as_deref(),
                Some(expected.as_str()),
                "size {size}, redis {}",
                redis.is_some()
            );
        }
    }
}

fn counter(metrics: &str, line_start: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[actix_web::test]
async fn hits_and_misses_are_on_metrics() {
    let srv = TestServer::start_with(Backend::Sqlite, with_redis(None));
    let c = srv.client();
    let hit = "hms_cache_requests_total{backend=\"memory\",result=\"hit\"}";
    let miss = "hms_cache_requests_total{backend=\"memory\",result=\"miss\"}";
    let id = c.post("Patient", &patient("M")).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let metrics_url = format!("http://{}/metrics", srv.addr);
    let m0 = c.get(&metrics_url).await.text();
    for _ in 0..3 {
        assert_eq!(c.get(&format!("Patient/{id}")).await.status, 200);
    }
    assert_eq!(c.get("Patient/not-there").await.status, 404);
    let m1 = c.get(&metrics_url).await.text();
    // Other tests of this binary may read at the same time: at least ours are counted.
    assert!(counter(&m1, hit) - counter(&m0, hit) >= 3.0, "{m1}");
    assert!(counter(&m1, miss) - counter(&m0, miss) >= 1.0, "{m1}");
}
