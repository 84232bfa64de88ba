#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! The files in examples/ do what examples/README.md says, so that a new user's first try works.

mod common;

use std::time::Duration;

use common::{TestServer, backends};
use hms::mllp::client::{MllpClient, msa_code};

fn example(rel: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[actix_web::test]
async fn transaction_example_is_idempotent_and_hl7_examples_get_aa() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let bundle = example("bundles/transaction-patient-encounter.json");
        for _ in 0..2 {
            let r = c
                .post_raw(
                    "",
                    bundle.clone(),
                    &[("content-type", "application/fhir+json")],
                )
                .await;
            assert_eq!(r.status, 200, "{b:?}: {}", r.text());
        }
        // Patient and Encounter are conditional on their identifiers; the Observation is not.
        for (t, n) in [("Patient", 1), ("Encounter", 1), ("Observation", 2)] {
            let got = c.get(&format!("{t}?_summary=count")).await.json();
            assert_eq!(got["total"], n, "{b:?} {t}: {got}");
        }

        let mut mllp = MllpClient::connect(&srv.mllp(), Duration::from_secs(60))
            .await
            .unwrap();
        for f in [
            "adt_a01_msconv_1.hl7",
            "adt_a08_msconv_1.hl7",
            "adt_a03_msconv_1.hl7",
            "siu_s12_msconv_1.hl7",
            "siu_s15_msconv_1.hl7",
        ] {
            let raw = example(&format!("hl7/{f}"));
            let msg = hms_hl7v2::normalize_segment_terminators(&raw).into_owned();
            let ack = mllp.send(&msg).await.unwrap();
            assert_eq!(
                msa_code(&ack).as_deref(),
                Some("AA"),
                "{b:?} {f}: {}",
                String::from_utf8_lossy(&ack)
            );
        }
        // Five distinct control ids: five messages applied, none answered as a resend.
        let applied = c.get("Provenance?_summary=count").await.json();
        assert_eq!(applied["total"], 5, "{b:?}: {applied}");
    }
}
