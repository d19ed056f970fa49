import type { MainstayConfig } from '../config/load-config.ts';
import { type CreateAnswer, createOnce } from './environment-requests.ts';
import type { EnvironmentSchema } from './environment-template.ts';
import {
  createEnvironment,
  destroyEnvironment,
  type Environment,
  listEnvironments,
} from './environments.ts';

/** The environments of one parent home, as the HTTP routes drive them. */
export interface EnvironmentOperations {
  /** Creates one, once per idempotency key. */
  create(body: { name: string; demo: boolean }, idempotencyKey: string): Promise<CreateAnswer>;
  list(): Promise<readonly Environment[]>;
  destroy(name: string): Promise<void>;
}

/**
 * The environments under the home of the process that supervises the fleet (`startPlatform`):
 * that process owns the home, so it alone offers them over HTTP.
 */
export function environmentOperations(
  parent: MainstayConfig,
  schema: EnvironmentSchema,
  onProgress?: (step: string) => void,
): EnvironmentOperations {
  return {
    create: (body, idempotencyKey) =>
      createOnce(parent.home, idempotencyKey, body, () =>
        createEnvironment({
          parent,
          name: body.name,
          demo: body.demo,
          schema,
          ...(onProgress
            ? { onProgress: (step) => onProgress(`environment ${body.name}: ${step}`) }
            : {}),
        }),
      ),
    list: async () => listEnvironments(parent.home),
    destroy: (name) => destroyEnvironment(parent.home, name),
  };
}
