//! Mirror destination: PUT [mirror]/[type]/[id] with the stored JSON of the version, DELETE for
//! deletions. With `skip-if-remote-newer` every write carries `If-Match` with the ETag we wrote
//! last (or `If-None-Match: *` when we never wrote it): a 412 means somebody else changed the
//! remote copy, and the event is skipped and recorded instead of overwriting it.

use awc::http::Method;

use super::channel::{self, Request, Sent};
use super::config::{MirrorConflict, SyncConfig};

/// What the worker knows about one mirrored change.
pub struct MirrorChange<'a> {
    pub res_type: &'a str,
    pub res_id: &'a str,
    pub event_id: i64,
    /// None for a deletion.
    pub body: Option<Vec<u8>>,
    /// The ETag we last got from the remote for this resource.
    pub known_etag: Option<String>,
}

pub enum MirrorResult {
    Written { etag: Option<String> },
    RemoteNewer,
    Failed(Sent),
}

pub async fn send(client: &awc::Client, cfg: &SyncConfig, c: MirrorChange<'_>) -> MirrorResult {
    let Some(base) = &cfg.mirror_url else {
        return MirrorResult::Failed(Sent::Permanent {
            status: 0,
            message: "no mirror_url configured".into(),
        });
    };
    let url = format!("{base}/{}/{}", c.res_type, c.res_id);
    let mut headers = Vec::new();
    if let Some(t) = &cfg.mirror_token {
        headers.push(("Authorization".to_string(), format!("Bearer {t}")));
    }
    if cfg.mirror_conflict == MirrorConflict::SkipIfRemoteNewer {
        match &c.known_etag {
            Some(e) => headers.push(("If-Match".into(), e.clone())),
            None if c.body.is_some() => headers.push(("If-None-Match".into(), "*".into())),
            None => {}
        }
    }
    let is_delete = c.body.is_none();
    let method = if c.body.is_some() {
        Method::PUT
    } else {
        Method::DELETE
    };
    let sent = channel::send(
        client,
        Request {
            method,
            url: &url,
            headers: &headers,
            body: c.body,
            event_id: Some(c.event_id),
        },
        cfg.request_timeout,
    )
    .await;
    match sent {
        Sent::Ok { etag, .. } => MirrorResult::Written { etag },
        Sent::Permanent { status: 412, .. }
            if cfg.mirror_conflict == MirrorConflict::SkipIfRemoteNewer =>
        {
            MirrorResult::RemoteNewer
        }
        // Deleting what the remote no longer has is done.
        Sent::Permanent {
            status: 404 | 410, ..
        } if is_delete => MirrorResult::Written { etag: None },
        other => MirrorResult::Failed(other),
    }
}
