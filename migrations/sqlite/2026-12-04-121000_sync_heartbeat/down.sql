ALTER TABLE sync_subscription DROP COLUMN last_sent_at;
ALTER TABLE sync_subscription DROP COLUMN heartbeat_secs;
