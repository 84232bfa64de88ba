//! Expected values on the R4 example resources in tests/fixtures/fhir-examples.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{eval_json, eval_text, fixture};
use hms_fhirpath::{EvalContext, EvalError, Item, TypeProvider, evaluate, evaluate_to_bool, parse};
use serde_json::{Value, json};

fn t(file: &str, expr: &str) -> Vec<String> {
    eval_text(&fixture(file), expr)
}

fn one(file: &str, expr: &str) -> String {
    let v = t(file, expr);
    assert_eq!(v.len(), 1, "{expr} gave {v:?}");
    v[0].clone()
}

const PAT: &str = "Patient-example.json";
const OBS: &str = "Observation-example.json";
const BP: &str = "Observation-blood-pressure.json";

#[test]
fn paths_and_where() {
    assert_eq!(
        one(PAT, "Patient.name.where(use='official').given.first()"),
        "Peter"
    );
    assert_eq!(one(PAT, "Patient.birthDate"), "1974-12-25");
    assert_eq!(
        one(PAT, "Patient.telecom.where(system='phone').count()"),
        "3"
    );
    assert_eq!(
        t(PAT, "Patient.name.given"),
        ["Peter", "James", "Jim", "Peter", "James"]
    );
    assert_eq!(t(PAT, "name.family"), ["Chalmers", "Windsor"]);
    assert_eq!(one(PAT, "Patient.name[1].given"), "Jim");
    assert_eq!(t(PAT, "Patient.name[5]"), Vec::<String>::new());
    assert_eq!(one(PAT, "Patient.contact.name.family"), "du Marché");
    // Wrong leading type yields nothing; DomainResource/Resource match.
    assert!(t(PAT, "Observation.status").is_empty());
    assert_eq!(one(PAT, "Resource.id"), "example");
    assert_eq!(one(PAT, "DomainResource.id"), "example");
    assert_eq!(one(PAT, "$this.id"), "example");
}

#[test]
fn union_across_types_like_search_parameters() {
    let p = fixture(PAT);
    let out = eval_text(
        &p,
        "Account.subject | Patient.managingOrganization.reference",
    );
    assert_eq!(out, ["Organization/1"]);
    assert_eq!(
        eval_text(&p, "Patient.name.given | Patient.name.family").len(),
        5,
        "union removes duplicates"
    );
    assert_eq!(
        one(
            PAT,
            "Patient.name.given.combine(Patient.name.family).count()"
        ),
        "7"
    );
    assert_eq!(
        one(PAT, "Patient.name.given.union(Patient.name.family).count()"),
        "5"
    );
}

#[test]
fn existence_and_subsetting() {
    assert_eq!(one(PAT, "Patient.name.exists()"), "true");
    assert_eq!(one(PAT, "Patient.name.exists(use = 'nickname')"), "false");
    assert_eq!(one(PAT, "Patient.photo.empty()"), "true");
    assert_eq!(one(PAT, "Patient.name.given.last()"), "James");
    assert_eq!(t(PAT, "Patient.name.given.tail()").len(), 4);
    assert_eq!(t(PAT, "Patient.name.given.skip(3)"), ["Peter", "James"]);
    assert_eq!(t(PAT, "Patient.name.given.take(2)"), ["Peter", "James"]);
    assert_eq!(
        t(PAT, "Patient.name.given.distinct()"),
        ["Peter", "James", "Jim"]
    );
    assert_eq!(one(PAT, "Patient.name.given.isDistinct()"), "false");
    assert_eq!(
        one(PAT, "Patient.name.where(use='usual').given.single()"),
        "Jim"
    );
    let p = fixture(PAT);
    let e = parse("Patient.name.given.single()").unwrap();
    let err = evaluate(&e, &p, &EvalContext::new(&p)).unwrap_err();
    assert!(matches!(err, EvalError::NotSingleton(..)));
    assert_eq!(one(PAT, "Patient.telecom.all(use.exists())"), "true");
    assert_eq!(one(PAT, "Patient.telecom.all(system = 'phone')"), "false");
    assert_eq!(one(PAT, "(true | false).anyTrue()"), "true");
    assert_eq!(one(PAT, "(true | false).allTrue()"), "false");
    assert_eq!(one(PAT, "(false).allFalse()"), "true");
    assert_eq!(one(PAT, "(true).anyFalse()"), "false");
    assert_eq!(one(PAT, "{}.allTrue()"), "true");
    assert_eq!(
        t(PAT, "Patient.name.select(given.first())"),
        ["Peter", "Jim", "Peter"]
    );
    assert_eq!(
        t(PAT, "Patient.name.given.where($index > 3)"),
        ["James"],
        "$index in where"
    );
}

