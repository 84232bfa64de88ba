#!/bin/sh
# A first session against a local `hms serve` (no auth, loopback): create, read, search, a
# transaction Bundle, $everything and an HL7 ADT message. Needs curl; python3 for pretty output.
set -eu
BASE=${BASE:-http://127.0.0.1:8080/fhir}
MLLP=${MLLP:-127.0.0.1:2575}
HERE=$(dirname "$0")/..
# HMS=path/to/hms, else the `hms` on PATH (cargo install --path .), else this checkout's release build.
HMS=${HMS:-$(command -v hms || echo "$HERE/../target/release/hms")}
pp() { python3 -m json.tool 2>/dev/null || cat; }

echo "== create a Patient (conditional on its MRN: running this twice creates one)"
curl -s -X POST "$BASE/Patient" -H 'Content-Type: application/fhir+json' \
  -H 'If-None-Exist: identifier=urn:mrn|12345' \
  -d '{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"12345"}],"name":[{"family":"Doe","given":["Jane"]}],"birthDate":"1970"}' | pp

echo "== search it by identifier and by name"
curl -s "$BASE/Patient?identifier=urn:mrn|12345" | pp
curl -s "$BASE/Patient?name=doe&_summary=count" | pp

echo "== a transaction Bundle (Patient + Encounter + Observation linked by urn:uuid)"
curl -s -X POST "$BASE" -H 'Content-Type: application/fhir+json' \
  --data-binary @"$HERE/bundles/transaction-patient-encounter.json" | pp

echo "== everything about that patient"
ID=$(curl -s "$BASE/Patient?identifier=urn:oid:2.16.840.1.113883.19.5|MRN-1001" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["entry"][0]["resource"]["id"])')
curl -s "$BASE/Patient/$ID/\$everything" | pp

echo "== an HL7 v2 ADT^A01 over MLLP (the ACK comes after the data is committed)"
"$HMS" hl7 send "$HERE/hl7/adt_a01_msconv_1.hl7" --to "$MLLP"
