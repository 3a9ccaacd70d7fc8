/**
 * Structured JSON lines on stdout: CloudWatch Logs keeps them, and the last line of a run is its result,
 * which the bench and the local runtime read. Nothing secret is ever passed here.
 */
export function logLine(level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ level, time: new Date().toISOString(), message, ...fields })}\n`);
}

export function resultLine(result: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
