-- X12 control numbers (ISA13/GS06). One row per counter; a number is taken by incrementing the row
-- inside a write transaction (PostgreSQL row lock, SQLite BEGIN IMMEDIATE), so no two exports or
-- nodes ever get the same number.
CREATE TABLE x12_control (
    name  TEXT   PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO x12_control (name, value) VALUES ('interchange', 0);
