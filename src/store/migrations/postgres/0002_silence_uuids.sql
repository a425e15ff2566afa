-- Silence ids become UUIDs (issue 26: Alertmanager's API v2 and its
-- clients, amtool and Grafana, name silences by UUID). Ids made before were
-- 16 hex digits; each keeps all of them, in a UUID's shape (version 4,
-- variant 8): 0123456789abcdef -> 01234567-89ab-4cde-8f00-000000000000.
-- The id is both the row's key and a field of the stored JSON.
UPDATE silences
SET id = substr(id, 1, 8) || '-' || substr(id, 9, 4) || '-4' || substr(id, 13, 3)
         || '-8' || substr(id, 16, 1) || '00-000000000000',
    silence = jsonb_set(silence::jsonb, '{id}', to_jsonb(
         substr(id, 1, 8) || '-' || substr(id, 9, 4) || '-4' || substr(id, 13, 3)
         || '-8' || substr(id, 16, 1) || '00-000000000000'))::text
WHERE id ~ '^[0-9a-f]{16}$';
