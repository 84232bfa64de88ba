//! A tiny in-memory FHIR server for the runner's tests: create/read/vread/update/
//! delete/search-by-_id(+family)/history/metadata with status codes, ETag, Location.

#![allow(dead_code, clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

#[derive(Default)]
struct Store {
    next: u64,
    /// (type, id) → versions (None = deleted).
    items: HashMap<(String, String), Vec<Option<Value>>>,
}

type Data = web::Data<Mutex<Store>>;

const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

fn outcome(status: u16, code: &str, msg: &str) -> HttpResponse {
    let body = json!({"resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": msg}]});
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .content_type(FHIR_JSON)
        .body(body.to_string())
}

fn base(req: &HttpRequest) -> String {
    let ci = req.connection_info();
    format!("{}://{}", ci.scheme(), ci.host())
}

fn with_meta(mut r: Value, rt: &str, id: &str, version: usize) -> Value {
    if let Some(o) = r.as_object_mut() {
        o.insert("resourceType".into(), json!(rt));
        o.insert("id".into(), json!(id));
        o.insert(
            "meta".into(),
            json!({"versionId": version.to_string(), "lastUpdated": "2024-01-01T00:00:00Z"}),
        );
    }
    r
}

fn resource_response(
    status: u16,
    r: &Value,
    version: usize,
    location: Option<String>,
) -> HttpResponse {
    let mut b =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default());
    b.content_type(FHIR_JSON)
        .insert_header(("ETag", format!("W/\"{version}\"")))
        .insert_header(("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"));
    if let Some(l) = location {
        b.insert_header(("Location", l));
    }
    b.body(r.to_string())
}

fn parse_body(body: &[u8], rt: &str) -> Result<Value, HttpResponse> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| outcome(400, "structure", &format!("invalid JSON: {e}")))?;
    if v.get("resourceType").and_then(Value::as_str) != Some(rt) {
        return Err(outcome(
            400,
            "invalid",
            "resourceType does not match the URL",
        ));
    }
    Ok(v)
}

async fn metadata() -> HttpResponse {
    let cs = json!({"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
        "fhirVersion": "4.0.1", "format": ["json"], "date": "2024-01-01"});
    HttpResponse::Ok()
        .content_type(FHIR_JSON)
        .body(cs.to_string())
}

async fn create(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    data: Data,
) -> HttpResponse {
    let rt = path.into_inner();
    let v = match parse_body(&body, &rt) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let Ok(mut store) = data.lock() else {
        return outcome(500, "exception", "lock");
    };
    store.next += 1;
    let id = format!("m{}", store.next);
    let r = with_meta(v, &rt, &id, 1);
    store
        .items
        .insert((rt.clone(), id.clone()), vec![Some(r.clone())]);
    let loc = format!("{}/{rt}/{id}/_history/1", base(&req));
    resource_response(201, &r, 1, Some(loc))
}

async fn read(path: web::Path<(String, String)>, data: Data) -> HttpResponse {
    let (rt, id) = path.into_inner();
    if !valid_id(&id) {
        return outcome(400, "invalid", "invalid id");
    }
    let Ok(store) = data.lock() else {
        return outcome(500, "exception", "lock");
    };
    match store.items.get(&(rt, id)) {
        None => outcome(404, "not-found", "no such resource"),
        Some(versions) => match versions.last() {
            Some(Some(r)) => resource_response(200, r, versions.len(), None),
            _ => outcome(410, "deleted", "resource deleted"),
        },
    }
}

async fn vread(path: web::Path<(String, String, String)>, data: Data) -> HttpResponse {
    let (rt, id, vid) = path.into_inner();
    let Ok(store) = data.lock() else {
        return outcome(500, "exception", "lock");
    };
    let Ok(n) = vid.parse::<usize>() else {
        return outcome(404, "not-found", "bad version");
    };
    match store
        .items
        .get(&(rt, id))
        .and_then(|v| v.get(n.wrapping_sub(1)))
    {
        Some(Some(r)) => resource_response(200, r, n, None),
        Some(None) => outcome(410, "deleted", "version is a delete"),
        None => outcome(404, "not-found", "no such version"),
    }
}

