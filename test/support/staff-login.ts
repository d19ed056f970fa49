import assert from 'node:assert/strict';
import * as OTPAuth from 'otpauth';

/** TOTP time steps: the server's (RFC 6238 defaults). */
const TOTP_STEP_MS = 30_000;
/** The last time step whose code each enrolment logged in with (a step is used once). */
const lastSteps = new Map<string, number>();

/**
 * A code of the TOTP enrolment `totpUri` the server accepts now: each step's code is accepted
 * once, and only for a step newer than the last one used, within one step of drift either way.
 * So the current step's code is used if it is new, else the next step's (as an authenticator a
 * little fast would send); only a third login within one step waits for the clock.
 */
export async function freshTotpCode(totpUri: string): Promise<string> {
  const totp = OTPAuth.URI.parse(totpUri) as OTPAuth.TOTP;
  for (;;) {
    const now = Math.floor(Date.now() / TOTP_STEP_MS);
    const last = lastSteps.get(totpUri) ?? Number.NEGATIVE_INFINITY;
    const step = now > last ? now : now + 1 > last ? now + 1 : null;
    if (step !== null) {
      lastSteps.set(totpUri, step);
      return totp.generate({ timestamp: step * TOTP_STEP_MS });
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Logs a member of staff in at the platform at `baseUrl` with a fresh code from their TOTP
 * enrolment URI; answers the session token (asserting the login succeeded).
 */
export async function staffLogin(
  baseUrl: string,
  staff: { readonly username: string; readonly password: string; readonly totpUri: string },
): Promise<string> {
  const code = await freshTotpCode(staff.totpUri);
  const response = await fetch(`${baseUrl}/v1/staff/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: staff.username, password: staff.password, code }),
  });
  const body = (await response.json()) as { token: string };
  assert.equal(response.status, 201, JSON.stringify(body));
  return body.token;
}
