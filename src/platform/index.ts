/**
 * The application (`import … from 'mainstay/platform'`): what `mainstay up` and `mainstay api` run,
 * for a program that embeds Mainstay instead of running the CLI, and the module contract its
 * domains follow. Loading it loads Fastify; it names no domain, so the embedding program picks
 * the modules it hosts (`mainstay/cards`, ...). A service that only needs the router imports the
 * library (`mainstay`) instead.
 *
 * @example
 * ```ts
 * import { cardsModule } from 'mainstay/cards';
 * import { loadConfig, startPlatform } from 'mainstay/platform';
 *
 * const modules = [cardsModule];
 * const sections = modules.flatMap((m) => (m.configSection ? [m.configSection] : []));
 * const platform = await startPlatform({ config: loadConfig(undefined, sections), modules });
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
export type {
  ConfigSection,
  DomainModule,
  MetricFactories,
  MetricFactory,
  ModuleContext,
  RunningModule,
  RunningModules,
} from './domain-module.ts';
export { type Platform, type PlatformOptions, startPlatform, VERSION } from './platform.ts';