#[test]
fn set_functions() {
    assert_eq!(
        one(PAT, "Patient.name.given.intersect('Jim' | 'Bob')"),
        "Jim"
    );
    assert_eq!(
        t(PAT, "Patient.name.given.exclude('Peter')"),
        ["James", "Jim", "James"]
    );
    assert_eq!(one(PAT, "('Jim').subsetOf(Patient.name.given)"), "true");
    assert_eq!(
        one(PAT, "Patient.name.given.supersetOf('Jim' | 'Peter')"),
        "true"
    );
    assert_eq!(one(PAT, "Patient.name.given.subsetOf('Jim')"), "false");
    assert_eq!(one(PAT, "'Jim' in Patient.name.given"), "true");
    assert_eq!(one(PAT, "Patient.name.given contains 'Bob'"), "false");
    assert!(t(PAT, "{} in Patient.name.given").is_empty());
}

#[test]
fn choice_types_and_type_operators() {
    assert_eq!(one(OBS, "Observation.value.value"), "185");
    assert_eq!(one(OBS, "Observation.value.ofType(Quantity).unit"), "lbs");
    assert_eq!(one(OBS, "(Observation.value as Quantity).code"), "[lb_av]");
    assert_eq!(one(OBS, "Observation.value.as(Quantity).code"), "[lb_av]");
    assert_eq!(one(OBS, "Observation.value is Quantity"), "true");
    assert_eq!(one(OBS, "Observation.value.is(FHIR.Quantity)"), "true");
    assert_eq!(one(OBS, "Observation.value is Period"), "false");
    assert!(t(OBS, "Observation.value.ofType(CodeableConcept)").is_empty());
    assert!(t(OBS, "Observation.effective.ofType(Period)").is_empty());
    assert_eq!(
        one(OBS, "Observation.effective.ofType(dateTime)"),
        "2016-03-28"
    );
    assert_eq!(one(OBS, "Observation.effective is dateTime"), "true");
    assert_eq!(one(OBS, "Observation is Observation"), "true");
    assert_eq!(one(OBS, "Observation is DomainResource"), "true");
    assert_eq!(one(OBS, "1 is Integer"), "true");
    assert_eq!(one(OBS, "'a' is System.String"), "true");
    assert_eq!(one(OBS, "'a' is Integer"), "false");
    let o = fixture(OBS);
    let e = parse("Observation.value").unwrap();
    let ctx = EvalContext::new(&o);
    let out = evaluate(&e, &o, &ctx).unwrap();
    assert_eq!(out[0].type_name(), Some("Quantity"));
    let e = parse("Observation.effective").unwrap();
    assert_eq!(
        evaluate(&e, &o, &ctx).unwrap()[0].type_name(),
        Some("dateTime")
    );
    let e = parse("Observation").unwrap();
    assert_eq!(
        evaluate(&e, &o, &ctx).unwrap()[0].type_name(),
        Some("Observation")
    );
    assert_eq!(
        t(BP, "Observation.component.value.ofType(Quantity).value"),
        ["107", "60"]
    );
    assert_eq!(
        one("Patient-f001.json", "Patient.deceased is boolean"),
        "true"
    );
}

