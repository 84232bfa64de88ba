//! FHIRPath Patch (R4 fhirpatch.html): a Parameters resource of `operation` parameters.

use serde_json::Value;

use crate::error::Error;

/// Checks the shape of the Parameters resource.
pub fn check(params: &Value) -> Result<(), Error> {
    if params.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(Error::invalid(
            Some("resourceType"),
            "a FHIRPath Patch must be a Parameters resource",
        ));
    }
    Ok(())
}

/// Applies the operations in order to a copy of `resource`.
pub fn apply(_resource: &Value, _params: &Value) -> Result<Value, Error> {
    Err(Error::NotImplemented("FHIRPath Patch is not available yet".into()))
}
