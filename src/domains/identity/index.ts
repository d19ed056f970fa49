/** The identity domain's public surface. */

export { ACCESS_TOKEN_AUDIENCE, BearerAccess } from './core/bearer-access.ts';
export { CredentialService } from './core/credential-service.ts';
export { DEMO_CREDENTIALS_FILE, type DemoCredentials } from './demo/demo-credentials.ts';
export { IDENTITY_SCOPES, identityModule, type RunningIdentity } from './module.ts';
