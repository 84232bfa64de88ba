DROP TABLE sync_mirror_state;
DROP TABLE sync_subscription;
DROP TABLE sync_delivery;
DROP TABLE sync_state;
DROP TABLE change_event;
