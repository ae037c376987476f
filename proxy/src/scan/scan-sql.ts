/** The anti-entropy scan's statements (one state row per bucket database, see schema.ts migration 3). */

/**
 * Takes (or renews) the bucket's scan lease for `$1` for `$2` seconds, if a pass is under way or due (the
 * last ended more than `$3` seconds ago). One scanner per bucket across every sidecar.
 */
export const TAKE_SCAN_SQL = `WITH taken AS (
    UPDATE s3_mirror_scan SET lease_owner = $1, lease_until = now() + make_interval(secs => $2),
        pass_started_at = CASE WHEN cursor IS NULL THEN now() ELSE pass_started_at END
    WHERE id = 1
      AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $1)
      AND (cursor IS NOT NULL OR last_complete_at IS NULL
           OR last_complete_at < now() - make_interval(secs => $3))
    RETURNING cursor)
SELECT EXISTS (SELECT 1 FROM taken) AS taken, (SELECT cursor FROM taken) AS cursor,
    extract(epoch FROM last_complete_at)::double precision AS last_complete,
    extract(epoch FROM lease_until - now())::double precision AS lease_left,
    extract(epoch FROM last_complete_at + make_interval(secs => $3) - now())::double precision AS due_in
FROM s3_mirror_scan WHERE id = 1`;

/**
 * Records a page: the pass resumes after `$2` (also after a restart, by any sidecar). Only from the cursor
 * the page started at (`$6`) and under this sidecar's lease: a page that lost its lease changes nothing.
 */
export const SCAN_PROGRESS_SQL = `UPDATE s3_mirror_scan SET cursor = $2, pass_objects = pass_objects + $3,
    pass_differences = pass_differences + $4, lease_until = now() + make_interval(secs => $5)
WHERE id = 1 AND lease_owner = $1 AND lease_until > now() AND cursor IS NOT DISTINCT FROM $6`;

/** Extends the lease while a page runs. */
export const SCAN_RENEW_SQL = `UPDATE s3_mirror_scan SET lease_until = now() + make_interval(secs => $2)
WHERE id = 1 AND lease_owner = $1`;

/** Ends the pass: its totals become the last pass's, the lease is freed. */
export const SCAN_DONE_SQL = `UPDATE s3_mirror_scan SET cursor = NULL, last_complete_at = now(),
    last_pass_objects = pass_objects + $2, last_pass_differences = pass_differences + $3,
    pass_objects = 0, pass_differences = 0, lease_owner = NULL, lease_until = NULL
WHERE id = 1 AND lease_owner = $1 AND cursor IS NOT DISTINCT FROM $4
RETURNING extract(epoch FROM last_complete_at)::double precision AS completed`;

/** Gives the lease back (the sidecar stops), keeping the cursor for whoever continues. */
export const SCAN_RELEASE_SQL = `UPDATE s3_mirror_scan SET lease_owner = NULL, lease_until = NULL
WHERE id = 1 AND lease_owner = $1`;

/** Inventory rows of the key range ($1, $2] in S3's (byte) order; null bounds are open. */
export const SCAN_ROWS_SQL = `SELECT path, size::text, etag, mirror_etag, deleted, is_backed_up,
    parked_at IS NOT NULL AS parked,
    updated_at > LOCALTIMESTAMP - make_interval(secs => $3) AS recent
FROM files
WHERE ($1::text IS NULL OR path COLLATE "C" > $1) AND ($2::text IS NULL OR path COLLATE "C" <= $2)`;

/** Re-queues one key as an ordinary pending row (the copier then makes the mirror and the row match main). */
export const REQUEUE_SQL = `INSERT INTO files AS f (path, size, content_type, is_backed_up, last_modified, deleted,
    last_operation, generation, attempts, next_attempt_at, pending_since)
VALUES ($1, COALESCE($2, 0), 'application/octet-stream', FALSE, now(), $3, $4, 1, 0, now(), now())
ON CONFLICT (path) DO UPDATE SET is_backed_up = FALSE, generation = f.generation + 1, attempts = 0,
    last_error = NULL, parked_at = NULL, next_attempt_at = now(), last_operation = EXCLUDED.last_operation,
    pending_since = COALESCE(f.pending_since, now()), updated_at = now()`;

export const SCAN_STATE_SQL = `SELECT cursor, extract(epoch FROM pass_started_at)::double precision AS pass_started,
    pass_objects::text, pass_differences, extract(epoch FROM last_complete_at)::double precision AS last_complete,
    last_pass_objects::text, last_pass_differences, lease_owner
FROM s3_mirror_scan WHERE id = 1`;
