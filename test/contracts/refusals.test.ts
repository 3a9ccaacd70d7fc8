import { describe, expect, it } from 'vitest';
import { overwriteHint, refusalForDrPlan, sourceRefusal } from '../../contracts/refusals';

describe('DR plan wording', () => {
  it("replaces the console hint with the DR plan's own, and nothing else", () => {
    // Prepare
    const refusal = sourceRefusal('orders', { host: 'orders.dr.internal', port: 5432, database: 'orders' });

    // Act
    const rewritten = refusalForDrPlan(refusal, 'orders', 'region-loss');

    // Assess
    expect(refusal).toContain(overwriteHint('orders'));
    expect(rewritten).toBe(
      'Refusing to restore "orders" onto its own source connection orders.dr.internal:5432/orders: that would replace live data. This restore was started by DR plan "region-loss": set "overwrite": true and "confirm": "region-loss" in the DR plan\'s input ({"plan": "region-loss", "overwrite": true, "confirm": "region-loss"}) to go ahead.',
    );
  });
});
