//! Request/response formats, Prefer, conditional headers and the size-capped body reader.

use actix_web::HttpRequest;
use actix_web::web::Payload;
use futures_util::StreamExt;

use crate::error::Error;
use crate::search::criteria::form_pairs;

pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

fn is_json_type(t: &str) -> bool {
    let t = t
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        t.as_str(),
        "application/fhir+json"
            | "application/json"
            | "application/json+fhir"
            | "json"
            | "text/json"
    )
}

/// `_format` wins over Accept; anything but a JSON flavour (or a wildcard) is 406.
pub fn check_accept(req: &HttpRequest) -> Result<(), Error> {
    if let Some((_, f)) = form_pairs(req.query_string())
        .into_iter()
        .find(|(k, _)| k == "_format")
    {
        return if is_json_type(&f) {
            Ok(())
        } else {
            Err(Error::NotAcceptable(format!(
                "_format {f:?} is not supported; this server speaks FHIR JSON"
            )))
        };
    }
    let Some(accept) = req.headers().get("accept").and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    if accept.trim().is_empty() {
        return Ok(());
    }
    let ok = accept.split(',').any(|r| {
        let media = r
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        media == "*/*" || media == "application/*" || is_json_type(&media)
    });
    if ok {
        Ok(())
    } else {
        Err(Error::NotAcceptable(format!(
            "Accept {accept:?}: this server speaks application/fhir+json"
        )))
    }
}

/// The `charset` parameter of a media type, if any (quotes removed).
fn charset(ct: &str) -> Option<String> {
    ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"').to_ascii_lowercase())
    })
}

/// Request bodies must be FHIR JSON (a missing Content-Type is read as JSON) in UTF-8: the body
/// is parsed as UTF-8, so another declared charset would be misread.
pub fn check_content_type(req: &HttpRequest) -> Result<(), Error> {
    match req
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or(""))
    {
        None => Ok(()),
        Some(ct) if is_json_type(ct) => match charset(ct) {
            None => Ok(()),
            Some(c) if c == "utf-8" || c == "utf8" => Ok(()),
            Some(c) => Err(Error::UnsupportedMediaType(format!(
                "Content-Type charset {c:?} is not supported; FHIR JSON is UTF-8"
            ))),
        },
        Some(ct) => Err(Error::UnsupportedMediaType(format!(
            "Content-Type {ct:?} is not supported; send application/fhir+json"
        ))),
    }
}

/// Reads the body, refusing it as soon as it passes `limit` bytes.
pub async fn read_body(mut payload: Payload, limit: usize) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| Error::invalid(None, format!("could not read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(Error::PayloadTooLarge(format!(
                "request body is larger than the limit of {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Return {
    Minimal,
    #[default]
    Representation,
    OperationOutcome,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Prefer {
    pub ret: Return,
    pub strict: bool,
}

pub fn prefer(req: &HttpRequest) -> Prefer {
    let mut p = Prefer::default();
    for h in req.headers().get_all("prefer") {
        for part in h.to_str().unwrap_or("").split([',', ';']) {
            match part.trim().replace(' ', "").to_ascii_lowercase().as_str() {
                "return=minimal" => p.ret = Return::Minimal,
                "return=representation" => p.ret = Return::Representation,
                "return=operationoutcome" => p.ret = Return::OperationOutcome,
                "handling=strict" => p.strict = true,
                "handling=lenient" => p.strict = false,
                _ => {}
            }
        }
    }
    p
}

pub fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `If-Match: W/"3"` → Some(3); a malformed value is a 400, not silently ignored.
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, Error> {
    match header(req, "if-match") {
        None => Ok(None),
        Some(v) => crate::fhir::ids::parse_version(v).map(Some).ok_or_else(|| {
            Error::invalid(
                None,
                format!("If-Match {v:?} is not a version ETag like W/\"3\""),
            )
        }),
    }
}

pub fn wants_pretty(req: &HttpRequest) -> bool {
    form_pairs(req.query_string())
        .iter()
        .any(|(k, v)| k == "_pretty" && v == "true")
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn accept_rules() {
        assert!(check_accept(&TestRequest::default().to_http_request()).is_ok());
        let r = TestRequest::default()
            .insert_header(("accept", "application/fhir+json;q=0.9, text/html"))
            .to_http_request();
        assert!(check_accept(&r).is_ok());
        let r = TestRequest::default()
            .insert_header(("accept", "application/fhir+xml"))
            .to_http_request();
        assert!(matches!(check_accept(&r), Err(Error::NotAcceptable(_))));
        let r = TestRequest::with_uri("/fhir/Patient?_format=xml").to_http_request();
        assert!(matches!(check_accept(&r), Err(Error::NotAcceptable(_))));
        let r = TestRequest::with_uri("/fhir/Patient?_format=json")
            .insert_header(("accept", "text/html"))
            .to_http_request();
        assert!(check_accept(&r).is_ok());
    }

    #[test]
    fn content_type_charset() {
        let ct = |v: &str| {
            check_content_type(
                &TestRequest::default()
                    .insert_header(("content-type", v))
                    .to_http_request(),
            )
        };
        assert!(ct("application/fhir+json").is_ok());
        assert!(ct("application/fhir+json; charset=UTF-8").is_ok());
        assert!(ct("application/json;charset=\"utf-8\"").is_ok());
        assert!(matches!(
            ct("application/fhir+json; charset=latin1"),
            Err(Error::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            ct("application/fhir+json; charset=utf-16"),
            Err(Error::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn prefer_parsing() {
        let r = TestRequest::default()
            .insert_header(("prefer", "return=minimal, handling=strict"))
            .to_http_request();
        let p = prefer(&r);
        assert_eq!(p.ret, Return::Minimal);
        assert!(p.strict);
        let r = TestRequest::default()
            .insert_header(("prefer", "return=OperationOutcome"))
            .to_http_request();
        assert_eq!(prefer(&r).ret, Return::OperationOutcome);
    }
}