#[test]
fn primitive_extensions() {
    let url = "http://hl7.org/fhir/StructureDefinition/patient-birthTime";
    assert_eq!(
        one(PAT, &format!("Patient.birthDate.extension('{url}').value")),
        "1974-12-25T14:35:45-05:00"
    );
    assert_eq!(one(PAT, "Patient.birthDate.extension.count()"), "1");
    assert_eq!(one(PAT, "Patient.birthDate.hasValue()"), "true");
    assert_eq!(one(PAT, "Patient.name.hasValue()"), "false");
    let own = "http://hl7.org/fhir/StructureDefinition/humanname-own-prefix";
    assert_eq!(
        one(
            PAT,
            &format!("Patient.contact.name.family.extension('{own}').value")
        ),
        "VV"
    );
    // Values only in `_given` (nulls in `given`).
    let r = json!({"resourceType": "Patient", "name": [{
        "given": ["A", null],
        "_given": [null, {"extension": [{"url": "u", "valueString": "x"}]}]
    }]});
    assert_eq!(eval_text(&r, "Patient.name.given.count()"), ["2"]);
    assert_eq!(eval_text(&r, "Patient.name.given[1].hasValue()"), ["false"]);
    assert_eq!(
        eval_text(&r, "Patient.name.given.extension('u').value"),
        ["x"]
    );
    assert_eq!(eval_text(&r, "Patient.name.given.where(hasValue())"), ["A"]);
    assert_eq!(
        eval_text(&r, "%`ext-foo`"),
        ["http://hl7.org/fhir/StructureDefinition/foo"]
    );
}

#[test]
fn hasvalue_on_collection_is_false() {
    // hasValue() on more than one item is false rather than an error.
    let r = json!({"resourceType": "Patient", "name": [{"given": ["A", "B"]}]});
    assert_eq!(eval_text(&r, "Patient.name.given.hasValue()"), ["false"]);
}

#[test]
fn money_and_claims() {
    let c = "Claim-100150.json";
    assert_eq!(one(c, "Claim.item.net.value"), "135.57");
    assert_eq!(one(c, "Claim.item.unitPrice.value * 2"), "271.14");
    assert_eq!(one(c, "Claim.item.net.value = 135.570"), "true");
    assert_eq!(one(c, "Claim.item.net.value > 135.56"), "true");
    assert_eq!(one(c, "Claim.item.servicedDate"), "2014-08-16");
    assert_eq!(
        one(c, "Claim.item.serviced.ofType(date) = @2014-08-16"),
        "true"
    );
    assert_eq!(one("Claim-960150.json", "Claim.total.value"), "125.00");
    assert_eq!(
        one("Claim-960150.json", "Claim.total.value.toString()"),
        "125.00"
    );
    assert_eq!(one(c, "Claim.item.net.value + 0.43"), "136.00");
    assert_eq!(
        one(
            "Claim-960150.json",
            "Claim.procedure.procedure.ofType(CodeableConcept).text"
        ),
        "Subcutaneous diagnostic implant"
    );
    assert_eq!(one(c, "Claim.diagnosis.diagnosis.coding.code"), "123456");
}

#[test]
fn resolve_contained_bundle_and_stub() {
    let claim = fixture("Claim-MED-00050.json");
    assert_eq!(
        eval_text(&claim, "Claim.patient.resolve().name.family"),
        ["Ashcraft"]
    );
    assert_eq!(
        eval_text(&claim, "Claim.patient.resolve() is Patient"),
        ["true"]
    );
    assert_eq!(
        eval_text(
            &claim,
            "Claim.provider.where(resolve() is Organization).reference"
        ),
        ["Organization/1"]
    );
    assert!(eval_text(&claim, "Claim.provider.where(resolve() is Patient)").is_empty());
    let out = eval_json(&claim, "Claim.provider.resolve()");
    assert_eq!(out, [json!({"resourceType": "Organization", "id": "1"})]);
    let enc = fixture("Encounter-home.json");
    assert_eq!(
        eval_text(&enc, "Encounter.location.location.resolve().description"),
        ["Client's home"]
    );
    // Inside a Bundle: references resolve to entries.
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "http://x/Patient/1", "resource": {"resourceType": "Patient", "id": "1", "gender": "male"}},
        {"fullUrl": "urn:uuid:abc", "resource": {"resourceType": "Observation", "id": "o", "subject": {"reference": "urn:uuid:def"}, "performer": [{"reference": "Patient/1"}]}},
        {"fullUrl": "urn:uuid:def", "resource": {"resourceType": "Patient", "id": "2", "gender": "female"}}
    ]});
    let obs = &bundle["entry"][1]["resource"];
    let mut ctx = EvalContext::new(obs);
    ctx.root_resource = Some(&bundle);
    let e = parse("Observation.subject.resolve().gender | Observation.performer.resolve().gender")
        .unwrap();
    let out: Vec<_> = evaluate(&e, obs, &ctx)
        .unwrap()
        .iter()
        .map(Item::to_json)
        .collect();
    assert_eq!(out, [json!("female"), json!("male")]);
    let e = parse("%rootResource.entry.count()").unwrap();
    assert_eq!(evaluate(&e, obs, &ctx).unwrap()[0].to_json(), json!(3));
}

