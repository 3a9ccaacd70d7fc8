/*
 * The engines a config may name, in a file of their own so that schema.ts and dr-plans.ts both import them
 * without importing each other (schema.ts builds the drPlans section from dr-plans.ts).
 */

export const ENGINES = ['postgres', 'mysql', 'mariadb', 'redis', 'mongodb'] as const;
export type Engine = (typeof ENGINES)[number];

/** Engines whose tools cannot connect without a user and password. Redis AUTH is optional. */
export const ENGINES_NEEDING_CREDENTIALS: readonly Engine[] = ['postgres', 'mysql', 'mariadb', 'mongodb'];
