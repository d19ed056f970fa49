/**
 * The application (`import … from 'mainstay/platform'`): what `mainstay up` and `mainstay api` run,
 * for a program that embeds Mainstay instead of running the CLI. Loading it loads Fastify and
 * every domain the platform composes; a service that only needs the router imports the library
 * (`mainstay`) instead.
 *
 * @example
 * ```ts
 * import { loadConfig, startPlatform } from 'mainstay/platform';
 *
 * const platform = await startPlatform({ config: loadConfig() });
 * console.log('serving on', platform.url);
 * await platform.stop();
 * ```
 */
export {
  CONFIG_FILE_NAME,
  type ConfigEnvironment,
  loadConfig,
  type MainstayConfig,
} from '../config/load-config.ts';
export { type ApiProcess, type ApiProcessOptions, startApiProcess } from './api-process.ts';
export { type Platform, type PlatformOptions, startPlatform, VERSION } from './platform.ts';
