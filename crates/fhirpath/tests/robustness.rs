//! Never panic on hostile input; deep nesting is an error, not a stack overflow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hms_fhirpath::{EvalContext, evaluate, parse};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Runs `f` on a thread with a 1 MiB stack (half the default for test threads) so a
/// regression to unbounded recursion fails loudly here.
fn small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn deep_parentheses_are_an_error() {
    small_stack(|| {
        let expr = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        let err = parse(&expr).unwrap_err();
        assert!(err.message.contains("too deeply"), "{err}");
        let open_only = "(".repeat(10_000);
        assert!(parse(&open_only).is_err());
    });
}

#[test]
fn long_chains_and_operators_are_bounded() {
    small_stack(|| {
        for expr in [
            "a.".repeat(10_000) + "a",
            "1".to_string() + &" + 1".repeat(10_000),
            "-".repeat(10_000) + "1",
            "a".to_string() + &"[0]".repeat(10_000),
            "f(".repeat(10_000),
            "x".to_string() + &".where(".repeat(5_000) + "true" + &")".repeat(5_000),
        ] {
            assert!(parse(&expr).is_err(), "{}", &expr[..20]);
        }
    });
}

#[test]
fn deepest_accepted_expression_evaluates_on_small_stack() {
    small_stack(|| {
        let depth = hms_fhirpath::MAX_DEPTH / 2 - 2;
        let expr = format!("{}1{}", "(1 + ".repeat(depth), ")".repeat(depth));
        let e = parse(&expr).unwrap();
        let r = json!({"resourceType": "Patient"});
        let out = evaluate(&e, &r, &EvalContext::new(&r)).unwrap();
        assert_eq!(out[0].to_json(), json!(depth + 1));
        let chain = "name.".repeat(hms_fhirpath::MAX_DEPTH - 5) + "given";
        let e = parse(&chain).unwrap();
        assert!(evaluate(&e, &r, &EvalContext::new(&r)).unwrap().is_empty());
        // The most deeply nested lambdas the parser accepts still fit the stack.
        for (open, close) in [
            ("where(", ")"),
            ("select(", ")"),
            ("iif(true, ", ")"),
            ("((", "))"),
        ] {
            let mut n = 1;
            while parse(&(open.repeat(n + 1) + "true" + &close.repeat(n + 1))).is_ok() {
                n += 1;
            }
            assert!(n >= 30, "{open}: only {n} levels");
            let e = parse(&(open.repeat(n) + "true" + &close.repeat(n))).unwrap();
            assert_eq!(evaluate(&e, &r, &EvalContext::new(&r)).unwrap().len(), 1);
        }
    });
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "-?[1-9][0-9]{0,2}\\.[0-9]{1,3}".prop_map(|s| serde_json::from_str(&s).unwrap()),
        "(19|20)[0-9]{2}(-0[1-9](-[0-2][0-9])?)?".prop_map(Value::String),
        "[a-zA-Z ]{0,8}".prop_map(Value::String),
        Just(json!("Patient/1")),
        Just(json!("#c1")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "name",
                        "given",
                        "_given",
                        "value",
                        "valueQuantity",
                        "valueString",
                        "_value",
                        "reference",
                        "extension",
                        "url",
                        "code",
                        "unit",
                        "id",
                        "contained",
                        "resourceType",
                        "birthDate",
                        "_birthDate",
                        "period",
                        "start",
                        "entry",
                        "resource",
                        "fullUrl",
                    ]),
                    inner
                ),
                0..5
            )
            .prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

const EXPRESSIONS: &[&str] = &[
    "name.given",
    "Patient.name.where(given = 'a').given.first()",
    "value.ofType(Quantity).value > 1 'mg'",
    "(value as Quantity) | value.ofType(string)",
    "descendants().count()",
    "children().where($this is String)",
    "name.given.extension('x').value",
    "value.resolve()",
    "reference.resolve() is Patient",
    "contained.resolve()",
    "value + 1",
    "value / 0",
    "value.toString() & 'x'",
    "birthDate < today()",
    "birthDate.toDate() = @2020",
    "value ~ value",
    "name.given.distinct().count() <= name.given.count()",
    "value.substring(1, 2).upper().matches('[A-Z]')",
    "entry.resource.id | entry.fullUrl",
    "iif(value.exists(), value, 'none')",
    "value.toInteger() div 3",
    "value.toDecimal().round(2)",
    "value.abs() mod 2",
    "period.start.toDateTime() + 1 day",
    "name.repeat(name)",
    "value.all($this = 1) implies value.exists()",
    "%resource.id.single()",
    "value.convertsToQuantity()",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics(s in "\\PC{0,64}") {
        let _ = parse(&s);
    }

    #[test]
    fn parse_never_panics_on_fhirpathish(s in "[a-z()'.%@$\\[\\]0-9 |=<>!~&+*/TZ:-]{0,48}") {
        let _ = parse(&s);
    }

    #[test]
    fn evaluate_never_panics(v in arb_json()) {
        let mut doc = v;
        if let Value::Object(m) = &mut doc {
            m.insert("resourceType".into(), json!("Patient"));
        }
        let ctx = EvalContext::new(&doc);
        for expr in EXPRESSIONS {
            let e = parse(expr).unwrap();
            let _ = evaluate(&e, &doc, &ctx);
        }
    }
}