async fn update(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    data: Data,
) -> HttpResponse {
    let (rt, id) = path.into_inner();
    if !valid_id(&id) {
        return outcome(400, "invalid", "invalid id");
    }
    let v = match parse_body(&body, &rt) {
        Ok(v) => v,
        Err(e) => return e,
    };
    if v.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        return outcome(400, "invalid", "body id does not match the URL");
    }
    let Ok(mut store) = data.lock() else {
        return outcome(500, "exception", "lock");
    };
    let versions = store.items.entry((rt.clone(), id.clone())).or_default();
    let existed = matches!(versions.last(), Some(Some(_)));
    let version = versions.len() + 1;
    let r = with_meta(v, &rt, &id, version);
    versions.push(Some(r.clone()));
    let loc = format!("{}/{rt}/{id}/_history/{version}", base(&req));
    if existed {
        resource_response(200, &r, version, None)
    } else {
        resource_response(201, &r, version, Some(loc))
    }
}

async fn delete(path: web::Path<(String, String)>, data: Data) -> HttpResponse {
    let (rt, id) = path.into_inner();
    let Ok(mut store) = data.lock() else {
        return outcome(500, "exception", "lock");
    };
    if let Some(versions) = store.items.get_mut(&(rt, id))
        && matches!(versions.last(), Some(Some(_)))
    {
        versions.push(None);
    }
    HttpResponse::NoContent().finish()
}

fn bundle(req: &HttpRequest, kind: &str, entries: Vec<Value>) -> HttpResponse {
    let self_url = format!("{}{}", base(req), req.uri());
    let b = json!({"resourceType": "Bundle", "type": kind, "total": entries.len(),
        "link": [{"relation": "self", "url": self_url}, {"relation": "first", "url": self_url},
                 {"relation": "last", "url": self_url}],
        "entry": entries});
    HttpResponse::Ok()
        .content_type(FHIR_JSON)
        .body(b.to_string())
}

async fn search(req: HttpRequest, path: web::Path<String>, data: Data) -> HttpResponse {
    let rt = path.into_inner();
    let query = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default();
    let Ok(store) = data.lock() else {
        return outcome(500, "exception", "lock");
    };
    let mut entries = Vec::new();
    let mut keys: Vec<&(String, String)> = store.items.keys().filter(|(t, _)| *t == rt).collect();
    keys.sort();
    for key in keys {
        let Some(Some(r)) = store.items.get(key).and_then(|v| v.last()) else {
            continue;
        };
        let ok = query.iter().all(|(k, v)| match k.as_str() {
            "_id" => v.split(',').any(|x| x == key.1),
            "family" => r["name"].as_array().is_some_and(|ns| {
                ns.iter().any(|n| {
                    n["family"]
                        .as_str()
                        .is_some_and(|f| f.to_lowercase().starts_with(&v.to_lowercase()))
                })
            }),
            _ => true,
        });
        if ok {
            entries.push(
                json!({"fullUrl": format!("{}/{rt}/{}", base(&req), key.1), "resource": r,
                "search": {"mode": "match"}}),
            );
        }
    }
    bundle(&req, "searchset", entries)
}

async fn history(req: HttpRequest, path: web::Path<(String, String)>, data: Data) -> HttpResponse {
    let (rt, id) = path.into_inner();
    let Ok(store) = data.lock() else {
        return outcome(500, "exception", "lock");
    };
    let Some(versions) = store.items.get(&(rt, id)) else {
        return outcome(404, "not-found", "no such resource");
    };
    let entries = versions
        .iter()
        .rev()
        .filter_map(|v| v.clone().map(|r| json!({"resource": r})))
        .collect();
    bundle(&req, "history", entries)
}

/// Starts the mock on 127.0.0.1:0 in the current actix system; returns its base URL.
pub fn start() -> String {
    let data: Data = web::Data::new(Mutex::new(Store::default()));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metadata", web::get().to(metadata))
            .route("/{type}", web::post().to(create))
            .route("/{type}", web::get().to(search))
            .route("/{type}/{id}/_history", web::get().to(history))
            .route("/{type}/{id}/_history/{vid}", web::get().to(vread))
            .route("/{type}/{id}", web::get().to(read))
            .route("/{type}/{id}", web::put().to(update))
            .route("/{type}/{id}", web::delete().to(delete))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0));
    let server = match server {
        Ok(s) => s,
        Err(e) => panic!("bind: {e}"),
    };
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    format!("http://{addr}")
}
