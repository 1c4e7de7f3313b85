-- Instance and binding records of the managed adapter (osb_core::managed).
-- `record` is the record as JSON text; `version` is the compare-and-set version, taken from
-- `osb_record_versions` so that it is never reused, even after a record is removed and created
-- again; `retain_until` copies `record.lifecycle.retain_until` (Unix milliseconds) so expired
-- tombstones can be purged without parsing JSON. Ids compare byte for byte (BINARY collation).

CREATE TABLE osb_record_versions (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO osb_record_versions (id, value) VALUES (1, 0);

CREATE TABLE osb_instances (
    instance_id  TEXT    NOT NULL PRIMARY KEY,
    version      INTEGER NOT NULL,
    retain_until INTEGER,
    record       TEXT    NOT NULL
);
CREATE INDEX osb_instances_retain_until ON osb_instances (retain_until)
    WHERE retain_until IS NOT NULL;

CREATE TABLE osb_bindings (
    instance_id  TEXT    NOT NULL,
    binding_id   TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    retain_until INTEGER,
    record       TEXT    NOT NULL,
    PRIMARY KEY (instance_id, binding_id)
);
CREATE INDEX osb_bindings_retain_until ON osb_bindings (retain_until)
    WHERE retain_until IS NOT NULL;
