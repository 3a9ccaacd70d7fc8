/**
 * Runs `fn` over `items` with at most `limit` calls in flight, keeping the input order in the result.
 *
 * It lives outside contracts/ (it is no contract) and outside lambdas/runtime/ because the operator CLI's vault
 * reads use it as much as Retain and Replicate do; util/ imports nothing of the project, so anything may use it.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
