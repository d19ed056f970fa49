import assert from 'node:assert/strict';
import * as OTPAuth from 'otpauth';

/**
 * Logs a member of staff in at the platform at `baseUrl` with a fresh code from their TOTP
 * enrolment URI; answers the session token (asserting the login succeeded).
 */
export async function staffLogin(
  baseUrl: string,
  staff: { readonly username: string; readonly password: string; readonly totpUri: string },
): Promise<string> {
  const code = (OTPAuth.URI.parse(staff.totpUri) as OTPAuth.TOTP).generate();
  const response = await fetch(`${baseUrl}/v1/staff/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: staff.username, password: staff.password, code }),
  });
  const body = (await response.json()) as { token: string };
  assert.equal(response.status, 201, JSON.stringify(body));
  return body.token;
}
