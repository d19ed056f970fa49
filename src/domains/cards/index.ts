/**
 * The cards domain's public surface: its module, for the platform's module list, and the types
 * a caller holding the running module uses.
 */
export type { CardsConfig } from './config/cards-config.ts';
export { cardsModule, type RunningCards } from './module.ts';
export type { CardServices } from './services.ts';