#[test]
fn three_valued_logic() {
    let p = fixture(PAT);
    let cases = [
        ("true and {}", None),
        ("false and {}", Some(false)),
        ("true or {}", Some(true)),
        ("false or {}", None),
        ("true xor false", Some(true)),
        ("true xor {}", None),
        ("false implies {}", Some(true)),
        ("{} implies true", Some(true)),
        ("{} implies false", None),
        ("true implies false", Some(false)),
        ("true.not()", Some(false)),
        ("{}.not()", None),
        ("Patient.active and Patient.deceased.not()", Some(true)),
        (
            "Patient.name.exists() and Patient.photo.exists()",
            Some(false),
        ),
        ("Patient.name", Some(false)),
    ];
    for (expr, want) in cases {
        let e = parse(expr).unwrap();
        let got = evaluate_to_bool(&e, &p, &EvalContext::new(&p));
        if expr == "Patient.name" {
            assert!(got.is_err(), "more than one item is an error");
            continue;
        }
        assert_eq!(got.unwrap(), want, "{expr}");
    }
}

#[test]
fn comparisons() {
    let cases = [
        ("1 < 2", "true"),
        ("1.5 >= 1.50", "true"),
        ("2 = 2.0", "true"),
        ("'abc' < 'abd'", "true"),
        ("'a' = 'A'", "false"),
        ("'a' ~ 'A'", "true"),
        ("'a  b' ~ 'A B'", "true"),
        ("1.2 ~ 1.23", "true"),
        ("'x' != 'y'", "true"),
        ("'x' !~ 'X'", "false"),
        ("true = false", "false"),
        ("@2020-01-01 < @2020-01-02", "true"),
        ("@2020-01-01T10:00:00Z = @2020-01-01T11:00:00+01:00", "true"),
        ("@T10:00 < @T10:30", "true"),
        ("5 'mg' < 6 'mg'", "true"),
        ("5 'mg' = 5.0 'mg'", "true"),
        ("4 days = 4 'd'", "true"),
        ("@2012-01 ~ @2012-01-01", "false"),
        ("Patient.birthDate = @1974-12-25", "true"),
        ("Patient.birthDate < @1980", "true"),
        ("Patient.birthDate > @1974-12-24T10:00", "true"),
        ("Patient.name.given = Patient.name.given", "true"),
        ("Patient.name[0] = Patient.name[2]", "false"),
        ("Patient.name[0] ~ Patient.name[0]", "true"),
        ("{} ~ {}", "true"),
    ];
    let p = fixture(PAT);
    for (expr, want) in cases {
        assert_eq!(eval_text(&p, expr), [want], "{expr}");
    }
    // Different precision: empty.
    for expr in [
        "@2012-01 = @2012-01-01",
        "@2012-01 < @2012-01-15",
        "@2020-01-01 = @2020-01-01T10:00",
        "5 'mg' = 5 'kg'",
        "{} = 1",
        "Patient.birthDate < @1974-12",
    ] {
        assert!(eval_text(&p, expr).is_empty(), "{expr}");
    }
    assert_eq!(eval_text(&p, "@2012-01 < @2013-01-15"), ["true"]);
    let e = parse("1 < 'a'").unwrap();
    assert!(evaluate(&e, &p, &EvalContext::new(&p)).is_err());
}

