import { describe, expect, it } from 'vitest';
import { foreignKeyReferences } from '../../../../tasks/src/engines/postgres';

describe('foreignKeyReferences', () => {
  it('maps each foreign key in pg_restore DDL to the table it references, quoted or not', () => {
    // Prepare
    const ddl = `--
-- Name: orders orders_customer_id_fkey; Type: FK CONSTRAINT; Schema: sales; Owner: postgres
--

ALTER TABLE ONLY sales.orders
    ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES sales.customers(id);

ALTER TABLE ONLY "Sales"."Line Items"
    ADD CONSTRAINT "line items → orders" FOREIGN KEY (order_id, "Line") REFERENCES "Sales"."Orders"(id, line) ON DELETE CASCADE;
`;

    // Act
    const references = foreignKeyReferences(ddl);

    // Assess
    expect([...references]).toEqual([
      ['orders_customer_id_fkey', 'sales.customers'],
      ['line items → orders', 'Sales.Orders'],
    ]);
  });
});
