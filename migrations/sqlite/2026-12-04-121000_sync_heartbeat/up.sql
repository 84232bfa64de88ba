-- Backport IG heartbeats: the period (seconds, 0 = none) and when the channel last got a message.
ALTER TABLE sync_subscription ADD COLUMN heartbeat_secs BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sync_subscription ADD COLUMN last_sent_at BIGINT NOT NULL DEFAULT 0;