#[test]
fn math_and_literals() {
    let p = fixture(PAT);
    let cases = [
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("7 div 2", "3"),
        ("7 mod 2", "1"),
        ("7 / 2", "3.5"),
        ("1.1 + 2.2", "3.3"),
        ("-5.abs()", "-5"),
        ("(-5).abs()", "5"),
        ("-(3)", "-3"),
        ("2.5.ceiling()", "3"),
        ("2.5.floor()", "2"),
        ("2.5.round()", "3"),
        ("3.14159.round(2)", "3.14"),
        ("16.sqrt()", "4"),
        ("2.power(10)", "1024"),
        ("'a' + 'b'", "ab"),
        ("'a' & {} & 'c'", "ac"),
        ("'it\\'s \\u0041'", "it's A"),
        ("@2020-01-31 + 1 month", "2020-02-29"),
        ("@2020-01-01T10:00:00Z - 2 hours", "2020-01-01T08:00:00Z"),
        ("(5 'mg').toString()", "5 'mg'"),
        ("(4 days).toString()", "4 days"),
        ("`Patient`.name.count()", "3"),
        ("%ucum", "http://unitsofmeasure.org"),
        ("%sct", "http://snomed.info/sct"),
        ("%loinc", "http://loinc.org"),
        (
            "%`vs-administrative-gender`",
            "http://hl7.org/fhir/ValueSet/administrative-gender",
        ),
        ("%resource.id", "example"),
        ("%context.id", "example"),
        ("%rootResource.id", "example"),
        ("iif(Patient.active, 'yes', 'no')", "yes"),
        ("iif({}, 'yes', 'no')", "no"),
        ("Patient.name.given.first().trace('x')", "Peter"),
        (
            "Patient.name.given.aggregate($this.length() + $total, 0)",
            "23",
        ),
        ("1 / 0", ""),
    ];
    for (expr, want) in cases {
        let got = eval_text(&p, expr);
        if want.is_empty() {
            assert!(got.is_empty(), "{expr} gave {got:?}");
        } else {
            assert_eq!(got, [want], "{expr}");
        }
    }
    assert!(eval_text(&p, "{}").is_empty());
    assert!(eval_text(&p, "iif(false, 'yes')").is_empty());
    // today()/now() produce dates of the right kind.
    assert_eq!(eval_text(&p, "today() > @2020-01-01"), ["true"]);
    assert_eq!(eval_text(&p, "now() is DateTime"), ["true"]);
    assert_eq!(eval_text(&p, "today() is Date"), ["true"]);
    assert_eq!(eval_text(&p, "Patient.birthDate < today()"), ["true"]);
}

#[test]
fn strings() {
    let p = fixture(PAT);
    let cases = [
        ("Patient.name[0].family.startsWith('Chal')", "true"),
        ("Patient.name[0].family.endsWith('mers')", "true"),
        ("Patient.name[0].family.contains('alm')", "true"),
        ("Patient.name[0].family.matches('^C[a-z]+s$')", "true"),
        ("Patient.name[0].family.replace('C', 'K')", "Khalmers"),
        (
            "Patient.name[0].family.replaceMatches('[aeiou]', '_')",
            "Ch_lm_rs",
        ),
        ("Patient.name[0].family.lower()", "chalmers"),
        ("Patient.name[0].family.upper()", "CHALMERS"),
        ("Patient.name[0].family.length()", "8"),
        ("Patient.name[0].family.substring(1, 3)", "hal"),
        ("Patient.name[0].family.substring(5)", "ers"),
        ("Patient.name[0].family.indexOf('m')", "4"),
        ("'  x y '.trim()", "x y"),
        ("'a,b,c'.split(',').count()", "3"),
        (
            "Patient.name.given.join(',')",
            "Peter,James,Jim,Peter,James",
        ),
        ("'abc'.toChars().count()", "3"),
        ("'du Marché'.length()", "9"),
        (
            "Patient.telecom.value.where(matches('^\\\\(03\\\\) 5555')).count()",
            "2",
        ),
    ];
    for (expr, want) in cases {
        assert_eq!(eval_text(&p, expr), [want], "{expr}");
    }
    assert!(eval_text(&p, "'abc'.substring(5)").is_empty());
    assert!(eval_text(&p, "{}.upper()").is_empty());
}

