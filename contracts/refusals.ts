/**
 * Refusal wording: one text, used by the Guard Lambda, the restore task and the DR plan, so that every refusal
 * names the one way to go ahead in the same words.
 */

/** The one way to go ahead, spelled out the same in every refusal. */
export function overwriteHint(database: string): string {
  return `Set "overwrite": true and "confirm": "${database}" in the input to go ahead.`;
}

/** The way to go ahead when the refused restore was started by a DR plan: the plan's input, confirmed with the plan's name. */
export function drPlanOverwriteHint(plan: string): string {
  return `This restore was started by DR plan "${plan}": set "overwrite": true and "confirm": "${plan}" in the DR plan's input ({"plan": "${plan}", "overwrite": true, "confirm": "${plan}"}) to go ahead.`;
}

/**
 * A refusal as the DR plan's operator must read it. Guard and the restore task word refusals for a console
 * restore (overwriteHint); inside a plan, the nested restore's own input is not something a person types.
 */
export function refusalForDrPlan(message: string, database: string, plan: string): string {
  return message.split(overwriteHint(database)).join(drPlanOverwriteHint(plan));
}

export function describeTarget(target: { host: string; port: number; database?: string }): string {
  return `${target.host}:${target.port}${target.database ? `/${target.database}` : ''}`;
}

export function sourceRefusal(database: string, target: { host: string; port: number; database?: string }): string {
  return `Refusing to restore "${database}" onto its own source connection ${describeTarget(target)}: that would replace live data. ${overwriteHint(database)}`;
}

export function nonEmptyRefusal(database: string, target: { host: string; port: number; database?: string }, found: string): string {
  return `Refusing to restore "${database}" into a non-empty target ${describeTarget(target)} (${found}): that would mix or replace data. ${overwriteHint(database)}`;
}
