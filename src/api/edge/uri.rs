//! Request-target length: an over-long URL is a 414 OperationOutcome here, well below the HTTP
//! codec's own head limit (128 KiB), whose bare error response carries no OperationOutcome.

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::api::error::ApiError;
use crate::error::Error;

/// Longest path + query accepted; longer searches belong in POST [type]/_search.
pub const MAX_URI_BYTES: usize = 32 * 1024;

pub async fn check_length(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if len > MAX_URI_BYTES {
        let e = Error::UriTooLong(format!(
            "the request URL is {len} bytes; at most {MAX_URI_BYTES} are accepted (use POST [type]/_search for long searches)"
        ));
        let resp = ApiError(e).error_response();
        return Ok(req.into_response(resp).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}
