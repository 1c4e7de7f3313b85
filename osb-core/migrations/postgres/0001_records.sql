-- Instance and binding records of the managed adapter (osb_core::managed).
-- `record` is the record as JSON text (kept as written: JSONB would reorder keys and normalise
-- numbers); `version` is the compare-and-set version, taken from the sequence
-- `osb_record_versions` so that it is never reused, even after a record is removed and created
-- again; `retain_until` copies `record.lifecycle.retain_until` (Unix milliseconds) so expired
-- tombstones can be purged without parsing JSON. Ids use the "C" collation: byte order, as the
-- `StateStore` contract asks for `list_instances`.

CREATE SEQUENCE osb_record_versions AS BIGINT;

CREATE TABLE osb_instances (
    instance_id  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    version      BIGINT NOT NULL,
    retain_until BIGINT,
    record       TEXT   NOT NULL
);
CREATE INDEX osb_instances_retain_until ON osb_instances (retain_until)
    WHERE retain_until IS NOT NULL;

CREATE TABLE osb_bindings (
    instance_id  TEXT COLLATE "C" NOT NULL,
    binding_id   TEXT COLLATE "C" NOT NULL,
    version      BIGINT NOT NULL,
    retain_until BIGINT,
    record       TEXT   NOT NULL,
    PRIMARY KEY (instance_id, binding_id)
);
CREATE INDEX osb_bindings_retain_until ON osb_bindings (retain_until)
    WHERE retain_until IS NOT NULL;