#[test]
fn conversions() {
    let p = fixture(PAT);
    let cases = [
        ("'12'.toInteger() + 1", "13"),
        ("'1.50'.toDecimal()", "1.50"),
        ("'true'.toBoolean()", "true"),
        ("'no'.toBoolean()", "false"),
        ("12.toString()", "12"),
        ("Patient.birthDate.toDate() = @1974-12-25", "true"),
        (
            "'2020-01-02T10:00:00Z'.toDateTime() > @2020-01-02T09:00:00Z",
            "true",
        ),
        ("'10:00'.toTime() = @T10:00", "true"),
        ("'5 \\'mg\\''.toQuantity() = 5 'mg'", "true"),
        ("'abc'.convertsToInteger()", "false"),
        ("'42'.convertsToInteger()", "true"),
        ("'2020-13-01'.convertsToDate()", "false"),
        ("Patient.active.toString()", "true"),
        ("Patient.birthDate.convertsToDateTime()", "true"),
        ("1.toQuantity().toString()", "1 '1'"),
    ];
    for (expr, want) in cases {
        assert_eq!(eval_text(&p, expr), [want], "{expr}");
    }
    assert!(eval_text(&p, "'abc'.toInteger()").is_empty());
    let o = fixture(OBS);
    assert_eq!(
        eval_text(&o, "Observation.value.toQuantity().toString()"),
        ["185 '[lb_av]'"]
    );
    assert_eq!(eval_text(&o, "Observation.value > 100 '[lb_av]'"), ["true"]);
}

#[test]
fn tree_functions() {
    let p = fixture(PAT);
    assert_eq!(eval_text(&p, "Patient.name[0].children().count()"), ["4"]);
    let n = eval_text(&p, "Patient.descendants().count()");
    assert!(n[0].parse::<usize>().unwrap() > 50, "{n:?}");
    assert_eq!(
        eval_text(&p, "Patient.descendants().where($this = 'Jim')").len(),
        1
    );
    assert_eq!(
        eval_text(&p, "Patient.name.repeat(given).count()"),
        ["3"],
        "repeat de-duplicates"
    );
}

#[test]
fn unsupported_is_an_error() {
    let p = fixture(PAT);
    let e = parse("Patient.name.memberOf('http://x')").unwrap();
    let err = evaluate(&e, &p, &EvalContext::new(&p)).unwrap_err();
    assert_eq!(err, EvalError::Unsupported("function memberOf".into()));
    let e = parse("Patient.frobnicate()").unwrap();
    assert!(matches!(
        evaluate(&e, &p, &EvalContext::new(&p)),
        Err(EvalError::Unsupported(_))
    ));
    let e = parse("%nope").unwrap();
    assert!(matches!(
        evaluate(&e, &p, &EvalContext::new(&p)),
        Err(EvalError::UndefinedVariable(_))
    ));
}

#[test]
fn variables_and_parse_errors() {
    let p = fixture(PAT);
    let mut ctx = EvalContext::new(&p);
    ctx.variables
        .insert("who".into(), vec![Item::String("Jim".into())]);
    let e = parse("Patient.name.where(given = %who).use").unwrap();
    let out: Vec<_> = evaluate(&e, &p, &ctx)
        .unwrap()
        .iter()
        .map(Item::to_json)
        .collect();
    assert_eq!(out, [json!("usual")]);
    let err = parse("Patient.name.where(").unwrap_err();
    assert_eq!(err.position, 19);
    assert!(parse("Patient..name").is_err());
    assert!(parse("'unterminated").is_err());
    assert!(parse("@2020-13-01").is_err());
    assert!(parse("1 +").is_err());
}

struct R4Subset;

impl TypeProvider for R4Subset {
    fn child_type(&self, parent: &str, element: &str) -> Option<String> {
        let t = match (parent, element) {
            ("Patient", "birthDate") => "date",
            ("Patient", "name") => "HumanName",
            ("Patient", "telecom") => "ContactPoint",
            ("HumanName", "given" | "family") => "string",
            ("HumanName", "use") => "code",
            ("HumanName", "period") => "Period",
            ("Period", "start" | "end") => "dateTime",
            ("Patient", "active") => "boolean",
            _ => return None,
        };
        Some(t.to_string())
    }
}

