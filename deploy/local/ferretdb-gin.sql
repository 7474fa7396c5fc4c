-- Indexes FerretDB 1.24 can use, added under it in PostgreSQL (applied by `infra up`,
-- idempotent; see docs/operations.md, "FerretDB").
--
-- FerretDB filters a collection's table with `_jsonb->'field' @> value`: containment,
-- which the btree indexes it creates for `_id` and for `createIndexes` cannot serve.
-- Without help every find, update and delete reads the whole table (60 ms at 10,000
-- runs). A GIN index (jsonb_path_ops) on the same expression serves `@>`, so this adds
-- one for `_id` of every table that holds documents and one for the first field of
-- every btree index FerretDB creates (the field a query is picked by; more would only
-- cost writes): as they are created (event trigger), and for the tables already there.
-- Without the pending list (`fastupdate`): a lookup never scans a backlog of inserts.
-- FerretDB does not know of them and needs no change; MongoDB needs none of this.

SET client_min_messages = warning;

-- FerretDB's statements are prepared, with the field as a parameter (`_jsonb->$1`).
-- PostgreSQL's generic plan for them cannot match an index expression, so once it
-- prefers that plan (on a table that was small when planned) every lookup reads the
-- whole table again. Planned each time with its values, a lookup uses the index.
ALTER ROLE ALL SET plan_cache_mode = force_custom_plan;

CREATE OR REPLACE FUNCTION herald_ferretdb_gin(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    expr text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_attribute
                    WHERE attrelid = tbl AND attname = '_jsonb' AND NOT attisdropped) THEN
        RETURN;
    END IF;
    FOR expr IN
        SELECT DISTINCT btrim(e, '()')
          FROM (SELECT '_jsonb -> ''_id''::text' AS e
                UNION ALL
                SELECT pg_get_indexdef(i.indexrelid, 1, false)
                  FROM pg_index i
                  JOIN pg_class c ON c.oid = i.indexrelid
                  JOIN pg_am am ON am.oid = c.relam
                 WHERE i.indrelid = tbl AND am.amname = 'btree') AS keys
         WHERE btrim(e, '()') ~ '^_jsonb -> ''[^'']+''::text$'
    LOOP
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s USING gin ((%s) jsonb_path_ops) '
                       'WITH (fastupdate = off)',
                       'herald_gin_' || left(md5(tbl::text || expr), 20), tbl, expr);
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION herald_ferretdb_gin_on_ddl() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    obj record;
BEGIN
    FOR obj IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
        IF obj.command_tag = 'CREATE TABLE' THEN
            PERFORM herald_ferretdb_gin(obj.objid);
        ELSIF obj.command_tag = 'CREATE INDEX' AND NOT EXISTS (
                SELECT FROM pg_class c JOIN pg_am am ON am.oid = c.relam
                 WHERE c.oid = obj.objid AND am.amname = 'gin') THEN
            PERFORM herald_ferretdb_gin((SELECT indrelid FROM pg_index
                                          WHERE indexrelid = obj.objid)::regclass);
        END IF;
    END LOOP;
END $$;

DROP EVENT TRIGGER IF EXISTS herald_ferretdb_gin;
CREATE EVENT TRIGGER herald_ferretdb_gin ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE INDEX')
    EXECUTE FUNCTION herald_ferretdb_gin_on_ddl();

DO $$
DECLARE
    tbl regclass;
BEGIN
    FOR tbl IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    LOOP
        PERFORM herald_ferretdb_gin(tbl);
    END LOOP;
END $$;
