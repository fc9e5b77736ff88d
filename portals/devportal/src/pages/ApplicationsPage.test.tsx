import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Route, Routes } from 'react-router';
import { renderSignedIn, scriptedServer } from '../testing';
import { ApplicationsPage } from './ApplicationsPage';
import { CreateApplicationPage } from './CreateApplicationPage';
import { EditApplicationPage } from './EditApplicationPage';
import { defaultPlan, planSummary } from '../components/ApplicationForm';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

const PLANS = [
  { name: '10PerMin', requestCount: 10, unitTime: 1, timeUnit: 'min', tierPlan: 'FREE' as const, stopOnQuotaReach: true, rateLimitCount: 0 },
  { name: 'Unlimited', requestCount: 2147483647, unitTime: 1, timeUnit: 'min', tierPlan: 'FREE' as const, stopOnQuotaReach: true, rateLimitCount: 0 },
];

describe('plans', () => {
  it('reads as a quota, and Unlimited is the default', () => {
    expect(PLANS.map(planSummary)).toEqual(['10 requests per 1 min', 'Unlimited requests']);
    expect(defaultPlan(PLANS)).toBe('Unlimited');
    expect(defaultPlan([PLANS[0]!])).toBe('10PerMin');
    expect(defaultPlan([])).toBeNull();
  });
});

describe('CreateApplicationPage', () => {
  it("sends name, plan and description, and on a refusal shows the server's message and keeps the input", async () => {
    const seen = scriptedServer((method, path) => {
      if (method === 'GET' && path === '/throttling-policies/application') return [200, { count: 2, list: PLANS }];
      if (method === 'POST' && path === '/applications')
        return [409, { code: 409, message: 'Conflict', description: 'an application named PizzaApp exists' }];
      return undefined;
    });
    renderSignedIn(
      <Routes>
        <Route path="/applications/create" element={<CreateApplicationPage />} />
      </Routes>,
      '/applications/create',
    );
    const plan = await screen.findByRole('textbox', { name: 'Rate-limiting plan' });
    await vi.waitFor(() => expect((plan as HTMLInputElement).value).toBe('Unlimited — Unlimited requests'));
    fireEvent.change(screen.getByLabelText(/Application name/), { target: { value: 'PizzaApp' } });
    fireEvent.change(screen.getByLabelText('Description'), { target: { value: 'Orders pizza' } });
    fireEvent.click(plan);
    fireEvent.click(await screen.findByRole('option', { name: '10PerMin — 10 requests per 1 min', hidden: true }));
    fireEvent.click(screen.getByRole('button', { name: 'Create' }));
    expect((await screen.findByRole('alert')).textContent).toContain('an application named PizzaApp exists');
    expect(seen.find((s) => s.method === 'POST')?.body).toEqual({ name: 'PizzaApp', throttlingPolicy: '10PerMin', description: 'Orders pizza', tokenType: 'JWT' });
    expect(screen.getByLabelText(/Application name/)).toHaveProperty('value', 'PizzaApp');
    expect(screen.getByLabelText('Description')).toHaveProperty('value', 'Orders pizza');
  });
});

describe('ApplicationsPage', () => {
  it('lists a page of applications and deletes one after asking', async () => {
    let apps = [
      { applicationId: 'a1', name: 'PizzaApp', throttlingPolicy: 'Unlimited', status: 'APPROVED', subscriptionCount: 2 },
      { applicationId: 'a2', name: 'Other', throttlingPolicy: '10PerMin', status: 'APPROVED', subscriptionCount: 0 },
    ];
    const seen = scriptedServer((method, path) => {
      if (method === 'GET' && path === '/applications') return [200, { count: apps.length, list: apps, pagination: { total: 12 } }];
      if (method === 'DELETE' && path === '/applications/a1') {
        apps = apps.slice(1);
        return [200, undefined];
      }
      return undefined;
    });
    renderSignedIn(
      <Routes>
        <Route path="/applications" element={<ApplicationsPage />} />
      </Routes>,
      '/applications?page=2',
    );
    const table = await screen.findByRole('table', { name: 'Applications' });
    expect(within(table).getAllByRole('row').map((r) => r.textContent)).toEqual(['NamePlanSubscriptionsActions', 'PizzaAppUnlimited2Delete', 'Other10PerMin0Delete']);
    const list = seen.find((s) => s.path === '/applications');
    expect([list?.query.get('limit'), list?.query.get('offset')]).toEqual(['10', '10']);
    expect(screen.getByRole('navigation', { name: 'Pages of applications' })).toBeTruthy();
    fireEvent.click(within(table).getByRole('button', { name: 'Delete PizzaApp' }));
    const dialog = await screen.findByRole('dialog', { name: 'Delete application' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete' }));
    await vi.waitFor(() => expect(screen.queryByRole('link', { name: 'PizzaApp' })).toBeNull());
    expect(seen.filter((s) => s.method === 'DELETE').map((s) => s.path)).toEqual(['/applications/a1']);
  });
});

describe('EditApplicationPage', () => {
  it('saves with the ETag it read, keeps what the form does not show, and shows a 412 in place', async () => {
    const app = { applicationId: 'a1', name: 'PizzaApp', throttlingPolicy: 'Unlimited', description: 'old', tokenType: 'JWT', status: 'APPROVED', attributes: { team: 'web' } };
    const seen = scriptedServer((method, path) => {
      if (method === 'GET' && path === '/throttling-policies/application') return [200, { count: 2, list: PLANS }];
      if (method === 'GET' && path === '/applications/a1') return [200, app, { ETag: '"v1"' }];
      if (method === 'PUT' && path === '/applications/a1')
        return [412, { code: 412, message: 'Precondition Failed', description: 'application a1 changed since it was read' }];
      return undefined;
    });
    renderSignedIn(
      <Routes>
        <Route path="/applications/:applicationId/edit" element={<EditApplicationPage />} />
      </Routes>,
      '/applications/a1/edit',
    );
    const name = await screen.findByLabelText(/Application name/);
    expect(name).toHaveProperty('value', 'PizzaApp');
    fireEvent.change(name, { target: { value: 'PizzaApp2' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect((await screen.findByRole('alert')).textContent).toContain('changed since it was read');
    const put = seen.find((s) => s.method === 'PUT');
    expect(put?.headers.get('If-Match')).toBe('"v1"');
    expect(put?.body).toMatchObject({ name: 'PizzaApp2', throttlingPolicy: 'Unlimited', description: 'old', tokenType: 'JWT', attributes: { team: 'web' } });
    expect(screen.getByLabelText(/Application name/)).toHaveProperty('value', 'PizzaApp2');
  });
});