#[test]
fn type_provider_types_results() {
    let p = fixture(PAT);
    let tp = R4Subset;
    let mut ctx = EvalContext::new(&p);
    ctx.types = Some(&tp);
    let run = |expr: &str| {
        let e = parse(expr).unwrap();
        evaluate(&e, &p, &ctx).unwrap()
    };
    assert_eq!(run("Patient.birthDate")[0].type_name(), Some("date"));
    assert_eq!(run("Patient.name")[0].type_name(), Some("HumanName"));
    assert_eq!(run("Patient.name.given")[0].type_name(), Some("string"));
    assert_eq!(
        run("Patient.name.period.end")[0].type_name(),
        Some("dateTime")
    );
    assert_eq!(run("Patient.name.ofType(HumanName)").len(), 3);
    assert_eq!(
        run("Patient.name.use.ofType(string)").len(),
        3,
        "code is a string"
    );
    assert_eq!(run("Patient.birthDate is date")[0].as_bool(), Some(true));
    assert_eq!(
        run("Patient.birthDate is System.Date")[0].as_bool(),
        Some(true)
    );
    assert!(matches!(
        run("Patient.birthDate.toString()")[0],
        Item::String(_)
    ));
    // Without the provider, types are heuristic.
    let plain = EvalContext::new(&p);
    let e = parse("Patient.birthDate").unwrap();
    assert_eq!(
        evaluate(&e, &p, &plain).unwrap()[0].type_name(),
        Some("System.String")
    );
    let _ = Value::Null;
}

#[test]
fn results_point_into_input() {
    let p = fixture(PAT);
    let e = parse("Patient.name[0]").unwrap();
    let ctx = EvalContext::new(&p);
    let out = evaluate(&e, &p, &ctx).unwrap();
    let node = out[0].as_node().unwrap();
    assert!(std::ptr::eq(node.value, &p["name"][0]));
}

#[test]
fn get_value_exponents_and_choice_dates() {
    let p = fixture(PAT);
    assert_eq!(
        eval_text(&p, "Patient.birthDate.getValue()"),
        ["1974-12-25"]
    );
    assert!(eval_text(&p, "Patient.name.first().getValue()").is_empty());
    assert_eq!(one(OBS, "Observation.effective = @2016-03-28"), "true");
    // Decided at the day; undecidable when only the missing precision differs.
    assert_eq!(
        one(OBS, "Observation.effective > @2016-03-27T23:00:00Z"),
        "true"
    );
    assert!(t(OBS, "Observation.effective > @2016-03-28T10:00:00Z").is_empty());
    let d = fixture("Observation-decimal.json");
    assert_eq!(
        eval_text(&d, "Observation.component[3].value.value"),
        ["1e-22"],
        "exact JSON text is kept"
    );
    assert_eq!(
        eval_text(&d, "Observation.component[3].value.value < 1"),
        ["true"]
    );
    assert_eq!(
        eval_text(&d, "Observation.component.value.value.count()"),
        ["7"]
    );
    // Out of rust_decimal's range: a typed error, not a panic or silent answer.
    let e = parse("Observation.component[5].value.value < 1").unwrap();
    assert!(evaluate(&e, &d, &EvalContext::new(&d)).is_err());
}

#[test]
fn evaluate_item_keeps_the_focus_type() {
    let p = fixture(PAT);
    let tp = R4Subset;
    let mut ctx = EvalContext::new(&p);
    ctx.types = Some(&tp);
    let names = evaluate(&parse("Patient.name").unwrap(), &p, &ctx).unwrap();
    let given =
        hms_fhirpath::evaluate_item(&parse("given").unwrap(), names[0].clone(), &ctx).unwrap();
    assert_eq!(given[0].type_name(), Some("string"));
    assert_eq!(given[0].as_str(), Some("Peter"));
    let n =
        hms_fhirpath::evaluate_item(&parse("$this + 1").unwrap(), Item::Integer(1), &ctx).unwrap();
    assert_eq!(n, [Item::Integer(2)]);
}
