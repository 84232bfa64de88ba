-- HL7 v2 message store: every frame received over MLLP, stored raw before anything else happens.
CREATE TABLE hl7_message (
    id                BIGSERIAL PRIMARY KEY,
    received_at       BIGINT  NOT NULL, -- microseconds since the Unix epoch, UTC
    sending_app       TEXT    NOT NULL, -- MSH-3 (raw), '' when unreadable
    sending_facility  TEXT    NOT NULL, -- MSH-4 (raw)
    control_id        TEXT    NOT NULL, -- MSH-10 (raw)
    msg_type          TEXT    NOT NULL, -- MSH-9.1^MSH-9.2
    content_hash      TEXT    NOT NULL, -- SHA-256 (hex) of the raw frame payload
    raw               BYTEA   NOT NULL, -- the frame payload exactly as received
    status            TEXT    NOT NULL, -- received | processed | error | rejected
    error             TEXT,             -- why status is error/rejected
    note              TEXT,             -- e.g. control id reused with different content
    ack               BYTEA,             -- the ACK sent (resent unchanged for a duplicate)
    ack_code          TEXT,             -- MSA-1 of that ACK
    resources         TEXT,             -- JSON array of Type/id/_history/version written
    processed_at      BIGINT,
    attempts          BIGINT  NOT NULL DEFAULT 0,
    UNIQUE (sending_app, sending_facility, control_id, content_hash)
);
CREATE INDEX hl7_message_status ON hl7_message (status, id);
CREATE INDEX hl7_message_control ON hl7_message (sending_app, sending_facility, control_id);
