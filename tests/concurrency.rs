#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! Races that have produced duplicates and corrupt versions in other servers must be impossible here.

mod common;

use common::{TestServer, backends};
use serde_json::json;

#[actix_web::test]
async fn fifty_parallel_puts_with_the_same_if_match() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let body = |n: usize| json!({"resourceType":"Patient","id":"race","name":[{"family": format!("F{n}")}]});
        assert_eq!(c.put("Patient/race", &body(0)).await.status, 201);
        let futures = (1..=50).map(|n| {
            let c = c.clone();
            let b = body(n);
            async move {
                c.put_h("Patient/race", &b, &[("If-Match", "W/\"1\"")])
                    .await
                    .status
            }
        });
        let statuses = futures_util::future::join_all(futures).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{b:?}: {statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 412).count(),
            49,
            "{b:?}: {statuses:?}"
        );
        // still updatable, versions without gaps
        let r = c
            .put_h("Patient/race", &body(99), &[("If-Match", "W/\"2\"")])
            .await;
        assert_eq!(r.status, 200);
        let h = c.get("Patient/race/_history").await.json();
        let versions: Vec<&str> = h["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["meta"]["versionId"].as_str().unwrap())
            .collect();
        assert_eq!(versions, vec!["3", "2", "1"]);
        // without If-Match, 20 parallel updates all succeed with distinct consecutive versions
        let futures = (1..=20).map(|n| {
            let c = c.clone();
            let b = body(n);
            async move {
                c.put("Patient/race", &b).await.json()["meta"]["versionId"]
                    .as_str()
                    .unwrap()
                    .parse::<i64>()
                    .unwrap()
            }
        });
        let mut got = futures_util::future::join_all(futures).await;
        got.sort();
        assert_eq!(got, (4..=23).collect::<Vec<_>>());
    }
}

#[actix_web::test]
async fn sixteen_parallel_conditional_creates() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let body =
            json!({"resourceType":"Patient","identifier":[{"system":"urn:race","value":"42"}]});
        let futures = (0..16).map(|_| {
            let c = c.clone();
            let b = body.clone();
            async move {
                let r = c
                    .post_h(
                        "Patient",
                        &b,
                        &[("If-None-Exist", "identifier=urn:race|42")],
                    )
                    .await;
                (r.status, r.json()["id"].as_str().unwrap().to_string())
            }
        });
        let results = futures_util::future::join_all(futures).await;
        assert_eq!(
            results.iter().filter(|(s, _)| *s == 201).count(),
            1,
            "{b:?}: {results:?}"
        );
        assert_eq!(
            results.iter().filter(|(s, _)| *s == 200).count(),
            15,
            "{b:?}: {results:?}"
        );
        let first = &results[0].1;
        assert!(results.iter().all(|(_, id)| id == first), "{results:?}");
        let found = c.get("Patient?identifier=urn:race|42").await.json();
        assert_eq!(found["entry"].as_array().unwrap().len(), 1);
    }
}

#[actix_web::test]
async fn parallel_update_as_create_of_one_new_id() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let futures = (0..10).map(|n| {
            let c = c.clone();
            async move {
                c.put("Patient/new-one", &json!({"resourceType":"Patient","id":"new-one","gender": if n % 2 == 0 {"male"} else {"female"}}))
                    .await
                    .status
            }
        });
        let statuses = futures_util::future::join_all(futures).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{b:?}: {statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            9,
            "{b:?}: {statuses:?}"
        );
        assert_eq!(c.get("Patient/new-one/_history").await.json()["total"], 10);
    }
}
