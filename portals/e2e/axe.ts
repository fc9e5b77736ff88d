import AxeBuilder from '@axe-core/playwright';
import { expect, type Page } from '@playwright/test';

/** axe-core finds no serious or critical violation on the page as it is now. */
export async function noSeriousViolation(page: Page, what: string) {
  const result = await new AxeBuilder({ page }).analyze();
  const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const describe = (v: (typeof serious)[number]) =>
    `${v.id}: ${v.help}: ${v.nodes.map((n) => `${n.target.join(' ')} (${(n.failureSummary ?? '').replace(/\s+/g, ' ')})`).join('; ')}`;
  expect(serious.map(describe), what).toEqual([]);
}
