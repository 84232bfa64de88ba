#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! SearchParameters created through the API: new writes are indexed at once, searches say when
//! existing resources are not reindexed yet, and `hms reindex` completes them.

mod common;

use common::{TestServer, backends};
use serde_json::{Value, json};

fn patient(id: &str, colour: &str) -> Value {
    json!({"resourceType":"Patient","id":id,"extension":[{"url":"http://example.org/eyecolour","valueString":colour}]})
}

fn search_param(expression: &str) -> Value {
    json!({
        "resourceType":"SearchParameter","id":"eyecolour","url":"http://example.org/sp/eyecolour","name":"EyeColour",
        "status":"active","description":"Eye colour","code":"eyecolour","base":["Patient"],"type":"token",
        "expression": expression
    })
}

fn match_ids(b: &Value) -> Vec<String> {
    let mut v: Vec<String> = b["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn warnings(b: &Value) -> Vec<String> {
    b["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "outcome")
        .flat_map(|e| {
            e["resource"]["issue"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["code"].as_str().unwrap().to_string())
        })
        .collect()
}

#[actix_web::test]
async fn custom_parameter_lifecycle_with_reindex() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        for (id, colour) in [("e1", "blue"), ("e2", "green"), ("e3", "blue")] {
            assert_eq!(
                c.put(&format!("Patient/{id}"), &patient(id, colour))
                    .await
                    .status,
                201
            );
        }
        // A definition that cannot run is refused, naming the element.
        let r = c
            .put(
                "SearchParameter/eyecolour",
                &search_param("Patient.extension.where("),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(
            r.outcome()[0].2,
            vec!["SearchParameter.expression".to_string()]
        );
        // Unknown before it exists (strict).
        assert_eq!(
            c.get_h("Patient?eyecolour=blue", &[("Prefer", "handling=strict")])
                .await
                .status,
            400
        );

        let expr = "Patient.extension.where(url='http://example.org/eyecolour').value";
        assert_eq!(
            c.put("SearchParameter/eyecolour", &search_param(expr))
                .await
                .status,
            201
        );
        // Written after the definition: indexed at once. Existing ones: not yet, and the search says so.
        assert_eq!(
            c.put("Patient/e4", &patient("e4", "blue")).await.status,
            201
        );
        let r = c.get("Patient?eyecolour=blue").await.json();
        assert_eq!(match_ids(&r), vec!["e4"]);
        assert_eq!(warnings(&r), vec!["incomplete"]);
        let diag = r["entry"][1]["resource"]["issue"][0]["diagnostics"]
            .as_str()
            .unwrap();
        assert!(diag.contains("0 of 3"), "{diag}");

        // The reindex job (what `hms reindex` runs) completes it, reporting progress.
        let store = hms::app::open_store(&srv.config).unwrap();
        let mut progress = Vec::new();
        let done = hms::interactions::reindex::run(&store, |url, d, t| {
            progress.push((url.to_string(), d, t))
        })
        .unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].resources, 4);
        assert_eq!(
            progress.last().unwrap(),
            &("http://example.org/sp/eyecolour".to_string(), 4, 4)
        );
        let r = c.get("Patient?eyecolour=blue").await.json();
        assert_eq!(match_ids(&r), vec!["e1", "e3", "e4"]);
        assert!(warnings(&r).is_empty(), "{r}");
        assert_eq!(
            match_ids(&c.get("Patient?eyecolour:not=blue").await.json()),
            vec!["e2"]
        );
        // Nothing left to do the second time.
        assert!(
            hms::interactions::reindex::run(&store, |_, _, _| {})
                .unwrap()
                .is_empty()
        );

        // Deleting the definition retires the parameter.
        assert_eq!(c.delete("SearchParameter/eyecolour").await.status, 204);
        assert_eq!(
            c.get_h("Patient?eyecolour=blue", &[("Prefer", "handling=strict")])
                .await
                .status,
            400
        );
    }
}
