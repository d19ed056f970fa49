import type { MainstayConfig } from '../config/load-config.ts';
import { type CreateAnswer, createOnce } from './environment-requests.ts';
import type { EnvironmentSchema } from './environment-template.ts';
import {
  createEnvironment,
  destroyEnvironment,
  type Environment,
  listEnvironments,
  prepareSpare,
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
    create: async (body, idempotencyKey) => {
      const answer = await createOnce(parent.home, idempotencyKey, body, () =>
        createEnvironment({
          parent,
          name: body.name,
          demo: body.demo,
          schema,
          ...(onProgress
            ? { onProgress: (step: string) => onProgress(`environment ${body.name}: ${step}`) }
            : {}),
        }),
      );
      // In the background, once answered: the next creation takes this copy.
      if (!answer.replayed) void prepareSpare(parent.home).catch(() => undefined);
      return answer;
    },
    list: async () => listEnvironments(parent.home),
    destroy: (name) => destroyEnvironment(parent.home, name),
  };
}
