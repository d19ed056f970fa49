import type pg from 'pg';
import { quoteIdent } from './shard-replication.ts';

/**
 * CHECK constraints on a shard's logical copy.
 *
 * A copy holds only rows its home accepted, and the home has every CHECK constraint (the same
 * migrations run on both). Yet PostgreSQL's apply worker builds its executor state afresh for
 * each replicated row, so it parses and plans every CHECK of the table again per row: on the
 * card tables that was a third of the apply workers' CPU, a fifth of the fleet's under load
 * (docs/ARCHITECTURE.md, decision 31). PostgreSQL already skips foreign-key checks in apply for
 * the same reason (the publisher ran them). So a copy sets its CHECK constraints aside: each
 * one's definition is kept in `mainstay.copy_checks` (schema `mainstay` is never replicated,
 * and the copy's own replica carries the table), and put back, as `NOT VALID` (instant, and
 * enforced for every new row), before the copy takes writes as the new home, and before
 * migrations run on it, so a migration always sees the schema it was written against.
 */
const LEDGER_SQL = `
CREATE SCHEMA IF NOT EXISTS mainstay;
CREATE TABLE IF NOT EXISTS mainstay.copy_checks (
  table_name text NOT NULL,
  constraint_name text NOT NULL,
  definition text NOT NULL,
  set_aside_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (table_name, constraint_name)
)`;

/**
 * Sets aside the CHECK constraints of schema `public` on a copy (see above), in one
 * transaction. Idempotent; returns how many it set aside now.
 */
export async function setAsideCopyChecks(copyDb: pg.Pool): Promise<number> {
  const client = await copyDb.connect();
  try {
    await client.query(LEDGER_SQL);
    await client.query('BEGIN');
    const { rows } = await client.query<{ table_name: string; name: string; definition: string }>(
      `SELECT format('%I.%I', n.nspname, t.relname) AS table_name, c.conname AS name,
              pg_get_constraintdef(c.oid) AS definition
         FROM pg_constraint c
         JOIN pg_class t ON t.oid = c.conrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE c.contype = 'c' AND n.nspname = 'public' AND c.conislocal
        ORDER BY 1, 2`,
    );
    for (const row of rows) {
      await client.query(
        `INSERT INTO mainstay.copy_checks (table_name, constraint_name, definition)
         VALUES ($1, $2, $3)
         ON CONFLICT (table_name, constraint_name) DO UPDATE SET definition = EXCLUDED.definition`,
        [row.table_name, row.name, row.definition],
      );
      await client.query(`ALTER TABLE ${row.table_name} DROP CONSTRAINT ${quoteIdent(row.name)}`);
    }
    await client.query('COMMIT');
    return rows.length;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Puts back the CHECK constraints set aside on this database, as `NOT VALID`: no scan, and every
 * row written from now on is checked. Idempotent; returns how many it put back. A table gone
 * since (dropped by a migration) is skipped.
 */
export async function restoreCopyChecks(db: pg.Pool): Promise<number> {
  const client = await db.connect();
  try {
    const { rows: ledger } = await client.query<{ present: boolean }>(
      "SELECT to_regclass('mainstay.copy_checks') IS NOT NULL AS present",
    );
    if (!ledger[0]?.present) return 0;
    await client.query('BEGIN');
    const { rows } = await client.query<{
      table_name: string;
      constraint_name: string;
      definition: string;
      table_exists: boolean;
      constraint_exists: boolean;
    }>(
      `SELECT k.table_name, k.constraint_name, k.definition,
              to_regclass(k.table_name) IS NOT NULL AS table_exists,
              EXISTS (SELECT 1 FROM pg_constraint c
                       WHERE c.conrelid = to_regclass(k.table_name)
                         AND c.conname = k.constraint_name) AS constraint_exists
         FROM mainstay.copy_checks k ORDER BY 1, 2`,
    );
    let restored = 0;
    for (const row of rows) {
      if (row.table_exists && !row.constraint_exists) {
        const definition = row.definition.replace(/\s+NOT VALID$/, '');
        await client.query(
          `ALTER TABLE ${row.table_name} ADD CONSTRAINT ${quoteIdent(row.constraint_name)} ${definition} NOT VALID`,
        );
        restored += 1;
      }
    }
    await client.query('DELETE FROM mainstay.copy_checks');
    await client.query('COMMIT');
    return restored;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Validates the CHECK constraints of schema `public` left `NOT VALID` by a restore: a scan of
 * each table that does not block writes (SHARE UPDATE EXCLUSIVE). Run after the new home takes
 * writes, off the failover's critical path; the rows came from a home that checked them.
 */
export async function validateRestoredChecks(db: pg.Pool): Promise<number> {
  const { rows } = await db.query<{ table_name: string; name: string }>(
    `SELECT format('%I.%I', n.nspname, t.relname) AS table_name, c.conname AS name
       FROM pg_constraint c
       JOIN pg_class t ON t.oid = c.conrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE c.contype = 'c' AND n.nspname = 'public' AND NOT c.convalidated`,
  );
  for (const row of rows) {
    await db.query(`ALTER TABLE ${row.table_name} VALIDATE CONSTRAINT ${quoteIdent(row.name)}`);
  }
  return rows.length;
}
