/**
 * The control database is created when a login finds it missing: Postgres says 3D000, PgBouncer 1.18
 * (test/integration/inventory-pgbouncer.test.ts) says 08P01 with Postgres's message.
 */
import { isConnectionError, isMissingDatabase } from '../../src/inventory/control-connection';

const err = (code: string | undefined, message: string): Error => Object.assign(new Error(message), { code });

describe('isMissingDatabase', () => {
  it('is Postgres 3D000', () => {
    expect(isMissingDatabase(err('3D000', 'database "s3_mirror" does not exist'))).toBe(true);
  });

  it("is PgBouncer's 08P01 carrying Postgres's message", () => {
    expect(isMissingDatabase(err('08P01', 'database "s3_mirror" does not exist'))).toBe(true);
    // Still a connection error: the connection is not used again.
    expect(isConnectionError(err('08P01', 'database "s3_mirror" does not exist'))).toBe(true);
  });

  it('is not any other protocol or login error', () => {
    expect(isMissingDatabase(err('08P01', 'no more connections allowed (max_client_conn)'))).toBe(false);
    expect(isMissingDatabase(err('08P01', 'server login has been failing, try again later'))).toBe(false);
    expect(isMissingDatabase(err('28P01', 'password authentication failed for user "x"'))).toBe(false);
    expect(isMissingDatabase(err(undefined, 'connect ECONNREFUSED 127.0.0.1:5432'))).toBe(false);
  });
});
